//! How each kind of setting shows in `Debug`: durations in canonical form, secrets as `[REDACTED]`, URLs that may carry credentials as scheme and host only.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::duration::format_duration;
use crate::encryption::EncryptionKey;
use crate::keys::SecretKeyBase;
use crate::rate_limit::RateLimit;

/// A setting's value as `Debug` may show it.
pub(crate) trait Redact {
    /// Writes the value, leaving out anything secret.
    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Shows a setting through its [`Redact`] form.
pub(crate) struct Shown<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: Redact + ?Sized> fmt::Debug for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.redacted(f)
    }
}

/// Values with nothing secret in them show as their `Debug`.
macro_rules! plain {
    ($($ty:ty),*) => {
        $(impl Redact for $ty {
            fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        })*
    };
}

// `EncryptionKey`'s Debug shows only its public key id.
plain!(
    bool,
    u32,
    usize,
    String,
    PathBuf,
    IpNet,
    RateLimit,
    EncryptionKey
);

impl Redact for Duration {
    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(*self))
    }
}

impl Redact for Url {
    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Redact for SecretKeyBase {
    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Redact for SecretString {
    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted_url(self))
    }
}

impl<T: Redact> Redact for Option<T> {
    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_ref().map(Shown), f)
    }
}

impl<T: Redact> Redact for Vec<T> {
    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Shown)).finish()
    }
}

/// `scheme://host:port/[REDACTED]` for a URL that may carry credentials.
///
/// When the value contains `@` anywhere, the host is not shown either: a
/// password containing `/` or `#` can make a URL parser take part of it for
/// the host.
pub fn redacted_url(url: &SecretString) -> String {
    let raw = url.expose_secret();
    match Url::parse(raw) {
        Ok(parsed) => match parsed.host_str() {
            Some(host) if !raw.contains('@') => {
                let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{host}{port}/[REDACTED]", parsed.scheme())
            }
            _ => format!("{}:[REDACTED]", parsed.scheme()),
        },
        Err(_) => "[REDACTED]".to_owned(),
    }
}
