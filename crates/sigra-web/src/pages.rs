//! Plain, accessible HTML for the default pages. No inline script or style:
//! the stylesheet is served from `/sigra/style.css`, so the strict CSP holds.

use std::fmt::Write as _;

use axum::response::Html;
use sigra_core::model::Session;

use crate::cookies::{Flash, FlashKind};
use crate::csrf::CSRF_FIELD;

/// The stylesheet, served at `/sigra/style.css`.
pub(crate) const STYLESHEET: &str = "\
:root{font-family:system-ui,sans-serif;line-height:1.5;color:#1b1b1f;background:#fafafa}\
body{max-width:40rem;margin:0 auto;padding:1rem 1.5rem}\
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;border-bottom:1px solid #ddd;margin-bottom:1.5rem}\
header nav{display:flex;gap:.75rem;align-items:center}\
a{color:#1d4ed8}\
form.stack{display:grid;gap:.75rem;max-width:24rem}\
label{display:grid;gap:.25rem;font-weight:600}\
input[type=email],input[type=password],input[type=text]{font:inherit;padding:.5rem;border:1px solid #888;border-radius:.25rem}\
button{font:inherit;padding:.5rem 1rem;border:0;border-radius:.25rem;background:#1d4ed8;color:#fff;cursor:pointer}\
button.link{background:none;color:#1d4ed8;padding:0;text-decoration:underline}\
.inline{display:inline}\
.flash{padding:.75rem;border-radius:.25rem;margin-bottom:1rem}\
.flash.info{background:#e0f2fe}.flash.error,.error{background:#fee2e2;padding:.75rem;border-radius:.25rem}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}\
code{background:#eee;padding:.1rem .3rem;border-radius:.2rem}\
section{margin-bottom:2rem}\
form.row{margin:.5rem 0}\
figure.qr svg{width:14rem;height:auto;max-width:100%}\
#totp-secret,#otpauth-uri{word-break:break-all}\
ul.backup-codes{columns:2;font-family:ui-monospace,monospace;font-size:1.1rem}\
";

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What every page needs besides its body.
#[derive(Debug, Default)]
pub(crate) struct Frame<'a> {
    pub(crate) title: &'a str,
    pub(crate) email: Option<&'a str>,
    pub(crate) csrf: Option<&'a str>,
    pub(crate) flash: Option<Flash>,
}

/// The hidden CSRF input for a form.
pub(crate) fn csrf_input(csrf: &str) -> String {
    format!(
        r#"<input type="hidden" name="{CSRF_FIELD}" value="{}">"#,
        escape(csrf)
    )
}

/// A whole page.
pub(crate) fn page(frame: Frame<'_>, body: &str) -> Html<String> {
    let mut nav = String::new();
    match (frame.email, frame.csrf) {
        (Some(email), Some(csrf)) => {
            let _ = write!(
                nav,
                r#"<span id="current-user">{}</span><a href="/dashboard">Dashboard</a><a href="/users/settings">Settings</a><form class="inline" method="post" action="/users/log-out">{}<button class="link" type="submit" id="log-out">Log out</button></form>"#,
                escape(email),
                csrf_input(csrf)
            );
        }
        _ => nav.push_str(
            r#"<a href="/users/register">Register</a><a href="/users/log-in">Log in</a>"#,
        ),
    }
    let flash = frame.flash.map_or(String::new(), |f| {
        let kind = match f.kind {
            FlashKind::Info => "info",
            FlashKind::Error => "error",
        };
        format!(
            r#"<p class="flash {kind}" role="status">{}</p>"#,
            escape(&f.message)
        )
    });
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title} · Sigra</title><link rel="stylesheet" href="/sigra/style.css"></head>
<body>
<header><p><a href="/"><strong>Sigra</strong></a></p><nav>{nav}</nav></header>
<main>
{flash}<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        title = escape(frame.title)
    ))
}

/// A bare error page (used by the layer, which has no user context).
pub(crate) fn error_page(title: &str, message: &str) -> Html<String> {
    page(
        Frame {
            title,
            ..Frame::default()
        },
        &format!("<p>{}</p>", escape(message)),
    )
}

fn error_block(error: Option<&str>) -> String {
    error.map_or(String::new(), |e| {
        format!(
            r#"<p class="error" role="alert" id="form-error">{}</p>"#,
            escape(e)
        )
    })
}

/// The log-in form.
pub(crate) fn log_in_form(csrf: &str, email: &str, error: Option<&str>) -> String {
    format!(
        r#"{error}<form class="stack" method="post" action="/users/log-in">
{csrf}
<label>Email <input type="email" name="email" id="email" value="{email}" autocomplete="username" required></label>
<label>Password <input type="password" name="password" id="password" autocomplete="current-password" required></label>
<label><span><input type="checkbox" name="remember_me" id="remember_me" value="true"> Keep me logged in</span></label>
<button type="submit" id="log-in">Log in</button>
</form>
<p>No account? <a href="/users/register">Register</a>.</p>"#,
        error = error_block(error),
        csrf = csrf_input(csrf),
        email = escape(email)
    )
}

/// The registration form.
pub(crate) fn register_form(csrf: &str, email: &str, error: Option<&str>) -> String {
    format!(
        r#"{error}<form class="stack" method="post" action="/users/register">
{csrf}
<label>Email <input type="email" name="email" id="email" value="{email}" autocomplete="username" required></label>
<label>Password <input type="password" name="password" id="password" autocomplete="new-password" minlength="8" required></label>
<button type="submit" id="register">Create account</button>
</form>
<p>Already registered? <a href="/users/log-in">Log in</a>.</p>"#,
        error = error_block(error),
        csrf = csrf_input(csrf),
        email = escape(email)
    )
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

/// Everything the settings page shows.
#[derive(Debug)]
pub(crate) struct SettingsView<'a> {
    pub(crate) csrf: &'a str,
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
    /// A message for one form, and the email to put back into the email form.
    pub(crate) error: Option<(SettingsForm, &'a str)>,
    pub(crate) new_email: &'a str,
}

/// The settings page: sessions, two-factor authentication, password, email
/// address and account deletion.
pub(crate) fn settings(view: &SettingsView<'_>) -> String {
    let csrf = csrf_input(view.csrf);
    let error_for = |form: SettingsForm| {
        error_block(
            view.error
                .and_then(|(f, message)| (f == form).then_some(message)),
        )
    };
    let mut rows = String::new();
    for s in view.sessions {
        let _ = write!(
            rows,
            r#"<tr class="session"><td>{kind}{this}</td><td>{ip}</td><td>{ua}</td><td>{created}</td><td>{active}</td></tr>"#,
            kind = escape(s.kind.as_str()),
            this = if s.id == view.current.id {
                " (this browser)"
            } else {
                ""
            },
            ip = escape(s.ip.as_deref().unwrap_or("unknown")),
            ua = escape(s.user_agent.as_deref().unwrap_or("unknown")),
            created = s.created_at.format("%Y-%m-%d %H:%M UTC"),
            active = s.last_active_at.format("%Y-%m-%d %H:%M UTC"),
        );
    }
    let mfa = if view.mfa_enabled {
        format!(
            r#"<p id="mfa-state">Enabled.</p>
<p>Unused backup codes: <strong id="backup-codes-remaining">{left}</strong></p>
<p>Turning two-factor authentication off or replacing your backup codes asks for your password first.</p>
<form class="row" method="post" action="/users/settings/mfa/backup-codes">{csrf}<button type="submit" id="regenerate-backup-codes">Replace my backup codes</button></form>
<form class="row" method="post" action="/users/settings/mfa/revoke-trusted-browsers">{csrf}<button type="submit" id="revoke-trusted-browsers">Forget every trusted browser</button></form>
<form class="row" method="post" action="/users/settings/mfa/disable">{csrf}<button type="submit" id="disable-mfa">Turn off two-factor authentication</button></form>"#,
            left = view.backup_codes_left.unwrap_or(0),
        )
    } else {
        format!(
            r#"<p id="mfa-state">Not enabled.</p>
<p>Protect your account with a code from an authenticator app as well as your password.</p>
<form class="row" method="post" action="/users/settings/mfa/enroll">{csrf}<button type="submit" id="enroll-mfa">Set up two-factor authentication</button></form>"#
        )
    };
    format!(
        r#"<section aria-labelledby="sessions-heading"><h2 id="sessions-heading">Sessions</h2>
<table id="sessions"><thead><tr><th>Kind</th><th>IP</th><th>Browser</th><th>Created</th><th>Last active</th></tr></thead>
<tbody>{rows}</tbody></table>
<form method="post" action="/users/settings/sessions/log-out-all">{csrf}<button type="submit" id="log-out-everywhere">Log out everywhere</button></form></section>
<section aria-labelledby="mfa-heading"><h2 id="mfa-heading">Two-factor authentication</h2>
{mfa}</section>
<section aria-labelledby="password-heading"><h2 id="password-heading">Password</h2>
<p>Changing your password logs out every other session.</p>
{password_error}<form class="stack" method="post" action="/users/settings/password">
{csrf}
<label>Current password <input type="password" name="current_password" id="current_password" autocomplete="current-password" required></label>
<label>New password <input type="password" name="password" id="password" autocomplete="new-password" minlength="{min}" required></label>
<button type="submit" id="change-password">Change password</button>
</form></section>
<section aria-labelledby="email-heading"><h2 id="email-heading">Email address</h2>
<p>Your address is <strong id="settings-email">{email}</strong>. <span id="email-confirmed">{confirmed}</span></p>
{email_error}<form class="stack" method="post" action="/users/settings/email">
{csrf}
<label>New email address <input type="email" name="email" id="email" value="{new_email}" autocomplete="email" required></label>
<label>Current password <input type="password" name="current_password" id="email_current_password" autocomplete="current-password" required></label>
<button type="submit" id="change-email">Send a confirmation link</button>
</form>
<p>We email a link to the new address; the change happens when you open it, and every session is logged out.</p></section>
<section aria-labelledby="delete-heading"><h2 id="delete-heading">Delete account</h2>
<p>Your account is deleted after {grace}. You are logged out everywhere at once, and we email you a link that cancels the deletion until then.</p>
{delete_error}<form class="stack" method="post" action="/users/settings/delete-account">
{csrf}
<label>Current password <input type="password" name="current_password" id="delete_current_password" autocomplete="current-password" required></label>
<button type="submit" id="delete-account">Delete my account</button>
</form></section>"#,
        min = view.password_min_length,
        email = escape(view.email),
        confirmed = if view.email_confirmed {
            "Confirmed."
        } else {
            "Not confirmed yet: open the link we emailed you."
        },
        new_email = escape(view.new_email),
        grace = escape(view.grace_period),
        password_error = error_for(SettingsForm::Password),
        email_error = error_for(SettingsForm::Email),
        delete_error = error_for(SettingsForm::DeleteAccount),
    )
}

/// The second-factor form of a pending log-in.
pub(crate) fn mfa_challenge(csrf: &str, trust_for: &str, error: Option<&str>) -> String {
    format!(
        r#"<p>Enter the 6-digit code your authenticator app shows now, or one of your backup codes.</p>
{error}<form class="stack" method="post" action="/users/mfa">
{csrf}
<label>Code <input type="text" name="code" id="code" autocomplete="one-time-code" autocapitalize="off" spellcheck="false" required></label>
<label><span><input type="checkbox" name="trust_browser" id="trust_browser" value="true"> Trust this browser for {trust_for} (do not use on a shared computer)</span></label>
<button type="submit" id="verify-code">Verify</button>
</form>
<form class="row" method="post" action="/users/log-out">{csrf}<button class="link" type="submit" id="cancel-log-in">Cancel and log in as someone else</button></form>"#,
        error = error_block(error),
        csrf = csrf_input(csrf),
        trust_for = escape(trust_for),
    )
}

/// The form that confirms enrolment with a first code.
fn mfa_confirm_form(csrf: &str) -> String {
    format!(
        r#"<form class="stack" method="post" action="/users/settings/mfa/confirm">
{csrf}
<label>Code from your app <input type="text" name="code" id="code" inputmode="numeric" autocomplete="one-time-code" required></label>
<button type="submit" id="confirm-mfa">Turn on two-factor authentication</button>
</form>
<p><a href="/users/settings">Cancel</a></p>"#,
        csrf = csrf_input(csrf)
    )
}

/// The enrolment page: QR code, secret, `otpauth://` URI and the confirm form.
/// The only page that ever shows the TOTP secret.
pub(crate) fn mfa_enroll(csrf: &str, secret_base32: &str, otpauth_uri: &str) -> String {
    let qr = qr_svg(otpauth_uri).map_or_else(
        || "<p>The QR code could not be drawn; type the key in instead.</p>".to_owned(),
        |svg| {
            format!(
                r#"<figure class="qr" id="totp-qr">{svg}<figcaption>Scan this with your authenticator app.</figcaption></figure>"#
            )
        },
    );
    format!(
        r#"<p>1. Add Sigra to an authenticator app: scan the QR code, or type in the key.</p>
{qr}
<p>Key: <code id="totp-secret">{secret}</code></p>
<p>Setup link: <code id="otpauth-uri">{uri}</code></p>
<p>2. Enter the code the app shows to finish.</p>
{form}"#,
        secret = escape(secret_base32),
        uri = escape(otpauth_uri),
        form = mfa_confirm_form(csrf),
    )
}

/// The confirm form alone, after a wrong code (the secret is not shown again).
pub(crate) fn mfa_confirm_retry(csrf: &str, error: &str) -> String {
    format!(
        "{}<p>Enter the code your authenticator app shows now for the key you just added.</p>\n{}",
        error_block(Some(error)),
        mfa_confirm_form(csrf)
    )
}

/// Fresh backup codes, shown once.
pub(crate) fn backup_codes(codes: &[&str]) -> String {
    let mut items = String::new();
    for code in codes {
        let _ = write!(items, r#"<li class="backup-code">{}</li>"#, escape(code));
    }
    format!(
        r#"<p>Save these backup codes somewhere safe, such as a password manager. Each one signs you in once if you cannot use your authenticator app. They are shown only now; any older codes no longer work.</p>
<ul class="backup-codes" id="backup-codes">{items}</ul>
<p><a href="/users/settings" id="backup-codes-done">I have saved them</a></p>"#
    )
}

/// The QR code of `data` as an inline SVG element: no XML declaration, no
/// `style` attributes (the CSP forbids inline styles), colours as `fill`.
pub(crate) fn qr_svg(data: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let start = image.find("<svg")?;
    let svg = &image[start..];
    Some(svg.replacen(
        "<svg",
        r#"<svg role="img" aria-label="QR code of the setup link""#,
        1,
    ))
}

/// The password form that opens the sudo window.
pub(crate) fn sudo_form(csrf: &str, error: Option<&str>) -> String {
    format!(
        r#"<p>For your security, enter your password again before changing two-factor authentication. You will not be asked again for a few minutes.</p>
{error}<form class="stack" method="post" action="/users/sudo">
{csrf}
<label>Current password <input type="password" name="current_password" id="current_password" autocomplete="current-password" required></label>
<button type="submit" id="confirm-password">Confirm</button>
</form>
<p><a href="/users/settings">Back to settings</a></p>"#,
        error = error_block(error),
        csrf = csrf_input(csrf),
    )
}

/// The "forgot your password" form; after a request, the same answer for
/// every address.
pub(crate) fn reset_request(csrf: &str, sent: bool) -> String {
    let notice = if sent {
        r#"<p class="flash info" role="status" id="reset-sent">If an account uses that address, we have emailed it a link to reset the password. The link works once, for one hour. Nothing arrived? Check your spam folder, or ask again in a minute.</p>
"#
    } else {
        ""
    };
    format!(
        r#"{notice}<p>Enter your account's email address and we will send you a link to choose a new password.</p>
<form class="stack" method="post" action="/users/reset-password">
{csrf}
<label>Email <input type="email" name="email" id="email" autocomplete="username" required></label>
<button type="submit" id="send-reset-link">Send the link</button>
</form>
<p><a href="/users/log-in">Back to log in</a></p>"#,
        csrf = csrf_input(csrf),
    )
}

/// The new-password form of a reset link. `token` only goes back into the
/// form's own URL.
pub(crate) fn reset_password(csrf: &str, token: &str, min: usize, error: Option<&str>) -> String {
    format!(
        r#"{error}<form class="stack" method="post" action="/users/reset-password/{token}">
{csrf}
<label>New password <input type="password" name="password" id="password" autocomplete="new-password" minlength="{min}" required></label>
<button type="submit" id="reset-password">Set the new password</button>
</form>
<p>Every session of your account is logged out when the password changes.</p>"#,
        error = error_block(error),
        csrf = csrf_input(csrf),
        token = escape(token),
    )
}

/// A dead email link: what happened, and `what_next` (static, trusted HTML).
pub(crate) fn invalid_link(what_next: &str) -> String {
    format!(
        r#"<p id="link-error">This link is invalid, was already used, or has expired.</p>
<p>{what_next}</p>"#
    )
}

/// After asking to change the email: where the link went.
pub(crate) fn email_change_sent(new_email: &str) -> String {
    format!(
        r#"<p id="email-change-sent">We sent a confirmation link to <strong>{}</strong>. Check that inbox: your address changes when you open the link, and every session is logged out.</p>
<p><a href="/users/settings">Back to settings</a></p>"#,
        escape(new_email)
    )
}
