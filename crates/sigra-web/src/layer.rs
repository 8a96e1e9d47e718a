//! `SigraLayer`: who is this request from, is it allowed to change anything,
//! and which cookies go back.
//!
//! On the way in it reads `_sigra_session` (falling back to
//! `_sigra_remember_me`, which rehydrates the session cookie), looks the
//! session up through [`sigra_core::auth::Auth::fetch_session`], enforces CSRF
//! and origin checks on every state-changing request, and puts a
//! [`CurrentScope`] into the request's extensions. On the way out it writes
//! the cookies the handler's changes call for and adds security headers.
//!
//! It fails closed: when the database cannot answer whether a session is
//! valid, the request gets 503, never the page of a session it could not
//! verify.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use sigra_core::cookie::{
    CookieKind, REMEMBER_ME_COOKIE, SESSION_COOKIE, TRUST_COOKIE, cookie_opts,
};
use sigra_core::model::{SessionKind, SessionMeta};
use sigra_core::signing::constant_time_eq;
use tower::{Layer, Service};

use crate::Sigra;
use crate::cookies::{self, SessionCookie};
use crate::pages;
use crate::state::{CurrentScope, Inner, RememberAction, RequestState, TrustAction};

/// The largest form body the CSRF check will read (64 KiB).
const MAX_FORM_BYTES: usize = 64 * 1024;
/// The form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "_csrf_token";
/// Header alternative to the form field, for scripts.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The tower layer; build it with [`Sigra::layer`].
#[derive(Debug, Clone)]
pub struct SigraLayer {
    pub(crate) sigra: Sigra,
}

impl<S> Layer<S> for SigraLayer {
    type Service = SigraService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SigraService {
            inner,
            sigra: self.sigra.clone(),
        }
    }
}

/// The service [`SigraLayer`] wraps around an app.
#[derive(Debug, Clone)]
pub struct SigraService<S> {
    inner: S,
    sigra: Sigra,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for SigraService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let sigra = self.sigra.clone();
        // The clone that was polled ready is the one that handles the request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (request, state) = match prepare(&sigra, request).await {
                Ok(prepared) => prepared,
                Err(response) => return Ok(secure_headers(response, true)),
            };
            let response = inner.call(request).await?;
            Ok(finish(&state, response))
        })
    }
}

/// The client's address: the socket peer, or — only when the peer is a
/// trusted proxy — the nearest untrusted address in `X-Forwarded-For`.
pub(crate) fn client_ip(
    sigra: &Sigra,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Option<IpAddr> {
    let peer = peer?;
    let proxies = &sigra.auth().config().trusted_proxies;
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
pub(crate) fn forwarded_proto(
    sigra: &Sigra,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Option<&'static str> {
    let peer = peer?;
    let proxies = &sigra.auth().config().trusted_proxies;
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

fn peer_ip(request: &Request<Body>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn request_meta(sigra: &Sigra, request: &Request<Body>) -> SessionMeta {
    let peer = peer_ip(request);
    let ip = client_ip(sigra, request.headers(), peer).map(|ip| ip.to_string());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    SessionMeta::new(ip, user_agent)
}

async fn prepare(
    sigra: &Sigra,
    request: Request<Body>,
) -> Result<(Request<Body>, Arc<RequestState>), Response> {
    let auth = sigra.auth();
    let now = auth.now();
    let headers = request.headers();

    let decoded = cookies::read_cookie(headers, SESSION_COOKIE)
        .and_then(|value| SessionCookie::decode(&sigra.inner.session_signer, value, now));
    let persisted = decoded.is_some();
    let mut dirty = decoded.as_ref().is_some_and(|c| c.signed_with_old_key);
    let mut cookie = match decoded {
        Some(cookie) => cookie,
        None => SessionCookie {
            csrf: cookies::new_csrf().ok_or_else(unavailable)?,
            ..SessionCookie::default()
        },
    };
    let mut remember = RememberAction::Keep;
    let mut scope = CurrentScope::default();
    let mut pending = None;

    if let Some(token) = cookie.token.take() {
        match auth.fetch_session(&token).await {
            Ok(Some((session, user))) => {
                // A half-finished MFA log-in is not a signed-in user.
                if session.kind == SessionKind::MfaPending {
                    pending = Some((session, user));
                } else {
                    scope = CurrentScope {
                        user: Some(user),
                        session: Some(session),
                    };
                }
                cookie.token = Some(token);
            }
            Ok(None) => {
                // Logged out, expired or revoked: drop the token and its remember-me twin.
                dirty = true;
                remember = RememberAction::Clear;
            }
            Err(e) => {
                tracing::error!(name: "sigra.session.fetch", outcome = "store_error", error = %e);
                return Err(unavailable());
            }
        }
    } else if let Some(value) = cookies::read_cookie(headers, REMEMBER_ME_COOKIE) {
        match cookies::decode_remember(&sigra.inner.remember_signer, value, now) {
            Some((token, old_key)) => match auth.fetch_session(&token).await {
                Ok(Some((session, user))) if session.kind == SessionKind::RememberMe => {
                    // Rehydrate: a new session cookie, with a new CSRF token.
                    cookie = SessionCookie {
                        csrf: cookies::new_csrf().ok_or_else(unavailable)?,
                        return_to: cookie.return_to.take(),
                        flash: cookie.flash.take(),
                        ..SessionCookie::default()
                    };
                    if old_key {
                        remember = RememberAction::Set(sigra_core::token::RawToken::from_bytes(
                            *token.expose_bytes(),
                        ));
                    }
                    cookie.token = Some(token);
                    scope = CurrentScope {
                        user: Some(user),
                        session: Some(session),
                    };
                    dirty = true;
                }
                Ok(_) => remember = RememberAction::Clear,
                Err(e) => {
                    tracing::error!(name: "sigra.session.fetch", outcome = "store_error", error = %e);
                    return Err(unavailable());
                }
            },
            None => remember = RememberAction::Clear,
        }
    }

    let meta = request_meta(sigra, &request);
    let trust_cookie = cookies::read_cookie(request.headers(), TRUST_COOKIE).map(str::to_owned);
    let forwarded_https =
        forwarded_proto(sigra, request.headers(), peer_ip(&request)) == Some("https");
    let state = RequestState::new(
        sigra.clone(),
        meta,
        trust_cookie,
        forwarded_https,
        Inner {
            cookie,
            scope: scope.clone(),
            pending,
            trust: TrustAction::Keep,
            dirty,
            persisted,
            remember,
        },
    );

    let mut request = if is_state_changing(request.method()) {
        check_csrf(sigra, &state, request)
            .await
            .map_err(|response| finish(&state, response))?
    } else {
        request
    };
    request.extensions_mut().insert(Arc::clone(&state));
    request.extensions_mut().insert(scope);
    Ok((request, state))
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        pages::error_page("Forbidden", message),
    )
        .into_response()
}

fn unavailable() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        pages::error_page(
            "Temporarily unavailable",
            "We could not check your session. Please try again in a moment.",
        ),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// Whether `origin` (an `Origin` header) is this site: the configured public
/// origin, or the origin the request was addressed to (its `Host`), which
/// covers subdomains sharing a cookie domain. The scheme of the latter is
/// the one a trusted proxy reports in `X-Forwarded-Proto` (`proto`), else
/// https when cookies are Secure, else either.
fn origin_allowed(sigra: &Sigra, origin: &str, host: Option<&str>, proto: Option<&str>) -> bool {
    if origin == sigra.inner.public_origin {
        return true;
    }
    let Some(host) = host else { return false };
    if let Some(scheme) = proto {
        return origin == format!("{scheme}://{host}");
    }
    let secure = sigra.auth().config().secure_cookies();
    let expected = if secure {
        format!("https://{host}")
    } else {
        format!("http://{host}")
    };
    origin == expected || (!secure && origin == format!("https://{host}"))
}

/// Refuses a state-changing request unless it comes from this site and
/// carries the session's CSRF token (form field `_csrf_token` or header
/// `x-csrf-token`). The body is read (up to 64 KiB) and put back.
async fn check_csrf(
    sigra: &Sigra,
    state: &RequestState,
    request: Request<Body>,
) -> Result<Request<Body>, Response> {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let proto = forwarded_proto(sigra, headers, peer_ip(&request));
        let allowed = origin
            .to_str()
            .is_ok_and(|o| origin_allowed(sigra, o, host, proto));
        if !allowed {
            return Err(forbidden(
                "This request came from another site and was refused.",
            ));
        }
    }
    let expected = {
        let inner = state.lock();
        inner.persisted.then(|| inner.cookie.csrf.clone())
    };
    let Some(expected) = expected else {
        return Err(forbidden(
            "Your session has expired or cookies are disabled. Reload the page and try again.",
        ));
    };
    if let Some(given) = headers.get(CSRF_HEADER) {
        return if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(request)
        } else {
            Err(forbidden(
                "The form was out of date. Reload the page and try again.",
            ))
        };
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(forbidden(
            "The form was out of date. Reload the page and try again.",
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_FORM_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                pages::error_page("Too large", "That form was too large."),
            )
                .into_response());
        }
    };
    if !form_csrf_matches(&bytes, &expected) {
        return Err(forbidden(
            "The form was out of date. Reload the page and try again.",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Whether a form body carries `expected` in its `_csrf_token` field: at
/// least one such field, and every one of them equal to `expected`, so a
/// smuggled second field cannot help.
pub(crate) fn form_csrf_matches(body: &[u8], expected: &str) -> bool {
    let mut matched = false;
    for (key, value) in form_urlencoded::parse(body) {
        if key == CSRF_FIELD {
            matched = constant_time_eq(value.as_bytes(), expected.as_bytes());
            if !matched {
                break;
            }
        }
    }
    matched
}

/// Writes the cookies the request's changes call for, and the security headers.
fn finish(state: &RequestState, mut response: Response) -> Response {
    let sigra = &state.sigra;
    let config = sigra.auth().config();
    let now = sigra.auth().now();
    // Behind a TLS-terminating trusted proxy the browser is on https even
    // when the configuration alone would not make cookies Secure.
    let cookie_opts = |config, kind| {
        let mut opts = cookie_opts(config, kind);
        opts.secure |= state.forwarded_https;
        opts
    };
    let mut inner = state.lock();
    let signed_in = inner.scope.user.is_some();
    let mut set = Vec::new();
    if inner.dirty {
        let opts = cookie_opts(config, CookieKind::Session);
        let value = inner
            .cookie
            .encode(&sigra.inner.session_signer, now, config.session_ttl);
        set.push(opts.set_cookie_header(&value));
        inner.dirty = false;
    }
    match std::mem::take(&mut inner.remember) {
        RememberAction::Keep => {}
        RememberAction::Set(token) => {
            let opts = cookie_opts(config, CookieKind::RememberMe);
            set.push(opts.set_cookie_header(&cookies::encode_remember(
                &sigra.inner.remember_signer,
                &token,
                now,
                config.session_ttl,
            )));
        }
        RememberAction::Clear => {
            set.push(cookie_opts(config, CookieKind::RememberMe).removal_header())
        }
    }
    if let TrustAction::Set(value) = std::mem::take(&mut inner.trust) {
        set.push(cookie_opts(config, CookieKind::MfaTrust).set_cookie_header(&value));
    }
    drop(inner);
    let touched_cookies = !set.is_empty();
    for value in set {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    secure_headers(response, signed_in || touched_cookies)
}

/// Security headers on every response; `no-store` when the page is personal.
fn secure_headers(mut response: Response, private: bool) -> Response {
    let headers = response.headers_mut();
    let defaults: [(header::HeaderName, &'static str); 5] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
