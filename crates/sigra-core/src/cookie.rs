//! Cookie names and options, all from one function of the config.
//!
//! Every Sigra cookie is built by [`cookie_opts`]: HttpOnly and SameSite=Lax
//! always, Secure in prod (or whenever `PUBLIC_URL` is https), and the
//! configured `COOKIE_DOMAIN` is never dropped. There is deliberately no way
//! to get cookie options without a [`Config`], so no caller can forget the
//! domain and silently break sign-in across subdomains.
//!
//! The names follow the config too ([`cookie_name`]): in prod without
//! `COOKIE_DOMAIN` they carry the `__Host-` prefix (`__Host-sigra_session`,
//! …), which browsers accept only from a Secure, host-only cookie with
//! `Path=/` — so a sibling subdomain cannot plant one. With `COOKIE_DOMAIN`
//! (the cookies must reach the subdomains) and outside prod they keep the
//! plain names (`_sigra_session`, …).

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::Config;

/// The session cookie: signed; holds the session token, CSRF token, return path and flash.
/// Its plain name; see [`cookie_name`] for the one a config uses.
pub const SESSION_COOKIE: &str = "_sigra_session";
/// The remember-me cookie: signed; holds the same token; lives for `session_ttl`.
/// Its plain name; see [`cookie_name`] for the one a config uses.
pub const REMEMBER_ME_COOKIE: &str = "_sigra_remember_me";
/// The "trust this browser" cookie that lets a user skip MFA.
/// Its plain name; see [`cookie_name`] for the one a config uses.
pub const TRUST_COOKIE: &str = "_sigra_mfa_trust";
/// [`SESSION_COOKIE`] in prod without `COOKIE_DOMAIN`.
pub const HOST_SESSION_COOKIE: &str = "__Host-sigra_session";
/// [`REMEMBER_ME_COOKIE`] in prod without `COOKIE_DOMAIN`.
pub const HOST_REMEMBER_ME_COOKIE: &str = "__Host-sigra_remember_me";
/// [`TRUST_COOKIE`] in prod without `COOKIE_DOMAIN`.
pub const HOST_TRUST_COOKIE: &str = "__Host-sigra_mfa_trust";

/// Which Sigra cookie to build options for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKind {
    /// [`SESSION_COOKIE`]: a browser-session cookie (no max-age).
    Session,
    /// [`REMEMBER_ME_COOKIE`]: max-age = `session_ttl`.
    RememberMe,
    /// [`TRUST_COOKIE`]: max-age = `trust_ttl`.
    MfaTrust,
}

/// The SameSite attribute. Sigra uses `Lax` for every cookie: it blocks
/// cross-site POSTs while keeping top-level navigation signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Lax`.
    Lax,
}

/// Everything needed to write one cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieOptions {
    /// The cookie's name.
    pub name: &'static str,
    /// Always `/`.
    pub path: &'static str,
    /// `COOKIE_DOMAIN` when configured (e.g. `.example.com`), else host-only.
    pub domain: Option<String>,
    /// Secure flag: on in prod and whenever `PUBLIC_URL` is https.
    pub secure: bool,
    /// Always true: scripts never see Sigra cookies.
    pub http_only: bool,
    /// Always [`SameSite::Lax`].
    pub same_site: SameSite,
    /// `None` for a browser-session cookie.
    pub max_age: Option<Duration>,
}

impl CookieOptions {
    /// A `Set-Cookie` header value carrying `value` with these options.
    ///
    /// `value` must already be cookie-safe (Sigra's values are base64url).
    pub fn set_cookie_header(&self, value: &str) -> String {
        let mut out = format!("{}={}; Path={}", self.name, value, self.path);
        if let Some(domain) = &self.domain {
            let _ = write!(out, "; Domain={domain}");
        }
        if let Some(max_age) = self.max_age {
            let _ = write!(out, "; Max-Age={}", max_age.as_secs());
        }
        self.push_flags(&mut out);
        out
    }

    /// A `Set-Cookie` header value that removes the cookie (same name, path
    /// and domain, so the browser matches it).
    pub fn removal_header(&self) -> String {
        let mut out = format!(
            "{}=; Path={}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.name, self.path
        );
        if let Some(domain) = &self.domain {
            let _ = write!(out, "; Domain={domain}");
        }
        self.push_flags(&mut out);
        out
    }

    fn push_flags(&self, out: &mut String) {
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        match self.same_site {
            SameSite::Lax => out.push_str("; SameSite=Lax"),
        }
    }
}

/// The name of cookie `kind` under `config`: `__Host-sigra_…` in prod
/// without `COOKIE_DOMAIN` (Secure, `Path=/` and no `Domain` are then
/// guaranteed by [`cookie_opts`]), the plain `_sigra_…` otherwise. The single
/// source of cookie names: reading and writing both ask it.
pub fn cookie_name(config: &Config, kind: CookieKind) -> &'static str {
    let host_only = config.env.is_prod() && config.endpoints.cookie_domain.is_none();
    match (kind, host_only) {
        (CookieKind::Session, false) => SESSION_COOKIE,
        (CookieKind::Session, true) => HOST_SESSION_COOKIE,
        (CookieKind::RememberMe, false) => REMEMBER_ME_COOKIE,
        (CookieKind::RememberMe, true) => HOST_REMEMBER_ME_COOKIE,
        (CookieKind::MfaTrust, false) => TRUST_COOKIE,
        (CookieKind::MfaTrust, true) => HOST_TRUST_COOKIE,
    }
}

/// The options for `kind`, from the config. The single source of cookie options.
pub fn cookie_opts(config: &Config, kind: CookieKind) -> CookieOptions {
    let max_age = match kind {
        CookieKind::Session => None,
        CookieKind::RememberMe => Some(config.session.ttl),
        CookieKind::MfaTrust => Some(config.mfa.trust_ttl),
    };
    CookieOptions {
        name: cookie_name(config, kind),
        path: "/",
        domain: config.endpoints.cookie_domain.clone(),
        secure: config.secure_cookies(),
        http_only: true,
        same_site: SameSite::Lax,
        max_age,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;
    use crate::keys::SecretKeyBase;

    fn prod(domain: Option<&str>) -> Config {
        let mut b = Config::builder(Environment::Prod)
            .secret_key_base(SecretKeyBase::new(vec![b'k'; 64]).unwrap())
            .public_url("https://app.example.com");
        if let Some(d) = domain {
            b = b.cookie_domain(d);
        }
        b.build().unwrap()
    }

    #[test]
    fn every_cookie_carries_the_domain_and_flags_in_prod() {
        let config = prod(Some(".example.com"));
        for kind in [
            CookieKind::Session,
            CookieKind::RememberMe,
            CookieKind::MfaTrust,
        ] {
            let opts = cookie_opts(&config, kind);
            assert_eq!(opts.domain.as_deref(), Some(".example.com"));
            assert!(opts.secure && opts.http_only);
            assert_eq!(opts.same_site, SameSite::Lax);
            let header = opts.set_cookie_header("v");
            assert!(header.contains("; Domain=.example.com"), "{header}");
            assert!(
                header.contains("; HttpOnly; Secure; SameSite=Lax"),
                "{header}"
            );
            let removal = opts.removal_header();
            assert!(removal.contains("Max-Age=0") && removal.contains("Domain=.example.com"));
        }
    }

    #[test]
    fn max_ages_follow_the_config() {
        let config = prod(None);
        assert_eq!(cookie_opts(&config, CookieKind::Session).max_age, None);
        assert_eq!(
            cookie_opts(&config, CookieKind::RememberMe).max_age,
            Some(config.session.ttl)
        );
        assert_eq!(
            cookie_opts(&config, CookieKind::MfaTrust).max_age,
            Some(config.mfa.trust_ttl)
        );
        assert_eq!(cookie_opts(&config, CookieKind::Session).domain, None);
        assert!(
            cookie_opts(&config, CookieKind::RememberMe)
                .set_cookie_header("v")
                .contains(&format!("Max-Age={}", 60 * 24 * 3600))
        );
    }

    #[test]
    fn prod_without_a_cookie_domain_uses_host_prefixed_names() {
        const KINDS: [CookieKind; 3] = [
            CookieKind::Session,
            CookieKind::RememberMe,
            CookieKind::MfaTrust,
        ];
        let host_only = prod(None);
        let names: Vec<_> = KINDS.map(|k| cookie_name(&host_only, k)).into();
        assert_eq!(
            names,
            [
                "__Host-sigra_session",
                "__Host-sigra_remember_me",
                "__Host-sigra_mfa_trust"
            ]
        );
        for kind in KINDS {
            // What browsers demand of a `__Host-` cookie.
            let opts = cookie_opts(&host_only, kind);
            assert_eq!(opts.name, cookie_name(&host_only, kind));
            assert!(opts.secure && opts.domain.is_none() && opts.path == "/");
        }
        let shared = prod(Some(".example.com"));
        let dev = Config::builder(Environment::Dev).build().unwrap();
        for config in [&shared, &dev] {
            let names: Vec<_> = KINDS.map(|k| cookie_name(config, k)).into();
            assert_eq!(names, [SESSION_COOKIE, REMEMBER_ME_COOKIE, TRUST_COOKIE]);
        }
    }

    #[test]
    fn dev_over_http_is_not_secure_but_still_http_only() {
        let config = Config::builder(Environment::Dev).build().unwrap();
        let opts = cookie_opts(&config, CookieKind::Session);
        assert!(!opts.secure);
        assert!(opts.http_only);
        assert!(!opts.set_cookie_header("v").contains("Secure"));
    }
}
