//! Plain, accessible HTML for the default pages. No inline script or style:
//! the stylesheet is served from `/sigra/style.css`, so the strict CSP holds.

use std::fmt::Write as _;

use axum::response::Html;
use sigra_core::model::Session;

use crate::cookies::{Flash, FlashKind};
use crate::layer::CSRF_FIELD;

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

/// The settings page: the user's sessions and "log out everywhere".
pub(crate) fn settings(
    csrf: &str,
    sessions: &[Session],
    current: &Session,
    mfa_enabled: bool,
) -> String {
    let mut rows = String::new();
    for s in sessions {
        let _ = write!(
            rows,
            r#"<tr class="session"><td>{kind}{this}</td><td>{ip}</td><td>{ua}</td><td>{created}</td><td>{active}</td></tr>"#,
            kind = escape(s.kind.as_str()),
            this = if s.id == current.id {
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
    format!(
        r#"<h2>Sessions</h2>
<table id="sessions"><thead><tr><th>Kind</th><th>IP</th><th>Browser</th><th>Created</th><th>Last active</th></tr></thead>
<tbody>{rows}</tbody></table>
<form method="post" action="/users/settings/sessions/log-out-all">{csrf}<button type="submit" id="log-out-everywhere">Log out everywhere</button></form>
<h2>Two-factor authentication</h2>
<p id="mfa-state">{mfa}</p>"#,
        csrf = csrf_input(csrf),
        mfa = if mfa_enabled {
            "Enabled."
        } else {
            "Not enabled."
        }
    )
}
