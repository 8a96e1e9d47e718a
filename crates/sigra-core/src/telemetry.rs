//! Metrics through the `metrics` facade, behind the `metrics` feature.
//!
//! With the feature on, Sigra records:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `sigra_logins_total` | counter | `outcome` (`ok`, `invalid_credentials`, `locked`, `busy`, `error`) |
//! | `sigra_login_duration_seconds` | histogram | — |
//! | `sigra_mfa_challenges_total` | counter | `outcome` (`ok_totp`, `ok_backup_code`, `invalid_code`, `locked`, `error`) |
//! | `sigra_session_fetch_duration_seconds` | histogram | `outcome` (`ok`, `not_found`, `expired`) |
//!
//! and `sigra-web` adds `sigra_rate_limited_total{action}`. Install any
//! recorder (for example a Prometheus exporter) in the application; without
//! one, recording costs a few atomic loads. Without the feature every
//! function here compiles to nothing. Labels never hold user data.

use chrono::TimeDelta;

fn seconds(elapsed: TimeDelta) -> f64 {
    elapsed.num_microseconds().map_or(0.0, |us| us as f64 / 1e6)
}

/// A password check finished.
pub(crate) fn login(outcome: &'static str, elapsed: TimeDelta) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("sigra_logins_total", "outcome" => outcome).increment(1);
        metrics::histogram!("sigra_login_duration_seconds").record(seconds(elapsed));
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, seconds(elapsed));
}

/// A second-factor check finished.
pub(crate) fn mfa_challenge(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("sigra_mfa_challenges_total", "outcome" => outcome).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}

/// A session lookup finished.
pub(crate) fn session_fetch(outcome: &'static str, elapsed: TimeDelta) {
    #[cfg(feature = "metrics")]
    metrics::histogram!("sigra_session_fetch_duration_seconds", "outcome" => outcome)
        .record(seconds(elapsed));
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, seconds(elapsed));
}
