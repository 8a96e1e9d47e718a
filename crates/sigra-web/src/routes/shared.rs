//! What the default pages share: the page frame, HTML responses, the
//! settings page (re-rendered by the forms on it), small formatting helpers
//! and the response to a failure that is not the user's fault.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sigra_core::auth::AuthError;

use crate::extract::{AuthSession, CurrentUser};
use crate::pages;
use crate::rejection::Unavailable;
use crate::sigra::Sigra;
use crate::templates::{Frame, Settings, SettingsForm};

/// The form error of a password check refused because the account is locked
/// (too many wrong passwords, at log-in or behind a session); answered 429.
pub(super) const PASSWORD_LOCKED: &str = "Too many wrong passwords: password checks for this \
     account are paused for a few minutes. Its owner was emailed a link to reset the password.";

pub(super) fn frame<'a>(
    title: &'a str,
    session: &AuthSession,
    email: Option<&'a str>,
    csrf: &'a str,
) -> Frame<'a> {
    Frame {
        title,
        email,
        csrf,
        flash: session.take_flash(),
    }
}

pub(super) fn html(status: StatusCode, body: axum::response::Html<String>) -> Response {
    (status, body).into_response()
}

pub(super) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// 303 to the remembered return path (used once), or home.
pub(super) fn return_home(session: &AuthSession) -> Response {
    let to = session.take_return_to().unwrap_or_else(|| "/".to_owned());
    Redirect::to(&to).into_response()
}

/// The settings page, with `status` and an optional message for one form
/// (`new_email` goes back into the email form).
pub(super) async fn settings_page(
    sigra: &Sigra,
    current: &CurrentUser,
    session: &AuthSession,
    status: StatusCode,
    error: Option<(SettingsForm, &str)>,
    new_email: &str,
) -> Response {
    let auth = sigra.auth();
    let sessions = match auth.list_sessions(current.user.id).await {
        Ok(sessions) => sessions,
        Err(e) => return auth_failure(e),
    };
    let backup_codes_left = if current.user.mfa_enabled {
        match auth.remaining_backup_codes(current.user.id).await {
            Ok(n) => Some(n),
            Err(e) => return auth_failure(e),
        }
    } else {
        None
    };
    let csrf = session.csrf_token();
    let grace_period = human_duration(auth.config().retention.deletion_grace_period);
    let page = Settings {
        frame: frame("Settings", session, Some(&current.user.email), &csrf),
        sessions: &sessions,
        current: &current.session,
        email: &current.user.email,
        email_confirmed: current.user.confirmed_at.is_some(),
        mfa_enabled: current.user.mfa_enabled,
        backup_codes_left,
        password_min_length: auth.config().password.min_length,
        grace_period: &grace_period,
        error,
        new_email,
    };
    html(status, pages::render(&page))
}

/// A duration as people say it: "14 days", "1 hour", "90 minutes".
pub(super) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs >= 86_400 && secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Maps a failure that is not the user's fault to a deliberate response.
pub(super) fn auth_failure(e: AuthError) -> Response {
    match e {
        AuthError::Busy(_) => Unavailable::Busy.into_response(),
        other => {
            tracing::error!(name: "sigra.web.error", error = %other);
            Unavailable::Internal.into_response()
        }
    }
}
