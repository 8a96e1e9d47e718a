//! The MFA pages: the second factor of a log-in (`/users/mfa`), TOTP
//! enrolment and backup codes in settings, and the sudo password check that
//! guards every MFA change: turning it on (enrolment and its confirmation),
//! turning it off and replacing backup codes. A log-in opens the sudo
//! window, so enrolling right after signing in needs no second password.
//!
//! Sudo flow: a guarded action outside the sudo window answers 303 to
//! `/users/sudo` (with a flash saying why) and changes nothing; the password
//! there opens the window (`sudo_window`, 5 minutes by default) and returns
//! to `/users/settings`, where the user presses the button again. A POST is
//! never replayed behind the user's back.
//!
//! Lock message: after `lockout_threshold` wrong codes the core refuses
//! codes for `lockout_duration`; the page answers 429 with `Retry-After`
//! and says until when, like the per-user rate limit (10 tries per 5
//! minutes), which answers 429 as well. Only the person who already passed
//! the password step sees either.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sigra_core::auth::AuthError;
use sigra_core::rate_limit::RateLimitAction;

use super::shared::{PASSWORD_LOCKED, auth_failure, frame, html, human_duration, return_home};
use crate::cookies::FlashKind;
use crate::extract::{AuthSession, CurrentUser};
use crate::rejection::{LOG_IN_PATH, MfaLocked};
use crate::sigra::Sigra;
use crate::templates::{BackupCodes, MfaChallenge, MfaConfirmRetry, MfaEnroll, Sudo};
use crate::{pages, rate_limit};

const SETTINGS_PATH: &str = "/users/settings";
const SUDO_PATH: &str = "/users/sudo";

/// The second-factor form's fields.
#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    trust_browser: Option<String>,
}

const WRONG_CODE: &str = "That code is not valid. Enter the code your authenticator app shows now \
     (each code works once), or an unused backup code.";

fn challenge_response(
    sigra: &Sigra,
    session: &AuthSession,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let csrf = session.csrf_token();
    let trust_for = human_duration(sigra.auth().config().mfa.trust_ttl);
    html(
        status,
        pages::render(&MfaChallenge {
            frame: frame("Two-factor authentication", session, None, &csrf),
            trust_for: &trust_for,
            error,
        }),
    )
}

/// `GET /users/mfa`: the code form, for a log-in that passed the password step.
pub(super) async fn challenge_page(State(sigra): State<Sigra>, session: AuthSession) -> Response {
    if session.pending_user().is_none() {
        return Redirect::to(LOG_IN_PATH).into_response();
    }
    challenge_response(&sigra, &session, StatusCode::OK, None)
}

/// `POST /users/mfa`: checks a TOTP or backup code and completes the log-in.
pub(super) async fn challenge(
    State(sigra): State<Sigra>,
    session: AuthSession,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some(user) = session.pending_user() else {
        session.flash(
            FlashKind::Error,
            "Your sign-in took too long and has expired. Please log in again.",
        );
        return Redirect::to(LOG_IN_PATH).into_response();
    };
    if let Err(limited) =
        rate_limit::check(&sigra, RateLimitAction::Mfa, &user.id.to_string()).await
    {
        return limited.into_response();
    }
    let trust = form.trust_browser.as_deref() == Some("true");
    match sigra.auth().verify_second_factor(&user, &form.code).await {
        Ok(_) => match session.complete_mfa(trust).await {
            Ok(Some(_)) => return_home(&session),
            Ok(None) => Redirect::to(LOG_IN_PATH).into_response(),
            Err(e) => auth_failure(e),
        },
        Err(AuthError::InvalidCode) => {
            challenge_response(&sigra, &session, StatusCode::UNAUTHORIZED, Some(WRONG_CODE))
        }
        Err(AuthError::MfaLocked { until }) => MfaLocked {
            until,
            now: sigra.auth().now(),
        }
        .into_response(),
        // MFA was turned off since the password step: start over.
        Err(AuthError::MfaNotEnabled) => match session.log_out().await {
            Ok(()) => {
                session.flash(FlashKind::Error, "Please log in again.");
                Redirect::to(LOG_IN_PATH).into_response()
            }
            Err(e) => auth_failure(e),
        },
        Err(e) => auth_failure(e),
    }
}

fn settings_flash(session: &AuthSession, kind: FlashKind, message: &str) -> Response {
    session.flash(kind, message);
    Redirect::to(SETTINGS_PATH).into_response()
}

/// `POST /users/settings/mfa/enroll` (sudo): a new secret, shown once with its QR code.
pub(super) async fn enroll(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
) -> Response {
    if let Some(response) = require_sudo(&sigra, &current, &session) {
        return response;
    }
    match sigra.auth().begin_mfa_enrollment(&current.user).await {
        Ok(enrollment) => {
            let csrf = session.csrf_token();
            let otpauth_uri = enrollment.otpauth_uri.expose_secret();
            html(
                StatusCode::OK,
                pages::render(&MfaEnroll {
                    frame: frame(
                        "Set up two-factor authentication",
                        &session,
                        Some(&current.user.email),
                        &csrf,
                    ),
                    secret: enrollment.secret_base32.expose_secret(),
                    otpauth_uri,
                    qr: pages::qr_svg(otpauth_uri),
                }),
            )
        }
        Err(AuthError::MfaAlreadyEnabled) => settings_flash(
            &session,
            FlashKind::Info,
            "Two-factor authentication is already on.",
        ),
        Err(e) => auth_failure(e),
    }
}

fn backup_codes_page(
    session: &AuthSession,
    current: &CurrentUser,
    codes: &[sigra_core::mfa::BackupCode],
) -> Response {
    let csrf = session.csrf_token();
    let codes: Vec<&str> = codes.iter().map(|c| c.expose()).collect();
    html(
        StatusCode::OK,
        pages::render(&BackupCodes {
            frame: frame(
                "Your backup codes",
                session,
                Some(&current.user.email),
                &csrf,
            ),
            codes: &codes,
        }),
    )
}

/// `POST /users/settings/mfa/confirm` (sudo): the first code turns MFA on;
/// the backup codes are shown once.
pub(super) async fn confirm(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
    Form(form): Form<CodeForm>,
) -> Response {
    if let Some(response) = require_sudo(&sigra, &current, &session) {
        return response;
    }
    match sigra
        .auth()
        .confirm_mfa_enrollment(&current.user, &form.code)
        .await
    {
        Ok(codes) => {
            session.flash(FlashKind::Info, "Two-factor authentication is on.");
            backup_codes_page(&session, &current, &codes)
        }
        Err(AuthError::InvalidCode) => {
            let csrf = session.csrf_token();
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::render(&MfaConfirmRetry {
                    frame: frame(
                        "Set up two-factor authentication",
                        &session,
                        Some(&current.user.email),
                        &csrf,
                    ),
                    error: "That code is not valid. Check that the app's clock is right and try the newest code.",
                }),
            )
        }
        Err(AuthError::MfaNotEnabled) => settings_flash(
            &session,
            FlashKind::Error,
            "No set-up is in progress. Start again with \"Set up two-factor authentication\".",
        ),
        Err(AuthError::MfaAlreadyEnabled) => settings_flash(
            &session,
            FlashKind::Info,
            "Two-factor authentication is already on.",
        ),
        Err(e) => auth_failure(e),
    }
}

/// `POST /users/settings/mfa/revoke-trusted-browsers`: one epoch increment
/// invalidates every trust cookie of the user.
pub(super) async fn revoke_trusted_browsers(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
) -> Response {
    match sigra
        .auth()
        .revoke_all_trusted_browsers(current.user.id)
        .await
    {
        Ok(_) => settings_flash(
            &session,
            FlashKind::Info,
            "Every browser you trusted will ask for a code at the next log-in.",
        ),
        Err(e) => auth_failure(e),
    }
}

/// `None` inside the sudo window; otherwise the 303 to the password page.
fn require_sudo(sigra: &Sigra, current: &CurrentUser, session: &AuthSession) -> Option<Response> {
    if sigra.auth().in_sudo(&current.session) {
        return None;
    }
    session.flash(
        FlashKind::Info,
        "Enter your password to confirm it is you, then try again.",
    );
    Some(Redirect::to(SUDO_PATH).into_response())
}

/// `POST /users/settings/mfa/disable` (sudo): deletes the secret and backup
/// codes and forgets every trusted browser.
pub(super) async fn disable(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
) -> Response {
    if let Some(response) = require_sudo(&sigra, &current, &session) {
        return response;
    }
    match sigra.auth().disable_mfa(&current.user).await {
        Ok(()) => settings_flash(
            &session,
            FlashKind::Info,
            "Two-factor authentication is off.",
        ),
        Err(e) => auth_failure(e),
    }
}

/// `POST /users/settings/mfa/backup-codes` (sudo): new codes, shown once.
pub(super) async fn regenerate_backup_codes(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
) -> Response {
    if let Some(response) = require_sudo(&sigra, &current, &session) {
        return response;
    }
    match sigra.auth().regenerate_backup_codes(&current.user).await {
        Ok(codes) => backup_codes_page(&session, &current, &codes),
        Err(AuthError::MfaNotEnabled) => settings_flash(
            &session,
            FlashKind::Error,
            "Two-factor authentication is not on.",
        ),
        Err(e) => auth_failure(e),
    }
}

fn sudo_response(
    session: &AuthSession,
    current: &CurrentUser,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let csrf = session.csrf_token();
    html(
        status,
        pages::render(&Sudo {
            frame: frame(
                "Confirm your password",
                session,
                Some(&current.user.email),
                &csrf,
            ),
            error,
        }),
    )
}

/// `GET /users/sudo`: the password form.
pub(super) async fn sudo_page(current: CurrentUser, session: AuthSession) -> Response {
    sudo_response(&session, &current, StatusCode::OK, None)
}

/// The sudo form's field.
#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current_password: String,
}

/// `POST /users/sudo`: the password opens the sudo window, then back to settings.
pub(super) async fn sudo(
    State(sigra): State<Sigra>,
    current: CurrentUser,
    session: AuthSession,
    Form(form): Form<PasswordForm>,
) -> Response {
    let password = SecretString::from(form.current_password);
    match sigra.auth().confirm_sudo(&current.session, &password).await {
        Ok(()) => settings_flash(
            &session,
            FlashKind::Info,
            "Password confirmed. You can change your security settings for the next few minutes.",
        ),
        Err(AuthError::InvalidCredentials) => sudo_response(
            &session,
            &current,
            StatusCode::UNAUTHORIZED,
            Some("That is not your current password."),
        ),
        Err(AuthError::Locked { .. }) => sudo_response(
            &session,
            &current,
            StatusCode::TOO_MANY_REQUESTS,
            Some(PASSWORD_LOCKED),
        ),
        Err(e) => auth_failure(e),
    }
}
