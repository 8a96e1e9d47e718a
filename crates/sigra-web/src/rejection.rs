//! Named rejections: every refusal the layer, the extractors and the rate
//! limiter send, each a type that says what went wrong and implements
//! [`IntoResponse`]. The responses are built here and nowhere else.
//!
//! | Rejection | Status | Extra |
//! |---|---|---|
//! | [`Unauthenticated`] | 303 to [`LOG_IN_PATH`] | |
//! | [`Forbidden`] | 403 | error page saying why |
//! | [`PayloadTooLarge`] | 413 | |
//! | [`RateLimited`], [`MfaLocked`] | 429 | `Retry-After` |
//! | [`Unavailable`] | 503 | `Retry-After` except for the rate limiter's backend |
//! | [`MissingLayer`] | 500 | a route without [`SigraLayer`](crate::SigraLayer) |

use std::time::Duration;

use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};

use crate::pages;

/// Where signed-out visitors are sent.
pub const LOG_IN_PATH: &str = "/users/log-in";

/// An error page with `status` and, when given, `Retry-After` in seconds.
fn refusal(status: StatusCode, title: &str, message: &str, retry_after: Option<u64>) -> Response {
    let mut response = (status, pages::error_page(title, message)).into_response();
    if let Some(value) = retry_after.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok())
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// A Sigra extractor was used on a route the layer does not wrap: 500, and
/// logged, because the app is misconfigured.
#[derive(Debug, Clone, Copy)]
pub struct MissingLayer;

impl IntoResponse for MissingLayer {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "authentication is not configured for this route (add Sigra::layer)",
        )
            .into_response()
    }
}

/// Nobody is signed in: 303 to [`LOG_IN_PATH`]. (The
/// [`CurrentUser`](crate::CurrentUser) extractor remembers the path of a
/// `GET` before it rejects, so the user returns to it after logging in.)
#[derive(Debug, Clone, Copy)]
pub struct Unauthenticated;

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        Redirect::to(LOG_IN_PATH).into_response()
    }
}

/// Why [`CurrentUser`](crate::CurrentUser) refused a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CurrentUserRejection {
    /// The route is not wrapped in the layer.
    MissingLayer(MissingLayer),
    /// Nobody is signed in.
    Unauthenticated(Unauthenticated),
}

impl From<MissingLayer> for CurrentUserRejection {
    fn from(rejection: MissingLayer) -> Self {
        Self::MissingLayer(rejection)
    }
}

impl From<Unauthenticated> for CurrentUserRejection {
    fn from(rejection: Unauthenticated) -> Self {
        Self::Unauthenticated(rejection)
    }
}

impl IntoResponse for CurrentUserRejection {
    fn into_response(self) -> Response {
        match self {
            Self::MissingLayer(r) => r.into_response(),
            Self::Unauthenticated(r) => r.into_response(),
        }
    }
}

/// A state-changing request the layer refused: 403 with a page saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forbidden {
    /// Its `Origin` is another site.
    CrossSite,
    /// It came without a session cookie, so there is no CSRF token to match.
    NoSession,
    /// Its CSRF token is missing or is not the session's.
    StaleForm,
}

impl Forbidden {
    /// What the page tells the visitor.
    fn message(self) -> &'static str {
        match self {
            Self::CrossSite => "This request came from another site and was refused.",
            Self::NoSession => {
                "Your session has expired or cookies are disabled. Reload the page and try again."
            }
            Self::StaleForm => "The form was out of date. Reload the page and try again.",
        }
    }
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        refusal(StatusCode::FORBIDDEN, "Forbidden", self.message(), None)
    }
}

/// A form body larger than the CSRF check reads (64 KiB): 413.
#[derive(Debug, Clone, Copy)]
pub struct PayloadTooLarge;

impl IntoResponse for PayloadTooLarge {
    fn into_response(self) -> Response {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "That form was too large.",
            None,
        )
    }
}

/// Why the layer's CSRF and origin check refused a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CsrfRejection {
    /// Cross-site, without a session or with a wrong token.
    Forbidden(Forbidden),
    /// The form body was too large to check.
    PayloadTooLarge(PayloadTooLarge),
}

impl From<Forbidden> for CsrfRejection {
    fn from(rejection: Forbidden) -> Self {
        Self::Forbidden(rejection)
    }
}

impl From<PayloadTooLarge> for CsrfRejection {
    fn from(rejection: PayloadTooLarge) -> Self {
        Self::PayloadTooLarge(rejection)
    }
}

impl IntoResponse for CsrfRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Forbidden(r) => r.into_response(),
            Self::PayloadTooLarge(r) => r.into_response(),
        }
    }
}

/// Over a rate limit: 429 with `Retry-After` in whole seconds (rounded up, at least 1).
#[derive(Debug, Clone, Copy)]
pub struct RateLimited {
    /// When the window that refused the request ends.
    pub retry_after: Duration,
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let wait = self.retry_after;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many attempts. Please wait a little and try again.",
            Some(secs.max(1)),
        )
    }
}

/// Too many wrong second-factor codes: the account refuses codes until
/// `until`. 429 with `Retry-After` in whole seconds (at least 1).
#[derive(Debug, Clone, Copy)]
pub struct MfaLocked {
    /// When codes are accepted again.
    pub until: DateTime<Utc>,
    /// The time of the request.
    pub now: DateTime<Utc>,
}

impl IntoResponse for MfaLocked {
    fn into_response(self) -> Response {
        let wait = (self.until - self.now).num_seconds().max(1);
        let message = format!(
            "Too many wrong codes. For your security, codes for this account are refused \
             until {} UTC. Then log in again.",
            self.until.format("%H:%M")
        );
        refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong codes",
            &message,
            u64::try_from(wait).ok(),
        )
    }
}

/// The request could not be served now, through no fault of the client: 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The store could not say whether the session is valid (the layer
    /// fails closed). `Retry-After: 5`.
    Session,
    /// Too many password hashes are being computed at once. `Retry-After: 2`.
    Busy,
    /// Something else on our side failed. `Retry-After: 5`.
    Internal,
    /// The rate limiter's backend could not count the hit (an uncountable
    /// hit is never let through). No `Retry-After`.
    RateLimiter,
}

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        let (title, message, retry_after) = match self {
            Self::Session => (
                "Temporarily unavailable",
                "We could not check your session. Please try again in a moment.",
                Some(5),
            ),
            Self::Busy => (
                "Busy",
                "We are handling many sign-ins right now. Please try again in a moment.",
                Some(2),
            ),
            Self::Internal => (
                "Temporarily unavailable",
                "Something went wrong on our side. Please try again shortly.",
                Some(5),
            ),
            Self::RateLimiter => ("Temporarily unavailable", "Please try again shortly.", None),
        };
        refusal(StatusCode::SERVICE_UNAVAILABLE, title, message, retry_after)
    }
}

/// Why a rate-limit check refused a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RateLimitRejection {
    /// Over the limit.
    Limited(RateLimited),
    /// The limiter's backend failed ([`Unavailable::RateLimiter`]).
    Unavailable(Unavailable),
}

impl IntoResponse for RateLimitRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Limited(r) => r.into_response(),
            Self::Unavailable(r) => r.into_response(),
        }
    }
}
