//! The peer: the same signed-in `GET /dashboard` as Sigra's demo server, built
//! the way a Rust team would without Sigra: axum-login + tower-sessions with
//! the sessions in the database through tower-sessions-sqlx-store, on SQLite
//! or PostgreSQL (chosen by the `--database-url` scheme).
//!
//! `axum-login-peer --port N --database-url sqlite:///path/db.sqlite|postgres://…`
//!
//! - `POST /register` (form `email`, `password`): Argon2id hash (default
//!   cost), insert, sign in, `303` to `/dashboard`.
//! - `POST /login` (form `email`, `password`): verify, sign in, `303`.
//! - `GET /dashboard`: the signed-in page with the user's email; `401` without
//!   a session. Every request loads the session row and the user row, as
//!   axum-login does.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use axum::{
    Form, Router,
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use axum_login::tower_sessions::{SessionManagerLayer, SessionStore};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use serde::Deserialize;
use sqlx::{PgPool, SqlitePool};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Clone)]
struct User {
    id: i64,
    email: String,
    password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish()
    }
}

impl AuthUser for User {
    type Id = i64;

    fn id(&self) -> i64 {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        self.password_hash.as_bytes()
    }
}

#[derive(Clone, Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Clone)]
struct Backend {
    db: Db,
}

#[derive(Debug)]
struct BackendError(String);

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

fn err(e: impl std::fmt::Display) -> BackendError {
    BackendError(e.to_string())
}

type Row = (i64, String, String);

impl Backend {
    async fn by_email(&self, email: &str) -> Result<Option<User>, BackendError> {
        let row: Option<Row> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE email = ?1")
                    .bind(email)
                    .fetch_optional(pool)
                    .await
            }
            Db::Postgres(pool) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_optional(pool)
                    .await
            }
        }
        .map_err(err)?;
        Ok(row.map(|(id, email, password_hash)| User {
            id,
            email,
            password_hash,
        }))
    }

    async fn insert(&self, email: &str, password_hash: &str) -> Result<User, BackendError> {
        let (id,): (i64,) = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as(
                    "INSERT INTO users (email, password_hash) VALUES (?1, ?2) RETURNING id",
                )
                .bind(email)
                .bind(password_hash)
                .fetch_one(pool)
                .await
            }
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING id",
                )
                .bind(email)
                .bind(password_hash)
                .fetch_one(pool)
                .await
            }
        }
        .map_err(err)?;
        Ok(User {
            id,
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
        })
    }
}

/// A hash of a fixed password, verified against for unknown emails so that a
/// miss costs one Argon2 run like a hit.
const DUMMY_PASSWORD: &str = "not the password of anyone";

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = BackendError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, BackendError> {
        let user = self.by_email(&creds.email).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || {
            let stored = match hash {
                Some(h) => h,
                None => hash_password(DUMMY_PASSWORD)?,
            };
            let parsed = PasswordHash::new(&stored).map_err(err)?;
            Ok::<bool, BackendError>(
                Argon2::default()
                    .verify_password(creds.password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await
        .map_err(err)??;
        Ok(if ok { user } else { None })
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, BackendError> {
        let row: Option<Row> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE id = ?1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
            Db::Postgres(pool) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
        }
        .map_err(err)?;
        Ok(row.map(|(id, email, password_hash)| User {
            id,
            email,
            password_hash,
        }))
    }
}

fn hash_password(password: &str) -> Result<String, BackendError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(err)
}

type Auth = AuthSession<Backend>;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn dashboard(auth: Auth) -> Response {
    match auth.user {
        Some(user) => Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Dashboard</title></head>\
             <body><main><h1>Dashboard</h1><p>Signed in as {}.</p></main></body></html>",
            escape(&user.email)
        ))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn login(mut auth: Auth, Form(creds): Form<Credentials>) -> Response {
    match auth.authenticate(creds).await {
        Ok(Some(user)) => match auth.login(&user).await {
            Ok(()) => Redirect::to("/dashboard").into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(None) => (StatusCode::UNAUTHORIZED, "invalid email or password").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn register(mut auth: Auth, Form(creds): Form<Credentials>) -> Response {
    let password = creds.password.clone();
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(h)) => h,
        _ => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let user = match auth.backend.insert(&creds.email, &hash).await {
        Ok(user) => user,
        Err(_) => return (StatusCode::CONFLICT, "email taken").into_response(),
    };
    match auth.login(&user).await {
        Ok(()) => Redirect::to("/dashboard").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn app<S: SessionStore + Clone>(backend: Backend, store: S) -> Router {
    let sessions = SessionManagerLayer::new(store).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/login", post(login))
        .route("/register", post(register))
        .layer(auth)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, "--port")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(4000);
    let url = arg(&args, "--database-url").ok_or("--database-url is required")?;
    let app = if url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
        let options = options
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        let store = SqliteStore::new(pool.clone());
        store.migrate().await?;
        app(
            Backend {
                db: Db::Sqlite(pool),
            },
            store,
        )
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(&url)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        let store = PostgresStore::new(pool.clone());
        store.migrate().await?;
        app(
            Backend {
                db: Db::Postgres(pool),
            },
            store,
        )
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
