//! Who the client is: its address and scheme, believing `X-Forwarded-For`
//! and `X-Forwarded-Proto` only from a trusted proxy; and whether the request
//! was addressed to this machine by a loopback name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::header;
use http::{HeaderMap, Request};
use ipnet::IpNet;
use sigra_core::model::SessionMeta;

/// What the layer knows about the client of one request, read once.
#[derive(Debug)]
pub(super) struct Client {
    /// The client's address and user agent, for the session row.
    pub(super) meta: SessionMeta,
    /// The scheme a trusted proxy reports (see [`forwarded_proto`]).
    pub(super) forwarded_proto: Option<&'static str>,
}

impl Client {
    /// Reads the client of `request`, trusting the proxies in `proxies`.
    pub(super) fn read(proxies: &[IpNet], request: &Request<Body>) -> Self {
        let headers = request.headers();
        let peer = peer_ip(request);
        let ip = client_ip(proxies, headers, peer).map(|ip| ip.to_string());
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self {
            meta: SessionMeta::new(ip, user_agent),
            forwarded_proto: forwarded_proto(proxies, headers, peer),
        }
    }
}

/// The socket peer's address, when the server recorded it
/// (`into_make_service_with_connect_info`).
pub(crate) fn peer_ip(request: &Request<Body>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The client's address: the socket peer, or — only when the peer is a
/// trusted proxy — the nearest untrusted address in `X-Forwarded-For`.
pub(crate) fn client_ip(
    proxies: &[IpNet],
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Option<IpAddr> {
    let peer = peer?;
    let trusted = |ip: &IpAddr| proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut forwarded: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return Some(peer);
        };
        for part in value.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => forwarded.push(ip),
                // A malformed chain cannot be trusted; fall back to the proxy itself.
                Err(_) => return Some(peer),
            }
        }
    }
    // Walk from the nearest hop outwards, skipping our own proxies.
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted(ip))
            .unwrap_or(peer),
    )
}

/// The scheme the client used, as `X-Forwarded-Proto` reports it — only
/// when the peer is a trusted proxy, and only `http` or `https` (the first
/// value of a list, as the outermost proxy set it). `None` means "not
/// known from a proxy": the configuration decides.
fn forwarded_proto(
    proxies: &[IpNet],
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Option<&'static str> {
    let peer = peer?;
    if !proxies.iter().any(|net| net.contains(&peer)) {
        return None;
    }
    let mut values = headers.get_all("x-forwarded-proto").iter();
    let first = values.next()?.to_str().ok()?;
    let scheme = first.split(',').next()?.trim();
    if scheme.eq_ignore_ascii_case("https") {
        Some("https")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// Whether `request` was addressed to a loopback name or address — its
/// `Host` header (or, over HTTP/2, its authority) is `localhost`, an address
/// in `127.0.0.0/8` or `[::1]`, with or without a port.
///
/// A socket on 127.0.0.1 is not enough: with DNS rebinding, a page on
/// `evil.example` whose name now resolves to 127.0.0.1 reaches a local
/// server from the victim's browser, and can read the answer because it is
/// same-origin for `evil.example`. The browser then sends
/// `Host: evil.example`, which this refuses.
pub(crate) fn addressed_to_loopback(request: &Request<Body>) -> bool {
    let host = match request.headers().get(header::HOST) {
        Some(value) => value.to_str().ok(),
        None => request.uri().authority().map(|a| a.as_str()),
    };
    host.is_some_and(is_loopback_host)
}

/// Whether `host` (a `Host` header value) names a loopback address.
fn is_loopback_host(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok && v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => name,
        Some(_) => return false,
        None => host,
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `port` is 1 to 5 digits.
fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts_with_and_without_ports() {
        for host in [
            "localhost",
            "LocalHost:4000",
            "127.0.0.1",
            "127.0.0.1:4000",
            "127.255.0.9:80",
            "[::1]",
            "[::1]:4000",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:4000",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.1",
            "[::2]:4000",
            "[::1]x",
            "localhost:",
            "localhost:abc",
            "::1",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
