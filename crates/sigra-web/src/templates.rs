//! The default pages as templates: one struct per page, each bound to its file in
//! `crates/sigra-web/templates/`, all of them extending `layout.html`.
//!
//! **Why askama (and not minijinja).** Askama compiles each template into Rust
//! at build time: the page is written straight into one `String` whose
//! capacity is known, with no environment, no value conversion and no lookup
//! by name per request. The signed-in dashboard is benchmarked against the
//! peers, and rendering was about 5% of the server's CPU there: rendered
//! 400,000 times in a release build on this machine (three rounds), the page
//! took 0.2–0.6 µs with askama, 0.6–1.7 µs with the former `format!` and
//! `escape`, and 3.3–5.7 µs with minijinja 3.1 (same layout, `Serde` context).
//! The templates are part of the binary (nothing to ship or find at run
//! time), HTML escaping is on for every `.html` file, and a field that a
//! template names but a struct lacks is a compile error, not an empty string
//! in production. Its cost is at build time: a proc-macro crate and its
//! parser (on `syn`, already in the tree), built once, with default features
//! off (no config file, no URL filters); a template edit recompiles
//! `sigra-web` only. What askama cannot do is replace a page at run time by name, which
//! a later issue asks for (hosts restyling or translating a page). That stays
//! open: each page is a plain struct with named fields, so an override can
//! render the same struct with a runtime engine (minijinja, behind a feature)
//! while the defaults keep the compiled path; minijinja for every request
//! would instead interpret every page, escape through its own value model
//! (it also escapes `/`, changing the `otpauth://` text) and report a
//! misspelt field only when the page is shown.
//!
//! Everything a page echoes goes through askama's escaping; the only `|safe`
//! values are the QR code's SVG (drawn by the `qrcode` crate) and the
//! `&'static str` hints of [`InvalidLink`], written in the code.

use askama::Template;
use sigra_core::model::Session;

use crate::cookies::{Flash, FlashKind};

/// What every page needs besides its body: the layout's title, the header's
/// navigation (signed in when `email` is set) and the flash message.
#[derive(Debug, Default)]
pub(crate) struct Frame<'a> {
    /// The `<title>` and the `<h1>`.
    pub(crate) title: &'a str,
    /// The signed-in user's email: the header shows it with the log-out form.
    pub(crate) email: Option<&'a str>,
    /// The session's CSRF token, for every form on the page (empty on the
    /// layer's error pages, which have no form).
    pub(crate) csrf: &'a str,
    /// A one-shot message above the title.
    pub(crate) flash: Option<Flash>,
}

/// A bare error page: a title and one message.
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) message: &'a str,
}

/// The demo app's home page (its email comes from the frame).
#[derive(Debug, Template)]
#[template(path = "home.html")]
pub(crate) struct Home<'a> {
    pub(crate) frame: Frame<'a>,
}

/// The demo app's page for signed-in users.
#[derive(Debug, Template)]
#[template(path = "dashboard.html")]
pub(crate) struct Dashboard<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) email: &'a str,
}

/// The log-in form, with the email as typed and the failure, if any.
#[derive(Debug, Template)]
#[template(path = "log_in.html")]
pub(crate) struct LogIn<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) email: &'a str,
    pub(crate) error: Option<&'a str>,
    /// Whether to link the resend-confirmation form (`SIGRA_REQUIRE_CONFIRMATION`).
    pub(crate) require_confirmation: bool,
}

/// The registration form, with the email as typed and the failure, if any.
#[derive(Debug, Template)]
#[template(path = "register.html")]
pub(crate) struct Register<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) email: &'a str,
    pub(crate) error: Option<&'a str>,
}

/// Which settings form an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SettingsForm {
    /// Change password.
    Password,
    /// Change email.
    Email,
    /// Delete the account.
    DeleteAccount,
}

/// The settings page: sessions, two-factor authentication, password, email
/// address and account deletion.
#[derive(Debug, Template)]
#[template(path = "settings.html")]
pub(crate) struct Settings<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) sessions: &'a [Session],
    pub(crate) current: &'a Session,
    pub(crate) email: &'a str,
    pub(crate) email_confirmed: bool,
    pub(crate) mfa_enabled: bool,
    /// Unused backup codes (when MFA is on).
    pub(crate) backup_codes_left: Option<u64>,
    /// The password's minimum length, as a hint for the browser.
    pub(crate) password_min_length: usize,
    /// How long deletion waits, e.g. "14 days".
    pub(crate) grace_period: &'a str,
    /// A message for one form.
    pub(crate) error: Option<(SettingsForm, &'a str)>,
    /// The email to put back into the email form.
    pub(crate) new_email: &'a str,
}

impl Settings<'_> {
    /// The message for `form`, if the error belongs to it.
    fn error_for(&self, form: SettingsForm) -> Option<&str> {
        self.error
            .and_then(|(f, message)| (f == form).then_some(message))
    }
}

/// The second-factor form of a pending log-in.
#[derive(Debug, Template)]
#[template(path = "mfa_challenge.html")]
pub(crate) struct MfaChallenge<'a> {
    pub(crate) frame: Frame<'a>,
    /// How long a trusted browser skips the code, e.g. "30 days".
    pub(crate) trust_for: &'a str,
    pub(crate) error: Option<&'a str>,
}

/// The enrolment page: QR code, secret, `otpauth://` URI and the confirm
/// form. The only page that ever shows the TOTP secret.
#[derive(Debug, Template)]
#[template(path = "mfa_enroll.html")]
pub(crate) struct MfaEnroll<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) secret: &'a str,
    pub(crate) otpauth_uri: &'a str,
    /// The URI's QR code as inline SVG ([`crate::pages::qr_svg`]); `None`
    /// when it could not be drawn.
    pub(crate) qr: Option<String>,
}

/// The confirm form alone, after a wrong code (the secret is not shown again).
#[derive(Debug, Template)]
#[template(path = "mfa_confirm_retry.html")]
pub(crate) struct MfaConfirmRetry<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) error: &'a str,
}

/// Fresh backup codes, shown once.
#[derive(Debug, Template)]
#[template(path = "backup_codes.html")]
pub(crate) struct BackupCodes<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) codes: &'a [&'a str],
}

/// The password form that opens the sudo window.
#[derive(Debug, Template)]
#[template(path = "sudo.html")]
pub(crate) struct Sudo<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) error: Option<&'a str>,
}

/// The "forgot your password" form; `sent` after a request (the same answer
/// for every address).
#[derive(Debug, Template)]
#[template(path = "reset_request.html")]
pub(crate) struct ResetRequest<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) sent: bool,
}

/// The new-password form of a reset link. `token` only goes back into the
/// form's own URL.
#[derive(Debug, Template)]
#[template(path = "reset_password.html")]
pub(crate) struct ResetPassword<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) token: &'a str,
    pub(crate) password_min_length: usize,
    pub(crate) error: Option<&'a str>,
}

/// A dead email link: what happened, and what to do next.
#[derive(Debug, Template)]
#[template(path = "invalid_link.html")]
pub(crate) struct InvalidLink<'a> {
    pub(crate) frame: Frame<'a>,
    /// Trusted markup (it may hold a link), hence `'static`: never user input.
    pub(crate) what_next: &'static str,
}

/// The page an email link opens: one button that posts back to the link.
/// Opening the link (a `GET`, which mail scanners do too) changes nothing.
#[derive(Debug, Template)]
#[template(path = "email_link.html")]
pub(crate) struct EmailLink<'a> {
    pub(crate) frame: Frame<'a>,
    /// The link's own path: the form posts to it.
    pub(crate) action: &'a str,
    /// What pressing the button does.
    pub(crate) prompt: &'static str,
    /// The button's label.
    pub(crate) button: &'static str,
}

/// The resend-confirmation form; on a log-in of an unconfirmed account
/// (`SIGRA_REQUIRE_CONFIRMATION`) it says why log-in was refused.
#[derive(Debug, Template)]
#[template(path = "confirm_first.html")]
pub(crate) struct ConfirmFirst<'a> {
    pub(crate) frame: Frame<'a>,
    /// The address to resend to, as typed.
    pub(crate) email: &'a str,
    /// A log-in with the right password of an unconfirmed account.
    pub(crate) unconfirmed: bool,
    /// After a resend request: the same answer for every address.
    pub(crate) sent: bool,
}

/// After asking to change the email: where the link went.
#[derive(Debug, Template)]
#[template(path = "email_change_sent.html")]
pub(crate) struct EmailChangeSent<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) new_email: &'a str,
}

/// A confirmed email change whose address another account took meanwhile.
#[derive(Debug, Template)]
#[template(path = "address_taken.html")]
pub(crate) struct AddressTaken<'a> {
    pub(crate) frame: Frame<'a>,
}

#[cfg(test)]
mod tests;
