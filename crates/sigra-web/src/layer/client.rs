//! Who the client is: its address and scheme, believing `X-Forwarded-For`
//! and `X-Forwarded-Proto` only from a trusted proxy.

use std::net::{IpAddr, SocketAddr};

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
