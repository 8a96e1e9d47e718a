//! Hostile input stays text: every page that echoes something a visitor typed
//! (or a value derived from it: email, flash, form error, session IP and
//! browser, reset token) escapes it in content and in attribute values.

use askama::Template;
use chrono::TimeZone as _;
use sigra_core::ids::UserId;
use sigra_core::model::{Session, SessionKind, SessionMeta};
use sigra_core::token::TokenHash;

use super::*;

/// Closes an attribute, opens a script, and quotes both ways.
const HOSTILE: &str = r#""><script>alert('x')</script><b title='"#;

/// `HOSTILE` as the page must show it.
const ESCAPED: &str =
    "&#34;&#62;&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;&#60;b title=&#39;";

fn frame(flash: bool) -> Frame<'static> {
    Frame {
        title: "Page",
        email: Some(HOSTILE),
        csrf: "csrf-token",
        flash: flash.then(|| Flash {
            kind: FlashKind::Error,
            message: HOSTILE.to_owned(),
        }),
    }
}

/// Renders `page` and checks that `HOSTILE` appears exactly `echoes` times,
/// each time escaped, and never raw.
#[track_caller]
fn assert_escaped(what: &str, page: &impl Template, echoes: usize) {
    let html = page.render().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        !html.contains("<script"),
        "{what}: a raw script tag\n{html}"
    );
    assert!(!html.contains("<b title"), "{what}: a raw tag\n{html}");
    assert!(!html.contains("'x'"), "{what}: a raw quote\n{html}");
    assert_eq!(html.matches(ESCAPED).count(), echoes, "{what}\n{html}");
}

#[test]
fn the_layout_escapes_the_signed_in_email_and_the_flash() {
    // The header's email and the flash message, on a page with nothing else.
    assert_escaped("address taken", &AddressTaken { frame: frame(true) }, 2);
    // Signed out: no header email; the flash alone.
    assert_escaped(
        "error page",
        &ErrorPage {
            frame: Frame {
                title: "Forbidden",
                flash: frame(true).flash,
                ..Frame::default()
            },
            message: HOSTILE,
        },
        2,
    );
}

#[test]
fn every_page_that_echoes_input_escapes_it() {
    // Each count is the header email plus the flash, plus the page's own echoes.
    assert_escaped("home", &Home { frame: frame(true) }, 3);
    assert_escaped(
        "dashboard",
        &Dashboard {
            frame: frame(true),
            email: HOSTILE,
        },
        3,
    );
    assert_escaped(
        "log in",
        &LogIn {
            frame: frame(true),
            email: HOSTILE,
            error: Some(HOSTILE),
            require_confirmation: true,
        },
        4,
    );
    assert_escaped(
        "register",
        &Register {
            frame: frame(true),
            email: HOSTILE,
            error: Some(HOSTILE),
        },
        4,
    );
    assert_escaped(
        "mfa challenge",
        &MfaChallenge {
            frame: frame(true),
            trust_for: "30 days",
            error: Some(HOSTILE),
        },
        3,
    );
    assert_escaped(
        "mfa confirm retry",
        &MfaConfirmRetry {
            frame: frame(true),
            error: HOSTILE,
        },
        3,
    );
    assert_escaped(
        "sudo",
        &Sudo {
            frame: frame(true),
            error: Some(HOSTILE),
        },
        3,
    );
    assert_escaped(
        "reset request",
        &ResetRequest {
            frame: frame(true),
            sent: true,
        },
        2,
    );
    assert_escaped(
        "reset password (token in the form's URL)",
        &ResetPassword {
            frame: frame(true),
            token: HOSTILE,
            password_min_length: 12,
            error: Some(HOSTILE),
        },
        4,
    );
    assert_escaped(
        "invalid link",
        &InvalidLink {
            frame: frame(true),
            what_next: "Ask again.",
        },
        2,
    );
    assert_escaped(
        "email change sent",
        &EmailChangeSent {
            frame: frame(true),
            new_email: HOSTILE,
        },
        3,
    );
    assert_escaped(
        "backup codes",
        &BackupCodes {
            frame: frame(true),
            codes: &[HOSTILE],
        },
        3,
    );
    assert_escaped(
        "mfa enroll",
        &MfaEnroll {
            frame: frame(true),
            secret: HOSTILE,
            otpauth_uri: HOSTILE,
            qr: None,
        },
        4,
    );
}

#[test]
fn the_settings_page_escapes_email_sessions_and_form_errors() {
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .unwrap_or_else(|| panic!("a valid date"));
    // The IP and user agent come from request headers: a client picks them.
    let session = Session::new(
        UserId::new(now),
        TokenHash::from_bytes([7; 32]),
        SessionKind::Standard,
        SessionMeta::new(Some(HOSTILE.to_owned()), Some(HOSTILE.to_owned())),
        now,
    );
    for (form, what) in [
        (SettingsForm::Password, "password error"),
        (SettingsForm::Email, "email error"),
        (SettingsForm::DeleteAccount, "delete error"),
    ] {
        assert_escaped(
            what,
            &Settings {
                frame: frame(true),
                sessions: std::slice::from_ref(&session),
                current: &session,
                email: HOSTILE,
                email_confirmed: false,
                mfa_enabled: true,
                backup_codes_left: Some(3),
                password_min_length: 12,
                grace_period: "14 days",
                error: Some((form, HOSTILE)),
                new_email: HOSTILE,
            },
            // Header email, flash, IP, browser, address, new-address field, the one error.
            7,
        );
    }
}

#[test]
fn the_csrf_token_sits_in_an_escaped_attribute() {
    let html = LogIn {
        frame: Frame {
            title: "Log in",
            csrf: HOSTILE,
            ..Frame::default()
        },
        email: "",
        error: None,
        require_confirmation: false,
    }
    .render()
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(html.contains(&format!(
        r#"<input type="hidden" name="{}" value="{ESCAPED}">"#,
        crate::CSRF_FIELD
    )));
}
