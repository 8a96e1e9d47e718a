//! The email-link flows and the account forms of the settings page:
//! password reset, email confirmation, password and email change, and
//! account deletion with its cancel link.
//!
//! Tokens arrive in the path and go only to `Auth`; they are never logged or
//! flashed. Opening a link (`GET`) shows one button and changes nothing;
//! the button (`POST`) does the change. A dead link (malformed, unknown,
//! used or expired) is a 404 page that says what to do next. The reset
//! request answers the same page with the same status for every address,
//! known or not, and even when sending failed (the failure is logged,
//! without the address); its work (lookup, token, mail hand-off, audit)
//! runs after the answer, so the answer's time does not tell whether the
//! address has an account either.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;
use sigra_core::auth::{AuthError, normalize_email};
use sigra_core::rate_limit::RateLimitAction;
use sigra_core::token::{RawToken, TokenContext};

use super::shared::{PASSWORD_LOCKED, auth_failure, capitalise, frame, html, settings_page};
use crate::cookies::FlashKind;
use crate::extract::{AuthSession, CurrentUser, MaybeUser};
use crate::pages;
use crate::rate_limit;
use crate::rejection::LOG_IN_PATH;
use crate::sigra::Sigra;
use crate::templates::{
    AddressTaken, EmailChangeSent, EmailLink, InvalidLink, ResetPassword, ResetRequest,
    SettingsForm,
};

const NOT_YOUR_PASSWORD: &str = "That is not your current password.";

/// A 404 page for a dead email link, with `what_next` (trusted HTML).
fn dead_link(session: &AuthSession, user: Option<&str>, what_next: &'static str) -> Response {
    let csrf = session.csrf_token();
    html(
        StatusCode::NOT_FOUND,
        pages::render(&InvalidLink {
            frame: frame("Link not valid", session, user, &csrf),
            what_next,
        }),
    )
}

const ASK_AGAIN: &str = r#"<a href="/users/reset-password">Ask for a new password reset link</a>; it works for one hour."#;

fn email(user: &MaybeUser) -> Option<&str> {
    user.0.as_ref().map(|u| u.email.as_str())
}

/// The reset request's field.
#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
}

fn reset_request_response(session: &AuthSession, user: &MaybeUser, sent: bool) -> Response {
    let csrf = session.csrf_token();
    html(
        StatusCode::OK,
        pages::render(&ResetRequest {
            frame: frame("Reset your password", session, email(user), &csrf),
            sent,
        }),
    )
}

/// `GET /users/reset-password`: the form.
pub(super) async fn reset_request_page(session: AuthSession, user: MaybeUser) -> Response {
    reset_request_response(&session, &user, false)
}

/// `POST /users/reset-password`: mails a link when the address has an
/// account; answers the same page either way. Limited per submitted address
/// (`reset_password`) and per client (the per-IP `login` budget, which an
/// address-cycling client would otherwise escape).
///
/// The request path does the same for every address: the two limits, then
/// the answer. Looking the address up, storing the token, handing the mail
/// over and the audit row run in a task after it, so neither their time nor
/// their failure reaches the answer.
pub(super) async fn reset_request(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Form(form): Form<EmailForm>,
) -> Response {
    if let Err(limited) =
        rate_limit::check(&sigra, RateLimitAction::ResetPassword, &form.email).await
    {
        return limited.into_response();
    }
    let client = session.meta().ip.as_deref().unwrap_or("unknown");
    if let Err(limited) = rate_limit::check(&sigra, RateLimitAction::Login, client).await {
        return limited.into_response();
    }
    let auth = sigra.auth().clone();
    let email = form.email;
    tokio::spawn(async move {
        if let Err(e) = auth.request_password_reset(&email).await {
            // Logged without the address; the visitor got the same page regardless.
            tracing::error!(name: "sigra.auth.reset_password.request", outcome = "error", error = %e);
        }
    });
    reset_request_response(&session, &user, true)
}

/// The new-password form's field.
#[derive(Deserialize)]
pub(super) struct NewPasswordForm {
    #[serde(default)]
    password: String,
}

fn reset_form(
    sigra: &Sigra,
    session: &AuthSession,
    user: &MaybeUser,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let csrf = session.csrf_token();
    html(
        status,
        pages::render(&ResetPassword {
            frame: frame("Choose a new password", session, email(user), &csrf),
            token,
            password_min_length: sigra.auth().config().password.min_length,
            error,
        }),
    )
}

/// `GET /users/reset-password/{token}`: the new-password form (a malformed
/// token is refused at once; a well-formed one is checked when used).
pub(super) async fn reset_password_page(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
) -> Response {
    if RawToken::decode(&token).is_err() {
        return dead_link(&session, email(&user), ASK_AGAIN);
    }
    reset_form(&sigra, &session, &user, &token, StatusCode::OK, None)
}

/// `POST /users/reset-password/{token}`: sets the password, ends every
/// session of the user (this browser's too), 303 to log in.
pub(super) async fn reset_password(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
    Form(form): Form<NewPasswordForm>,
) -> Response {
    let password = SecretString::from(form.password);
    match sigra.auth().reset_password(&token, &password).await {
        Ok(_) => match session.log_out().await {
            Ok(()) => {
                session.flash(
                    FlashKind::Info,
                    "Your password has been reset. Log in with the new one.",
                );
                Redirect::to(LOG_IN_PATH).into_response()
            }
            Err(e) => auth_failure(e),
        },
        Err(AuthError::InvalidToken) => dead_link(&session, email(&user), ASK_AGAIN),
        Err(AuthError::WeakPassword(e)) => reset_form(
            &sigra,
            &session,
            &user,
            &token,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&format!("{}.", capitalise(&e.to_string()))),
        ),
        Err(e) => auth_failure(e),
    }
}

/// One kind of email link whose page is a single button: what it says, and
/// what a dead one says to do next.
struct LinkPage {
    context: TokenContext,
    /// The route's path up to the token.
    prefix: &'static str,
    title: &'static str,
    prompt: &'static str,
    button: &'static str,
    /// Trusted HTML for the dead-link page.
    what_next: &'static str,
}

const CONFIRM: LinkPage = LinkPage {
    context: TokenContext::Confirm,
    prefix: "/users/confirm/",
    title: "Confirm your email address",
    prompt: "Confirm that this email address is yours.",
    button: "Confirm my email address",
    what_next: "If your address is not confirmed yet, use the newest confirmation email we sent.",
};

const CHANGE_EMAIL: LinkPage = LinkPage {
    context: TokenContext::ChangeEmail,
    prefix: "/users/settings/confirm-email/",
    title: "Confirm your new email address",
    prompt: "Move your account to this email address. Every session will be logged out; \
             log in again with the new address.",
    button: "Use this email address",
    what_next: r#"To change your address, ask again from <a href="/users/settings">your settings</a>."#,
};

const CANCEL_DELETION: LinkPage = LinkPage {
    context: TokenContext::CancelDeletion,
    prefix: "/users/cancel-deletion/",
    title: "Keep your account",
    prompt: "Your account is scheduled for deletion. Cancel the deletion to keep it.",
    button: "Cancel the deletion",
    what_next: "If the deletion is still scheduled, use the newest link we emailed you.",
};

/// `GET` of an email link: the page with its one button when the link is
/// still valid, the dead-link page otherwise. Nothing is used up or
/// changed: mail scanners open links before their reader does.
async fn link_page(
    sigra: &Sigra,
    session: &AuthSession,
    user: &MaybeUser,
    token: &str,
    page: &LinkPage,
) -> Response {
    match sigra.auth().check_email_link(token, page.context).await {
        Ok(()) => {
            let csrf = session.csrf_token();
            let action = format!("{}{token}", page.prefix);
            html(
                StatusCode::OK,
                pages::render(&EmailLink {
                    frame: frame(page.title, session, email(user), &csrf),
                    action: &action,
                    prompt: page.prompt,
                    button: page.button,
                }),
            )
        }
        Err(AuthError::InvalidToken) => dead_link(session, email(user), page.what_next),
        Err(e) => auth_failure(e),
    }
}

/// `GET /users/confirm/{token}`: the confirm button (changes nothing).
pub(super) async fn confirm_email_page(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
) -> Response {
    link_page(&sigra, &session, &user, &token, &CONFIRM).await
}

/// `GET /users/settings/confirm-email/{token}`: the button that applies
/// the email change (changes nothing).
pub(super) async fn confirm_email_change_page(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
) -> Response {
    link_page(&sigra, &session, &user, &token, &CHANGE_EMAIL).await
}

/// `GET /users/cancel-deletion/{token}`: the button that keeps the account
/// (changes nothing).
pub(super) async fn cancel_deletion_page(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
) -> Response {
    link_page(&sigra, &session, &user, &token, &CANCEL_DELETION).await
}

/// `POST /users/confirm/{token}`: confirms the address the link was sent to.
pub(super) async fn confirm_email(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
) -> Response {
    match sigra.auth().confirm_email(&token).await {
        Ok(_) => {
            session.flash(
                FlashKind::Info,
                "Your email address is confirmed. Thank you.",
            );
            Redirect::to("/").into_response()
        }
        Err(AuthError::InvalidToken) => dead_link(&session, email(&user), CONFIRM.what_next),
        Err(e) => auth_failure(e),
    }
}

/// The change-password form's fields.
#[derive(Deserialize)]
pub(super) struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

/// `POST /users/settings/password`: the current password is the check; every
/// other session ends, this one stays.
pub(super) async fn change_password(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
    Form(form): Form<ChangePasswordForm>,
) -> Response {
    let Some(token) = session.token() else {
        return Redirect::to(LOG_IN_PATH).into_response();
    };
    let current_password = SecretString::from(form.current_password);
    let new_password = SecretString::from(form.password);
    let result = sigra
        .auth()
        .change_password(current.user.id, &token, &current_password, &new_password)
        .await;
    let (status, message) = match result {
        Ok(ended) => {
            session.flash(
                FlashKind::Info,
                format!(
                    "Your password has been changed. {ended} other session(s) were logged out."
                ),
            );
            return Redirect::to("/users/settings").into_response();
        }
        Err(AuthError::InvalidCredentials) => {
            (StatusCode::UNAUTHORIZED, NOT_YOUR_PASSWORD.to_owned())
        }
        Err(AuthError::Locked { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, PASSWORD_LOCKED.to_owned())
        }
        Err(AuthError::WeakPassword(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}.", capitalise(&e.to_string())),
        ),
        Err(e) => return auth_failure(e),
    };
    settings_page(
        &sigra,
        &current,
        &session,
        status,
        Some((SettingsForm::Password, &message)),
        "",
    )
    .await
}

/// The change-email form's fields.
#[derive(Deserialize)]
pub(super) struct ChangeEmailForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    email: String,
}

/// `POST /users/settings/email`: mails a link to the NEW address; nothing
/// changes until it is opened.
pub(super) async fn change_email(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
    Form(form): Form<ChangeEmailForm>,
) -> Response {
    let password = SecretString::from(form.current_password);
    let result = sigra
        .auth()
        .request_email_change(&current.user, &password, &form.email)
        .await;
    let (status, message) = match result {
        Ok(()) => {
            let csrf = session.csrf_token();
            return html(
                StatusCode::OK,
                pages::render(&EmailChangeSent {
                    frame: frame(
                        "Check your inbox",
                        &session,
                        Some(&current.user.email),
                        &csrf,
                    ),
                    new_email: &normalize_email(&form.email),
                }),
            );
        }
        Err(AuthError::InvalidCredentials) => (StatusCode::UNAUTHORIZED, NOT_YOUR_PASSWORD),
        Err(AuthError::Locked { .. }) => (StatusCode::TOO_MANY_REQUESTS, PASSWORD_LOCKED),
        Err(AuthError::InvalidEmail) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter a valid email address that differs from your current one.",
        ),
        Err(AuthError::EmailTaken) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "An account with this email already exists.",
        ),
        Err(e) => return auth_failure(e),
    };
    settings_page(
        &sigra,
        &current,
        &session,
        status,
        Some((SettingsForm::Email, message)),
        &form.email,
    )
    .await
}

/// `POST /users/settings/confirm-email/{token}`: applies the change; every
/// session of the user ends, so this browser goes to log in.
pub(super) async fn confirm_email_change(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
) -> Response {
    match sigra.auth().confirm_email_change(&token).await {
        Ok(_) => match session.log_out().await {
            Ok(()) => {
                session.flash(
                    FlashKind::Info,
                    "Your email address has been changed. Log in with the new address.",
                );
                Redirect::to(LOG_IN_PATH).into_response()
            }
            Err(e) => auth_failure(e),
        },
        Err(AuthError::InvalidToken) => dead_link(&session, email(&user), CHANGE_EMAIL.what_next),
        Err(AuthError::EmailTaken) => {
            let csrf = session.csrf_token();
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::render(&AddressTaken {
                    frame: frame("Address taken", &session, email(&user), &csrf),
                }),
            )
        }
        Err(e) => auth_failure(e),
    }
}

/// The delete-account form's field.
#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    current_password: String,
}

/// `POST /users/settings/delete-account`: with the current password,
/// schedules the deletion, logs out everywhere and mails a cancel link.
pub(super) async fn delete_account(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
    Form(form): Form<DeleteForm>,
) -> Response {
    let password = SecretString::from(form.current_password);
    match sigra.auth().confirm_sudo(&current.session, &password).await {
        Ok(()) => {}
        Err(AuthError::InvalidCredentials) => {
            return settings_page(
                &sigra,
                &current,
                &session,
                StatusCode::UNAUTHORIZED,
                Some((SettingsForm::DeleteAccount, NOT_YOUR_PASSWORD)),
                "",
            )
            .await;
        }
        Err(AuthError::Locked { .. }) => {
            return settings_page(
                &sigra,
                &current,
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                Some((SettingsForm::DeleteAccount, PASSWORD_LOCKED)),
                "",
            )
            .await;
        }
        Err(e) => return auth_failure(e),
    }
    let at = match sigra.auth().schedule_account_deletion(&current.user).await {
        Ok(at) => at,
        Err(e) => return auth_failure(e),
    };
    // Every session row is gone already; this clears the cookies here.
    if let Err(e) = session.log_out().await {
        return auth_failure(e);
    }
    session.flash(
        FlashKind::Info,
        format!(
            "Your account will be deleted on {} UTC. You are logged out everywhere. \
             To keep your account, open the link in the email we just sent you.",
            at.format("%Y-%m-%d %H:%M")
        ),
    );
    Redirect::to("/").into_response()
}

/// `POST /users/cancel-deletion/{token}`: keeps the account.
pub(super) async fn cancel_deletion(
    State(sigra): State<Sigra>,
    session: AuthSession,
    user: MaybeUser,
    Path(token): Path<String>,
) -> Response {
    match sigra.auth().cancel_account_deletion(&token).await {
        Ok(_) => {
            session.flash(
                FlashKind::Info,
                "Your account will not be deleted. You can log in again.",
            );
            Redirect::to(LOG_IN_PATH).into_response()
        }
        Err(AuthError::InvalidToken) => {
            dead_link(&session, email(&user), CANCEL_DELETION.what_next)
        }
        Err(e) => auth_failure(e),
    }
}
