//! The default pages: register, log in (with the second factor), log out,
//! settings, the email-link flows, health — and the demo app's home and
//! dashboard.
//!
//! The MFA pages live in [`mfa`], the email-token and account pages in
//! [`account`], what the pages share in [`shared`]; this file holds the
//! route table and the remaining pages.

mod account;
mod mfa;
mod shared;

use axum::extract::State;
use axum::handler::Handler as _;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router, middleware};
use secrecy::SecretString;
use serde::Deserialize;
use sigra_core::auth::AuthError;
use sigra_core::rate_limit::RateLimitAction;

use crate::cookies::FlashKind;
use crate::extract::{AuthSession, CurrentUser, MaybeUser};
use crate::layer::client::addressed_to_loopback;
use crate::pages;
use crate::rate_limit::{self, limit_by_ip};
use crate::sigra::Sigra;
use crate::templates::{ConfirmFirst, Dashboard, Home, LogIn, Register};
use shared::{auth_failure, capitalise, frame, html, return_home, settings_page};

impl Sigra {
    /// The default pages: register, log in and its second factor
    /// (`/users/mfa`), log out, settings (sessions, MFA enrolment, backup
    /// codes, trusted browsers, password, email, account deletion), the sudo
    /// password check, the email-link flows (reset password, confirm email,
    /// change email, cancel deletion), `/dev/mailbox.json` (dev only),
    /// `/health` and `/sigra/style.css`. The table is in DESIGN.md.
    pub fn routes(&self) -> Router {
        routes(self)
    }

    /// The demo app (`sigra serve`): the default pages plus a home page and a
    /// `/dashboard` only signed-in users see, wrapped in the layer.
    pub fn demo_app(&self) -> Router {
        demo_routes().merge(self.routes()).layer(self.layer())
    }
}

/// Sigra's default pages as a router to merge into the app (its layer must wrap them).
fn routes(sigra: &Sigra) -> Router {
    let login_limit =
        middleware::from_fn_with_state((sigra.clone(), RateLimitAction::Login), limit_by_ip);
    let register_limit =
        middleware::from_fn_with_state((sigra.clone(), RateLimitAction::Register), limit_by_ip);
    // Only the POSTs are attempts: viewing a form must not spend the limit
    // (a `route_layer` on the whole method router would count the GETs too,
    // halving the log-in budget and locking out a visitor who reloads a form).
    //
    // Every form that checks the current password of a signed-in user (sudo,
    // change password or email, delete account) spends the same per-IP
    // budget as log-in: they are password guesses too. So does the reset
    // link's form, the one other route a visitor without a session can make
    // hash a password: no unauthenticated request reaches Argon2 without
    // passing a limiter (register and log-in have theirs; `/users/mfa` is
    // limited per pending user and hashes nothing; the reset request is
    // limited per address and per client in its handler and hashes nothing).
    Router::new()
        .route(
            "/users/register",
            get(register_page).post(register.layer(register_limit)),
        )
        .route(
            "/users/log-in",
            get(log_in_page).post(log_in.layer(login_limit.clone())),
        )
        .route("/users/mfa", get(mfa::challenge_page).post(mfa::challenge))
        .route("/users/log-out", post(log_out).delete(log_out))
        .route("/users/settings", get(settings))
        .route("/users/settings/sessions/log-out-all", post(log_out_all))
        .route("/users/settings/mfa/enroll", post(mfa::enroll))
        .route("/users/settings/mfa/confirm", post(mfa::confirm))
        .route(
            "/users/settings/mfa/revoke-trusted-browsers",
            post(mfa::revoke_trusted_browsers),
        )
        .route("/users/settings/mfa/disable", post(mfa::disable))
        .route(
            "/users/settings/mfa/backup-codes",
            post(mfa::regenerate_backup_codes),
        )
        .route(
            "/users/sudo",
            get(mfa::sudo_page).post(mfa::sudo.layer(login_limit.clone())),
        )
        .route(
            "/users/reset-password",
            get(account::reset_request_page).post(account::reset_request),
        )
        .route(
            "/users/reset-password/{token}",
            get(account::reset_password_page)
                .post(account::reset_password.layer(login_limit.clone())),
        )
        .route(
            "/users/confirm/resend",
            get(resend_confirmation_page).post(resend_confirmation),
        )
        .route(
            "/users/confirm/{token}",
            get(account::confirm_email_page).post(account::confirm_email),
        )
        .route(
            "/users/settings/password",
            post(account::change_password.layer(login_limit.clone())),
        )
        .route(
            "/users/settings/email",
            post(account::change_email.layer(login_limit.clone())),
        )
        .route(
            "/users/settings/confirm-email/{token}",
            get(account::confirm_email_change_page).post(account::confirm_email_change),
        )
        .route(
            "/users/settings/delete-account",
            post(account::delete_account.layer(login_limit)),
        )
        .route(
            "/users/cancel-deletion/{token}",
            get(account::cancel_deletion_page).post(account::cancel_deletion),
        )
        .route("/dev/mailbox.json", get(dev_mailbox))
        .route("/health", get(health))
        .route("/sigra/style.css", get(stylesheet))
        .with_state(sigra.clone())
}

/// The demo app's own pages: a public home and a dashboard only a signed-in user sees.
fn demo_routes() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/dashboard", get(dashboard))
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
    html(
        StatusCode::OK,
        pages::render(&Home {
            frame: frame("Home", &session, email, &csrf),
        }),
    )
}

async fn dashboard(current: CurrentUser, session: AuthSession) -> Response {
    let csrf = session.csrf_token();
    html(
        StatusCode::OK,
        pages::render(&Dashboard {
            frame: frame("Dashboard", &session, Some(&current.user.email), &csrf),
            email: &current.user.email,
        }),
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
        pages::render(&Register {
            frame: frame("Register", &session, None, &csrf),
            email: "",
            error: None,
        }),
    )
}

async fn register(
    State(sigra): State<Sigra>,
    session: AuthSession,
    Form(form): Form<Credentials>,
) -> Response {
    let password = SecretString::from(form.password);
    if require_confirmation(&sigra) {
        return register_unconfirmed(&sigra, &session, &form.email, &password).await;
    }
    let result = sigra.auth().register(&form.email, &password).await;
    let error = match result {
        Ok(user) => {
            // The account exists whatever happens to the mail: a failure to
            // send is logged (without the address), never a failed registration.
            if let Err(e) = sigra.auth().send_confirmation(&user).await {
                tracing::warn!(name: "sigra.mail.confirmation", outcome = "error", error = %e);
            }
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
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        pages::render(&Register {
            frame: frame("Register", &session, None, &csrf),
            email: &form.email,
            error: Some(&error),
        }),
    )
}

/// Registration with `SIGRA_REQUIRE_CONFIRMATION`: a taken address and a
/// new one get the same 303 to log in and the same flash (the work is the
/// same too, see `Auth::register_unconfirmed`); nobody is logged in.
async fn register_unconfirmed(
    sigra: &Sigra,
    session: &AuthSession,
    email: &str,
    password: &SecretString,
) -> Response {
    let error = match sigra.auth().register_unconfirmed(email, password).await {
        Ok(()) => {
            session.flash(FlashKind::Info, CHECK_INBOX);
            return Redirect::to("/users/log-in").into_response();
        }
        Err(AuthError::InvalidEmail) => "Enter a valid email address.".to_owned(),
        Err(AuthError::WeakPassword(e)) => format!("{}.", capitalise(&e.to_string())),
        Err(e) => return auth_failure(e),
    };
    let csrf = session.csrf_token();
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        pages::render(&Register {
            frame: frame("Register", session, None, &csrf),
            email,
            error: Some(&error),
        }),
    )
}

/// The answer to every accepted registration when confirmation is required.
const CHECK_INBOX: &str = "Check your inbox: we sent a message to that address. \
     Open the link in it to confirm the address, then log in.";

/// The one message for every failed log-in: unknown email, wrong password, locked.
const LOG_IN_FAILED: &str =
    "Invalid email or password. After repeated failures, sign-in is paused for 15 minutes.";

/// For the right password of an account that is scheduled for deletion.
const DELETION_SCHEDULED: &str = "This account is scheduled for deletion, so it cannot log in. \
     To keep it, open the cancellation link in the email we sent when the deletion was requested, \
     then log in again.";

/// Whether a new account must confirm its address before it can log in.
fn require_confirmation(sigra: &Sigra) -> bool {
    sigra.auth().config().accounts.require_confirmation
}

/// The second-factor page of a pending log-in.
pub(crate) const MFA_PATH: &str = "/users/mfa";

async fn log_in_page(
    State(sigra): State<Sigra>,
    session: AuthSession,
    MaybeUser(user): MaybeUser,
) -> Response {
    if user.is_some() {
        return Redirect::to("/").into_response();
    }
    let csrf = session.csrf_token();
    html(
        StatusCode::OK,
        pages::render(&LogIn {
            frame: frame("Log in", &session, None, &csrf),
            email: "",
            error: None,
            require_confirmation: require_confirmation(&sigra),
        }),
    )
}

async fn log_in(
    State(sigra): State<Sigra>,
    session: AuthSession,
    Form(form): Form<Credentials>,
) -> Response {
    let password = SecretString::from(form.password);
    let remember = form.remember_me.as_deref() == Some("true");
    let signed_in = match sigra
        .auth()
        .authenticate(&form.email, &password, session.meta())
        .await
    {
        // The right password of an account that must confirm its address first.
        Ok(user) if require_confirmation(&sigra) && user.confirmed_at.is_none() => Ok(
            confirm_first(&session, &form.email, true, false, StatusCode::FORBIDDEN),
        ),
        // A valid trust cookie for this user at their current epoch skips the second factor.
        Ok(user) if user.mfa_enabled && !session.is_trusted_browser(&user) => session
            .begin_mfa(&user, remember)
            .await
            .map(|()| Redirect::to(MFA_PATH).into_response()),
        Ok(user) => session
            .log_in(&user, remember)
            .await
            .map(|()| return_home(&session)),
        Err(e) => Err(e),
    };
    match signed_in {
        Ok(response) => response,
        Err(AuthError::DeletionScheduled) => {
            let csrf = session.csrf_token();
            html(
                StatusCode::FORBIDDEN,
                pages::render(&LogIn {
                    frame: frame("Log in", &session, None, &csrf),
                    email: &form.email,
                    error: Some(DELETION_SCHEDULED),
                    require_confirmation: require_confirmation(&sigra),
                }),
            )
        }
        Err(AuthError::InvalidCredentials | AuthError::Locked { .. }) => {
            let csrf = session.csrf_token();
            html(
                StatusCode::UNAUTHORIZED,
                pages::render(&LogIn {
                    frame: frame("Log in", &session, None, &csrf),
                    email: &form.email,
                    error: Some(LOG_IN_FAILED),
                    require_confirmation: require_confirmation(&sigra),
                }),
            )
        }
        Err(e) => auth_failure(e),
    }
}

/// The resend-confirmation page.
fn confirm_first(
    session: &AuthSession,
    email: &str,
    unconfirmed: bool,
    sent: bool,
    status: StatusCode,
) -> Response {
    let csrf = session.csrf_token();
    html(
        status,
        pages::render(&ConfirmFirst {
            frame: frame("Confirm your email address", session, None, &csrf),
            email,
            unconfirmed,
            sent,
        }),
    )
}

/// The resend form's field.
#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    email: String,
}

/// `GET /users/confirm/resend`: the form.
async fn resend_confirmation_page(session: AuthSession) -> Response {
    confirm_first(&session, "", false, false, StatusCode::OK)
}

/// `POST /users/confirm/resend`: mails a new confirmation link when the
/// address has an unconfirmed account; the same page for every address.
/// Limited per submitted address (`SIGRA_RATE_LIMIT_RESEND_CONFIRMATION`).
async fn resend_confirmation(
    State(sigra): State<Sigra>,
    session: AuthSession,
    Form(form): Form<ResendForm>,
) -> Response {
    if let Err(limited) =
        rate_limit::check(&sigra, RateLimitAction::ResendConfirmation, &form.email).await
    {
        return limited.into_response();
    }
    if let Err(e) = sigra.auth().resend_confirmation(&form.email).await {
        // Same answer regardless: an error page would tell whether the address has an account.
        tracing::error!(name: "sigra.auth.resend_confirmation", outcome = "error", error = %e);
    }
    confirm_first(&session, &form.email, false, true, StatusCode::OK)
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
    settings_page(&sigra, &current, &session, StatusCode::OK, None, "").await
}

/// `GET /dev/mailbox.json`: the dev mailbox's messages, oldest first, in dev
/// mode with a mailbox exposed, to a request addressed to a loopback name
/// (DNS rebinding: see [`addressed_to_loopback`]); 404 everywhere else.
async fn dev_mailbox(State(sigra): State<Sigra>, request: axum::extract::Request) -> Response {
    let mailbox = sigra
        .dev_mailbox()
        .filter(|_| addressed_to_loopback(&request));
    let Some(mailbox) = mailbox else {
        return html(
            StatusCode::NOT_FOUND,
            pages::error_page("Not found", "There is no page at this address."),
        );
    };
    let messages: Vec<serde_json::Value> = mailbox
        .messages()
        .into_iter()
        .map(|m| serde_json::json!({ "to": m.to, "subject": m.subject, "text": m.text }))
        .collect();
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(messages),
    )
        .into_response()
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
