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

/// An enum of rejections, each variant wrapping the rejection of its name,
/// with `From` for each and `IntoResponse` delegating to it (axum's
/// `composite_rejection!`).
macro_rules! composite_rejection {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant($variant),)+
        }

        $(impl From<$variant> for $name {
            fn from(rejection: $variant) -> Self {
                Self::$variant(rejection)
            }
        })+

        impl IntoResponse for $name {
            fn into_response(self) -> Response {
                match self {
                    $(Self::$variant(r) => r.into_response(),)+
                }
            }
        }
    };
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

composite_rejection! {
    /// Why [`CurrentUser`](crate::CurrentUser) refused a request.
    CurrentUserRejection {
        /// The route is not wrapped in the layer.
        MissingLayer,
        /// Nobody is signed in.
        Unauthenticated,
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

composite_rejection! {
    /// Why the layer's CSRF and origin check refused a request.
    CsrfRejection {
        /// Cross-site, without a session or with a wrong token.
        Forbidden,
        /// The form body was too large to check.
        PayloadTooLarge,
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

composite_rejection! {
    /// Why a rate-limit check refused a request.
    RateLimitRejection {
        /// Over the limit.
        RateLimited,
        /// The limiter's backend failed ([`Unavailable::RateLimiter`]).
        Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(response: &Response) -> Option<&str> {
        response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap())
    }

    #[test]
    fn each_rejection_has_its_status_and_retry_after() {
        let cases: [(Response, StatusCode, Option<&str>); 8] = [
            (Unauthenticated.into_response(), StatusCode::SEE_OTHER, None),
            (
                Forbidden::StaleForm.into_response(),
                StatusCode::FORBIDDEN,
                None,
            ),
            (
                PayloadTooLarge.into_response(),
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
            ),
            (
                Unavailable::Session.into_response(),
                StatusCode::SERVICE_UNAVAILABLE,
                Some("5"),
            ),
            (
                Unavailable::Busy.into_response(),
                StatusCode::SERVICE_UNAVAILABLE,
                Some("2"),
            ),
            (
                Unavailable::Internal.into_response(),
                StatusCode::SERVICE_UNAVAILABLE,
                Some("5"),
            ),
            (
                Unavailable::RateLimiter.into_response(),
                StatusCode::SERVICE_UNAVAILABLE,
                None,
            ),
            (
                MissingLayer.into_response(),
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
            ),
        ];
        for (response, status, retry) in &cases {
            assert_eq!(response.status(), *status);
            assert_eq!(retry_after(response), *retry);
        }
        let redirect = Unauthenticated.into_response();
        assert_eq!(redirect.headers()[http::header::LOCATION], LOG_IN_PATH);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        for (wait, expected) in [
            (Duration::from_millis(1), "1"),
            (Duration::from_secs(40), "40"),
            (Duration::from_millis(40_001), "41"),
        ] {
            let response = RateLimited { retry_after: wait }.into_response();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(retry_after(&response), Some(expected));
        }
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let locked = MfaLocked {
            until: now + chrono::TimeDelta::seconds(90),
            now,
        }
        .into_response();
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after(&locked), Some("90"));
    }
}
