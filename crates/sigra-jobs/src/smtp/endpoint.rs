//! `SMTP_URL`: parsing it against the TLS rule (see the [`smtp`](super)
//! module docs) and building lettre's transport from it.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use sigra_core::mail::MailError;
use url::{Host, Url};

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Security {
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://`: STARTTLS, and fail if the server does not offer it.
    StartTls,
    /// `smtp://` in clear text: loopback, or `?tls=none` without credentials.
    Plain,
}

/// `SMTP_URL`, checked against the rule in the module docs.
pub(super) struct Endpoint {
    pub(super) scheme: &'static str,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) security: Security,
    pub(super) credentials: Option<Credentials>,
}

pub(super) fn parse_url(raw: &str) -> Result<Endpoint, MailError> {
    let url = Url::parse(raw).map_err(|e| failure(format!("SMTP_URL is not a valid URL: {e}")))?;
    let scheme = match url.scheme() {
        "smtp" => "smtp",
        "smtps" => "smtps",
        _ => {
            return Err(failure(
                "SMTP_URL must start with smtp:// or smtps://".to_owned(),
            ));
        }
    };
    let (host, loopback) = match url.host() {
        // `smtp` is not a "special" scheme to the URL standard, so an IPv4
        // address arrives as an opaque host name.
        Some(Host::Domain(d)) if !d.is_empty() => match d.parse::<IpAddr>() {
            Ok(ip) => (ip.to_string(), ip.is_loopback()),
            Err(_) => (d.to_owned(), d.eq_ignore_ascii_case("localhost")),
        },
        Some(Host::Ipv4(ip)) => (ip.to_string(), IpAddr::V4(ip).is_loopback()),
        Some(Host::Ipv6(ip)) => (ip.to_string(), IpAddr::V6(ip).is_loopback()),
        _ => return Err(failure("SMTP_URL has no host".to_owned())),
    };
    if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
        return Err(failure(
            "SMTP_URL must not have a path or a fragment".to_owned(),
        ));
    }
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), tls.is_some()) {
            ("tls", false) => tls = Some(value.into_owned()),
            _ => {
                return Err(failure(
                    "SMTP_URL accepts one query parameter, tls=required or tls=none".to_owned(),
                ));
            }
        }
    }

    let credentials = credentials(&url)?;
    let security = match (scheme, tls.as_deref()) {
        ("smtps", None) => Security::ImplicitTls,
        ("smtps", Some(_)) => {
            return Err(failure(
                "smtps:// always uses TLS; remove ?tls= from SMTP_URL".to_owned(),
            ));
        }
        (_, Some("required")) => Security::StartTls,
        (_, None) if loopback => Security::Plain,
        (_, None) => Security::StartTls,
        (_, Some("none")) if credentials.is_none() || loopback => Security::Plain,
        (_, Some("none")) => {
            return Err(failure(
                "SMTP_URL sends a password in clear text to a remote host; use smtps:// or drop ?tls=none (STARTTLS)"
                    .to_owned(),
            ));
        }
        (_, Some(_)) => {
            return Err(failure("SMTP_URL: tls must be required or none".to_owned()));
        }
    };
    let default_port = match security {
        Security::ImplicitTls => 465,
        Security::StartTls => 587,
        Security::Plain => 25,
    };
    Ok(Endpoint {
        scheme,
        host,
        port: url.port().unwrap_or(default_port),
        security,
        credentials,
    })
}

fn credentials(url: &Url) -> Result<Option<Credentials>, MailError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| failure("SMTP_URL: the user name and password must be UTF-8".to_owned()))
    };
    match (url.username(), url.password()) {
        ("", None) => Ok(None),
        (user, Some(password)) if !user.is_empty() => Ok(Some(Credentials::new(decode(user)?, decode(password)?))),
        _ => Err(failure(
            "SMTP_URL: give both a user name and a password (smtp://user:password@host), or neither".to_owned(),
        )),
    }
}

pub(super) fn build_transport(
    endpoint: Endpoint,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls = match endpoint.security {
        Security::Plain => Tls::None,
        Security::StartTls => Tls::Required(tls_parameters(&endpoint.host)?),
        Security::ImplicitTls => Tls::Wrapper(tls_parameters(&endpoint.host)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host)
        .port(endpoint.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(credentials) = endpoint.credentials {
        builder = builder.credentials(credentials);
    }
    Ok(builder.build())
}

fn tls_parameters(host: &str) -> Result<TlsParameters, MailError> {
    TlsParameters::new(host.to_owned()).map_err(|e| MailError::Transport(Box::new(e)))
}

/// `host` as it is written in a URL (IPv6 in brackets).
pub(super) fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A [`MailError::Transport`] carrying `message`: for configuration
/// problems it says what to change, and it never repeats the URL.
pub(super) fn failure(message: String) -> MailError {
    MailError::Transport(Box::new(Failure(message)))
}

#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}
