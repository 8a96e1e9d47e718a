//! Test fixtures for host apps: a signed-in user and its cookies in one call
//! (feature `testing`, off by default).
//!
//! **For tests only.** Enable it in your app's `[dev-dependencies]`, never
//! in `[dependencies]`:
//!
//! ```toml
//! [dev-dependencies]
//! sigra-web = { version = "0.1", features = ["testing"] }
//! ```
//!
//! The feature only adds functions: it changes nothing about how the layer
//! reads cookies or checks CSRF. [`authenticated_fixture`] does, through
//! [`Auth`](sigra_core::auth::Auth), what a log-in through the pages does —
//! registers (or authenticates) the user, creates a session row, signs a
//! `_sigra_session` cookie with the app's `SECRET_KEY_BASE` — and hands back
//! the `Cookie` header value and the CSRF token a browser would hold. The
//! real layer then accepts it like any other session: nothing is mocked.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, body::Body, routing::{get, post}};
//! use http::{Request, StatusCode, header::{CONTENT_TYPE, COOKIE}};
//! use sigra_core::auth::Auth;
//! use sigra_core::clock::TestClock;
//! use sigra_core::config::{Config, Environment};
//! use sigra_core::password::Argon2Hasher;
//! use sigra_store_sqlite::SqliteStore;
//! use sigra_web::testing::authenticated_fixture;
//! use sigra_web::{CSRF_FIELD, CurrentUser, Sigra};
//! use tower::ServiceExt; // for `oneshot`
//!
//! async fn dashboard(current: CurrentUser) -> String {
//!     format!("Hello {}", current.user.email)
//! }
//!
//! async fn save(_current: CurrentUser) -> &'static str {
//!     "saved"
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An app over SQLite in memory, a cheap hasher and a frozen clock.
//! let store = SqliteStore::memory().await?;
//! store.migrate().await?;
//! let auth = Auth::builder(Config::builder(Environment::Test).build()?, Arc::new(store))
//!     .hasher(Arc::new(Argon2Hasher::for_tests()))
//!     .clock(Arc::new(TestClock::new(chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000))))
//!     .build()?;
//! let sigra = Sigra::new(auth);
//! let app = Router::new()
//!     .route("/dashboard", get(dashboard))
//!     .route("/save", post(save))
//!     .layer(sigra.layer());
//!
//! let alice = authenticated_fixture(&sigra, "alice@example.com", "correct horse battery").await?;
//!
//! let request = Request::get("/dashboard")
//!     .header(COOKIE, alice.cookie_header())
//!     .body(Body::empty())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! // State-changing requests need the CSRF token: a form field or the x-csrf-token header.
//! let request = Request::post("/save")
//!     .header(COOKIE, alice.cookie_header())
//!     .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
//!     .body(Body::from(format!("{CSRF_FIELD}={}", alice.csrf_token())))?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(()) }
//! ```
//!
//! A fixture session is a full session even when the user has MFA turned
//! on: it skips the second factor. Test the log-in and MFA pages themselves
//! by driving the forms.

use std::fmt;

use secrecy::SecretString;
use sigra_core::auth::AuthError;
use sigra_core::cookie::{CookieKind, cookie_name};
use sigra_core::model::{Session, SessionKind, SessionMeta, User};
use sigra_core::random::RandomError;
use sigra_core::token::RawToken;

use crate::cookies::{self, SessionCookie};
use crate::sigra::Sigra;

/// The user agent recorded on fixture sessions (shown on the settings page).
pub const FIXTURE_USER_AGENT: &str = "sigra-web testing fixture";

/// A signed-in user and the cookies a browser would hold for them: what
/// [`authenticated_fixture`] returns.
///
/// Send [`cookie_header`](Self::cookie_header) as the `Cookie` header of
/// each request, and [`csrf_token`](Self::csrf_token) as the
/// `_csrf_token` form field ([`CSRF_FIELD`](crate::CSRF_FIELD)) or the `x-csrf-token` header
/// ([`CSRF_HEADER`](crate::CSRF_HEADER)) of state-changing ones. Its `Debug` output hides the
/// cookie values and the CSRF token, and names the user and session by id only.
pub struct Authenticated {
    /// The signed-in user.
    pub user: User,
    /// Their session (standard, or remember-me for the remember-me fixtures).
    pub session: Session,
    token: RawToken,
    /// The cookie names of the app's config (`__Host-` prefixed in prod without `COOKIE_DOMAIN`).
    names: (&'static str, &'static str),
    session_cookie: String,
    remember_cookie: Option<String>,
    csrf: String,
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("user", &crate::redact::UserView(&self.user))
            .field("session", &crate::redact::SessionView(&self.session))
            .field("remember_me", &self.remember_cookie.is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticated {
    /// The value of a `Cookie` request header carrying the session (and,
    /// for remember-me fixtures, the remember-me cookie):
    /// `_sigra_session=…` or `_sigra_session=…; _sigra_remember_me=…`
    /// (`__Host-sigra_session`, … in prod without `COOKIE_DOMAIN`: the names
    /// come from [`cookie_name`]).
    pub fn cookie_header(&self) -> String {
        self.cookies()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The cookies as `(name, value)` pairs, for a client with a cookie jar.
    pub fn cookies(&self) -> Vec<(&'static str, &str)> {
        let (session, remember_me) = self.names;
        let mut cookies = vec![(session, self.session_cookie.as_str())];
        if let Some(remember) = &self.remember_cookie {
            cookies.push((remember_me, remember.as_str()));
        }
        cookies
    }

    /// The signed `_sigra_session` cookie value.
    pub fn session_cookie(&self) -> &str {
        &self.session_cookie
    }

    /// The signed `_sigra_remember_me` cookie value, for remember-me fixtures.
    /// Sent alone, it restores the session as a returning browser's would.
    pub fn remember_me_cookie(&self) -> Option<&str> {
        self.remember_cookie.as_deref()
    }

    /// The CSRF token of this session, for the `_csrf_token` form field or
    /// the `x-csrf-token` header.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// The session's raw token, for [`Auth`](sigra_core::auth::Auth) calls
    /// such as `delete_session`.
    pub fn token(&self) -> RawToken {
        RawToken::from_bytes(*self.token.expose_bytes())
    }
}

/// Registers `email` with `password` through [`Auth`](sigra_core::auth::Auth)
/// — or, when the account exists, checks the password as a log-in would —
/// creates a standard session and returns the user with a signed session
/// cookie and its CSRF token. For tests only (see the [module docs](self)).
///
/// Fails like registration or log-in would: a weak password, an invalid
/// email, a wrong password for an existing account, a locked account.
pub async fn authenticated_fixture(
    sigra: &Sigra,
    email: &str,
    password: &str,
) -> Result<Authenticated, AuthError> {
    let user = find_or_register(sigra, email, password).await?;
    signed_in_fixture(sigra, &user, false).await
}

/// [`authenticated_fixture`] with "keep me logged in": a remember-me session
/// and both the session and the remember-me cookie.
pub async fn authenticated_fixture_remember_me(
    sigra: &Sigra,
    email: &str,
    password: &str,
) -> Result<Authenticated, AuthError> {
    let user = find_or_register(sigra, email, password).await?;
    signed_in_fixture(sigra, &user, true).await
}

/// A new session for an existing `user` (no password needed), with its
/// signed cookies and CSRF token; with `remember_me`, a remember-me session
/// and cookie. Each call is another browser: sessions do not replace each other.
pub async fn signed_in_fixture(
    sigra: &Sigra,
    user: &User,
    remember_me: bool,
) -> Result<Authenticated, AuthError> {
    let auth = sigra.auth();
    let kind = if remember_me {
        SessionKind::RememberMe
    } else {
        SessionKind::Standard
    };
    let meta = SessionMeta::new(None, Some(FIXTURE_USER_AGENT.to_owned()));
    let (token, session) = auth.create_session(user, kind, meta).await?;
    let csrf = cookies::new_csrf().ok_or(AuthError::Random(RandomError))?;
    let now = auth.now();
    let ttl = auth.config().session.ttl;
    let cookie = SessionCookie {
        token: Some(RawToken::from_bytes(*token.expose_bytes())),
        csrf: csrf.clone(),
        ..SessionCookie::default()
    };
    let session_cookie = cookie.encode(sigra.session_signer(), now, ttl);
    let remember_cookie =
        remember_me.then(|| cookies::encode_remember(sigra.remember_signer(), &token, now, ttl));
    Ok(Authenticated {
        user: user.clone(),
        session,
        token,
        names: (
            cookie_name(auth.config(), CookieKind::Session),
            cookie_name(auth.config(), CookieKind::RememberMe),
        ),
        session_cookie,
        remember_cookie,
        csrf,
    })
}

async fn find_or_register(sigra: &Sigra, email: &str, password: &str) -> Result<User, AuthError> {
    let auth = sigra.auth();
    let password = SecretString::from(password);
    match auth.register(email, &password).await {
        Err(AuthError::EmailTaken) => {
            let meta = SessionMeta::new(None, Some(FIXTURE_USER_AGENT.to_owned()));
            auth.authenticate(email, &password, &meta).await
        }
        registered => registered,
    }
}
