//! Parsers from a variable's text to a setting's value; an `Err` is the problem's message (what was expected, and what was given when that is not a secret).
//!
//! The ones that are public let an application read variables of its own
//! with the same messages (as `sigra-cli` does for `DATABASE_URL`, `SMTP_URL`
//! and `PORT`).

use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use crate::duration::{parse_duration, quoted};
use crate::encryption::EncryptionKey;
use crate::keys::{KeyError, MIN_SECRET_KEY_BASE_LEN, SecretKeyBase};
use crate::rate_limit::RateLimit;

const ENCRYPTION_KEY_EXPECTED: &str = "expected base64 of exactly 32 bytes, e.g. from `sigra gen-key` or \
     `openssl rand -base64 32`";

/// A `SIGRA_HSTS` value, trimmed; an empty one turns the header off (`None`).
pub(crate) fn hsts(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A duration such as `30m` (see [`parse_duration`]).
pub fn duration(value: &str) -> Result<Duration, String> {
    parse_duration(value).map_err(|e| e.to_string())
}

/// A whole number of ASCII digits that fits `T`; `expected` opens the message.
pub fn number<T: FromStr>(expected: &'static str) -> impl Fn(&str) -> Result<T, String> {
    move |value| {
        let parsed = if value.bytes().all(|b| b.is_ascii_digit()) {
            value.parse().ok()
        } else {
            None
        };
        parsed.ok_or_else(|| format!("{expected}, got {}", quoted(value)))
    }
}

/// `on`/`off`, `true`/`false` or `1`/`0`, in any case.
pub fn switch(value: &str) -> Result<bool, String> {
    let is = |words: [&str; 3]| words.iter().any(|w| w.eq_ignore_ascii_case(value));
    if is(["on", "true", "1"]) {
        Ok(true)
    } else if is(["off", "false", "0"]) {
        Ok(false)
    } else {
        Err(format!(
            "expected on/off, true/false or 1/0, got {}",
            quoted(value)
        ))
    }
}

/// A URL that starts with one of `allowed` (case-insensitively), kept secret.
/// The message names at most the scheme, never the rest of the value.
pub fn url_with_scheme(value: &str, allowed: &[&str]) -> Result<SecretString, String> {
    check_scheme(value, allowed)?;
    Ok(SecretString::from(value.to_owned()))
}

/// `REDIS_URL`: `redis://` or `rediss://`.
pub(crate) fn redis_url(value: &str) -> Result<SecretString, String> {
    url_with_scheme(value, &["redis://", "rediss://"])
}

/// `SECRET_KEY_BASE`: the bytes as given, at least 64 of them. Never echoed.
pub(crate) fn secret_key_base(value: &str) -> Result<SecretKeyBase, String> {
    SecretKeyBase::new(value.as_bytes().to_vec()).map_err(|e| match e {
        KeyError::TooShort { len } => format!(
            "must be at least {MIN_SECRET_KEY_BASE_LEN} bytes, got {len} bytes; \
             generate one with `sigra gen-secret`"
        ),
        e => e.to_string(),
    })
}

/// `ENCRYPTION_KEY`: base64 of 32 bytes. Never echoed, not even a malformed one.
pub(crate) fn encryption_key(value: &str) -> Result<EncryptionKey, String> {
    EncryptionKey::from_base64(value).map_err(|_| {
        format!(
            "{ENCRYPTION_KEY_EXPECTED}; the value given ({} characters) is not",
            value.chars().count()
        )
    })
}

/// `ENCRYPTION_KEY_OLD`: comma-separated keys; the message names bad entries by position.
pub(crate) fn encryption_keys_old(value: &str) -> Result<Vec<EncryptionKey>, String> {
    let entries: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let mut keys = Vec::new();
    let mut bad = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match EncryptionKey::from_base64(entry) {
            Ok(key) => keys.push(key),
            Err(_) => bad.push((i + 1).to_string()),
        }
    }
    if bad.is_empty() {
        Ok(keys)
    } else {
        Err(format!(
            "{ENCRYPTION_KEY_EXPECTED} per comma-separated entry; entry {} of {} is not",
            bad.join(", "),
            entries.len()
        ))
    }
}

/// `SIGRA_TRUSTED_PROXIES`: comma-separated CIDR blocks or addresses, host bits cleared.
pub(crate) fn trusted_proxies(value: &str) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    let mut bad = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match parse_net(entry) {
            Some(net) => nets.push(net),
            None => bad.push(quoted(entry)),
        }
    }
    if bad.is_empty() {
        Ok(nets)
    } else {
        Err(format!(
            "expected comma-separated IP addresses or CIDR blocks like 10.0.0.0/8, \
             192.168.1.10 or fd00::/8, got {}",
            bad.join(", ")
        ))
    }
}

/// A CIDR block, or a bare address as a /32 or /128, with host bits cleared.
fn parse_net(entry: &str) -> Option<IpNet> {
    entry
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
        .ok()
}

/// `SIGRA_RATE_LIMIT_*`: `COUNT/PERIOD`.
pub(crate) fn rate_limit(value: &str) -> Result<RateLimit, String> {
    value.parse::<RateLimit>().map_err(|e| e.to_string())
}

/// `SIGRA_AUDIT_RETENTION`: a duration, or `keep` (`None`).
pub(crate) fn audit_retention(value: &str) -> Result<Option<Duration>, String> {
    if value.eq_ignore_ascii_case("keep") {
        return Ok(None);
    }
    parse_duration(value)
        .map(Some)
        .map_err(|e| format!("{e}, or `keep` to keep audit rows forever"))
}

/// `PUBLIC_URL` as an http(s) origin; whether prod allows it is a check of
/// its own. Messages never echo the value, which could carry credentials.
pub(crate) fn public_url(raw: &str) -> Result<Url, String> {
    const EXPECTED: &str = "expected an http(s) origin like https://myapp.com";
    let url =
        Url::parse(raw).map_err(|e| format!("{EXPECTED}, got a value that is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{EXPECTED}, got the scheme {}",
            quoted(url.scheme())
        ));
    }
    if url.host().is_none() {
        return Err(format!("{EXPECTED}, got a URL without a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{EXPECTED}, got a URL with a user name or password; remove the credentials"
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{EXPECTED} (scheme, host and optional port), got a URL with a path, query or fragment"
        ));
    }
    Ok(url)
}

/// `COOKIE_DOMAIN`, trimmed and lowercased, with its syntax checked; whether
/// it domain-matches `PUBLIC_URL` is a check of its own.
pub(crate) fn cookie_domain(raw: &str) -> Result<String, String> {
    const EXPECTED: &str = "expected a domain name like .myapp.com";
    let domain = raw.trim().to_ascii_lowercase();
    let bare = domain.strip_prefix('.').unwrap_or(&domain);
    let labels: Vec<&str> = bare.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if bare.is_empty() || bare.len() > 253 || !labels.iter().all(label_ok) {
        return Err(format!(
            "{EXPECTED} (letters, digits, hyphens and dots; internationalised names in \
             punycode), got {}",
            quoted(&domain)
        ));
    }
    if labels.len() < 2 {
        return Err(format!(
            "{EXPECTED}, got the bare top-level name {}; browsers refuse cookies for it",
            quoted(&domain)
        ));
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!(
            "{EXPECTED}, got the IP address {}; leave COOKIE_DOMAIN unset to use host-only cookies",
            quoted(&domain)
        ));
    }
    Ok(domain)
}

/// Checks that `url` starts with one of `allowed` (case-insensitively).
/// The message names at most the scheme, never the rest of the value.
fn check_scheme(url: &str, allowed: &[&str]) -> Result<(), String> {
    let ok = allowed.iter().any(|prefix| {
        url.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    });
    if ok {
        return Ok(());
    }
    let expected = match allowed {
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    };
    // Echo a scheme only in the unambiguous `scheme://` form: in
    // `user:password@host` the part before ':' is a user name, not a scheme.
    let scheme = url.split_once("://").map(|(s, _)| s).filter(|s| {
        !s.is_empty()
            && s.len() <= 16
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    Err(match scheme {
        Some(scheme) => format!(
            "expected a URL starting with {expected}, got one with the scheme {}",
            quoted(scheme)
        ),
        None => {
            format!("expected a URL starting with {expected}, got a value without a URL scheme")
        }
    })
}
