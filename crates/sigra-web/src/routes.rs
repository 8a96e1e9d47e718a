//! The default pages: register, log in, log out, settings, health — and the
//! demo app's home and dashboard.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router, middleware};
use secrecy::SecretString;
use serde::Deserialize;
use sigra_core::auth::AuthError;
use sigra_core::rate_limit::RateLimitAction;

use crate::cookies::FlashKind;
use crate::extract::{AuthSession, CurrentUser};
use crate::pages::{self, Frame};
use crate::rate_limit::limit_by_ip;
use crate::{MaybeUser, Sigra};

/// Sigra's default pages as a router to merge into the app (its layer must wrap them).
pub(crate) fn routes(sigra: &Sigra) -> Router {
    let login_limit =
        middleware::from_fn_with_state((sigra.clone(), RateLimitAction::Login), limit_by_ip);
    let register_limit =
        middleware::from_fn_with_state((sigra.clone(), RateLimitAction::Register), limit_by_ip);
    Router::new()
        .route(
            "/users/register",
            get(register_page)
                .post(register)
                .route_layer(register_limit),
        )
        .route(
            "/users/log-in",
            get(log_in_page).post(log_in).route_layer(login_limit),
        )
        .route("/users/log-out", post(log_out).delete(log_out))
        .route("/users/settings", get(settings))
        .route("/users/settings/sessions/log-out-all", post(log_out_all))
        .route("/health", get(health))
        .route("/sigra/style.css", get(stylesheet))
        .with_state(sigra.clone())
}

/// The demo app's own pages: a public home and a dashboard only a signed-in user sees.
pub(crate) fn demo_routes() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/dashboard", get(dashboard))
}

fn frame<'a>(
    title: &'a str,
    session: &AuthSession,
    email: Option<&'a str>,
    csrf: &'a str,
) -> Frame<'a> {
    Frame {
        title,
        email,
        csrf: Some(csrf),
        flash: session.take_flash(),
    }
}

fn html(status: StatusCode, body: axum::response::Html<String>) -> Response {
    (status, body).into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        pages::STYLESHEET,
    )
        .into_response()
}

async fn home(session: AuthSession, MaybeUser(user): MaybeUser) -> Response {
    let csrf = session.csrf_token();
    let email = user.as_ref().map(|u| u.email.as_str());
    let body = match email {
        Some(email) => format!(
            r#"<p>Signed in as <strong id="home-email">{}</strong>. Go to your <a href="/dashboard">dashboard</a>.</p>"#,
            pages::escape(email)
        ),
        None => r#"<p>Welcome. <a href="/users/register">Create an account</a> or <a href="/users/log-in">log in</a>.</p>"#.to_owned(),
    };
    html(
        StatusCode::OK,
        pages::page(frame("Home", &session, email, &csrf), &body),
    )
}

async fn dashboard(current: CurrentUser, session: AuthSession) -> Response {
    let csrf = session.csrf_token();
    let body = format!(
        r#"<p>This page is only for signed-in users. You are <strong id="dashboard-email">{}</strong>.</p>"#,
        pages::escape(&current.user.email)
    );
    html(
        StatusCode::OK,
        pages::page(
            frame("Dashboard", &session, Some(&current.user.email), &csrf),
            &body,
        ),
    )
}

/// The fields of the register and log-in forms. Every field defaults, so a
/// missing one is a validation message, not a framework rejection.
#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember_me: Option<String>,
}

async fn register_page(session: AuthSession, MaybeUser(user): MaybeUser) -> Response {
    if user.is_some() {
        return Redirect::to("/").into_response();
    }
    let csrf = session.csrf_token();
    html(
        StatusCode::OK,
        pages::page(
            frame("Register", &session, None, &csrf),
            &pages::register_form(&csrf, "", None),
        ),
    )
}

async fn register(
    State(sigra): State<Sigra>,
    session: AuthSession,
    Form(form): Form<Credentials>,
) -> Response {
    let password = SecretString::from(form.password);
    let result = sigra.auth().register(&form.email, &password).await;
    let error = match result {
        Ok(user) => {
            return match session.log_in(&user, false).await {
                Ok(()) => {
                    session.flash(FlashKind::Info, "Welcome! Your account is ready.");
                    Redirect::to("/").into_response()
                }
                Err(e) => auth_failure(e),
            };
        }
        Err(AuthError::InvalidEmail) => "Enter a valid email address.".to_owned(),
        Err(AuthError::EmailTaken) => "An account with this email already exists.".to_owned(),
        Err(AuthError::WeakPassword(e)) => format!("{}.", capitalise(&e.to_string())),
        Err(e) => return auth_failure(e),
    };
    let csrf = session.csrf_token();
    let body = pages::register_form(&csrf, &form.email, Some(&error));
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        pages::page(frame("Register", &session, None, &csrf), &body),
    )
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// The one message for every failed log-in: unknown email, wrong password, locked.
const LOG_IN_FAILED: &str =
    "Invalid email or password. After repeated failures, sign-in is paused for 15 minutes.";

async fn log_in_page(session: AuthSession, MaybeUser(user): MaybeUser) -> Response {
    if user.is_some() {
        return Redirect::to("/").into_response();
    }
    let csrf = session.csrf_token();
    html(
        StatusCode::OK,
        pages::page(
            frame("Log in", &session, None, &csrf),
            &pages::log_in_form(&csrf, "", None),
        ),
    )
}

async fn log_in(
    State(sigra): State<Sigra>,
    session: AuthSession,
    Form(form): Form<Credentials>,
) -> Response {
    let password = SecretString::from(form.password);
    let remember = form.remember_me.as_deref() == Some("true");
    match sigra
        .auth()
        .authenticate(&form.email, &password, session.meta())
        .await
    {
        Ok(user) => match session.log_in(&user, remember).await {
            Ok(()) => {
                let to = session.take_return_to().unwrap_or_else(|| "/".to_owned());
                Redirect::to(&to).into_response()
            }
            Err(e) => auth_failure(e),
        },
        Err(AuthError::InvalidCredentials | AuthError::Locked { .. }) => {
            let csrf = session.csrf_token();
            let body = pages::log_in_form(&csrf, &form.email, Some(LOG_IN_FAILED));
            html(
                StatusCode::UNAUTHORIZED,
                pages::page(frame("Log in", &session, None, &csrf), &body),
            )
        }
        Err(e) => auth_failure(e),
    }
}

async fn log_out(session: AuthSession) -> Response {
    match session.log_out().await {
        Ok(()) => {
            session.flash(FlashKind::Info, "You are logged out.");
            Redirect::to("/").into_response()
        }
        Err(e) => auth_failure(e),
    }
}

async fn settings(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
) -> Response {
    let sessions = match sigra.auth().list_sessions(current.user.id).await {
        Ok(sessions) => sessions,
        Err(e) => return auth_failure(e),
    };
    let csrf = session.csrf_token();
    let body = pages::settings(&csrf, &sessions, &current.session, current.user.mfa_enabled);
    html(
        StatusCode::OK,
        pages::page(
            frame("Settings", &session, Some(&current.user.email), &csrf),
            &body,
        ),
    )
}

async fn log_out_all(_current: CurrentUser, session: AuthSession) -> Response {
    match session.log_out_everywhere().await {
        Ok(count) => {
            session.flash(
                FlashKind::Info,
                format!("Logged out of {count} session(s) everywhere."),
            );
            Redirect::to("/users/log-in").into_response()
        }
        Err(e) => auth_failure(e),
    }
}

/// `GET /health`: 200 with every check ok, 503 when the database is unreachable.
async fn health(State(sigra): State<Sigra>) -> Response {
    let db_ok = sigra.auth().store().ping().await.is_ok();
    let body = serde_json::json!({
        "status": if db_ok { "ok" } else { "error" },
        "checks": { "db": if db_ok { "ok" } else { "error" }, "config": "ok" },
    });
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Maps a failure that is not the user's fault to a deliberate response.
fn auth_failure(e: AuthError) -> Response {
    match e {
        AuthError::Busy(_) => {
            let mut response = html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error_page(
                    "Busy",
                    "We are handling many sign-ins right now. Please try again in a moment.",
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
            response
        }
        other => {
            tracing::error!(name: "sigra.web.error", error = %other);
            let mut response = html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error_page(
                    "Temporarily unavailable",
                    "Something went wrong on our side. Please try again shortly.",
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            response
        }
    }
}
