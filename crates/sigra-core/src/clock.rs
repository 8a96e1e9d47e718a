//! The `Clock` port: the only way Sigra's logic learns the time.
//!
//! Logic takes `now` as a parameter or holds an `Arc<dyn Clock>`. The system
//! clock lives here and nowhere else (clippy's `disallowed-methods` bans
//! `Utc::now` and `SystemTime::now` everywhere outside this file), so tests can
//! move time forward with [`TestClock`] instead of sleeping.
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use sigra_core::clock::{Clock, TestClock};
//!
//! let clock = TestClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
//! let before = clock.now();
//! clock.advance(TimeDelta::minutes(31));
//! assert_eq!(clock.now() - before, TimeDelta::minutes(31));
//! ```

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time.
///
/// Implementations must be cheap (called on every request) and must never go
/// backwards by more than the host's own clock adjustments.
pub trait Clock: Send + Sync + Debug {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The host's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one sanctioned read of the wall clock.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move, for tests.
///
/// Shared freely between threads; it stores microseconds since the epoch.
#[derive(Debug)]
pub struct TestClock {
    micros: AtomicI64,
}

impl TestClock {
    /// A clock frozen at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        }
    }

    /// Moves the clock forward (or backward, with a negative delta).
    pub fn advance(&self, by: TimeDelta) {
        let delta = by.num_microseconds().unwrap_or(i64::MAX);
        // `fetch_update` with saturating arithmetic: never wraps around.
        let _ = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(delta))
            });
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        self.micros.store(to.timestamp_micros(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn test_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
        let clock = TestClock::new(start);
        assert_eq!(clock.now(), start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::seconds(90));
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn system_clock_is_recent() {
        let now = SystemClock.now();
        assert!(now > Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap());
    }
}
