//! Rate limits on routes: the check a handler runs, the middleware that
//! limits a route by client IP, and the in-memory limiter (one node).
//!
//! [`MemoryRateLimiter`] implements the core [`RateLimiter`] port with
//! fixed windows measured against the `now` it is given; the Redis backend
//! (feature `redis`, `redis_limiter`) shares the same windows between
//! nodes. A refused hit is a [`RateLimitRejection`]: 429 with `Retry-After`
//! over the limit, 503 when the backend cannot count.
//!
//! [`RateLimiter`]: sigra_core::rate_limit::RateLimiter

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sigra_core::rate_limit::{RateDecision, RateLimitAction};

use crate::layer::client::{client_ip, peer_ip};
pub use crate::memory_limiter::MemoryRateLimiter;
use crate::rejection::{RateLimitRejection, RateLimited, Unavailable};
use crate::sigra::Sigra;

/// Counts a refused request in `sigra_rate_limited_total{action}` (with the `metrics` feature).
fn count_limited(action: RateLimitAction) {
    #[cfg(feature = "metrics")]
    metrics::counter!("sigra_rate_limited_total", "action" => action.name()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = action;
}

/// Counts one hit of `action` for `key` (an IP, an email as submitted, or a
/// user id, as the action's rule says). `Err` is the refusal to send
/// instead: [`RateLimited`] when over the limit, [`Unavailable::RateLimiter`]
/// when the backend cannot count (an uncountable hit is never let through
/// unlimited).
pub(crate) async fn check(
    sigra: &Sigra,
    action: RateLimitAction,
    key: &str,
) -> Result<(), RateLimitRejection> {
    let rule = sigra.auth().config().rate_limits.rule(action);
    match sigra.limiter().hit(&rule, key, sigra.auth().now()).await {
        Ok(RateDecision::Allowed { .. }) => Ok(()),
        Ok(RateDecision::Limited { retry_after }) => {
            tracing::info!(name: "sigra.rate_limit", action = action.name(), outcome = "limited");
            count_limited(action);
            Err(RateLimited { retry_after }.into())
        }
        Err(e) => {
            tracing::error!(name: "sigra.rate_limit", action = action.name(), outcome = "error", error = %e);
            Err(Unavailable::RateLimiter.into())
        }
    }
}

/// Middleware limiting a route by client IP under `action`'s rule.
///
/// When the limiter's backend fails, the request is refused with 503: an
/// uncountable hit is never let through unlimited.
pub async fn limit_by_ip(
    State((sigra, action)): State<(Sigra, RateLimitAction)>,
    request: Request,
    next: Next,
) -> Response {
    let proxies = &sigra.auth().config().endpoints.trusted_proxies;
    let key = client_ip(proxies, request.headers(), peer_ip(&request))
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    match check(&sigra, action, &key).await {
        Ok(()) => next.run(request).await,
        Err(rejection) => rejection.into_response(),
    }
}
