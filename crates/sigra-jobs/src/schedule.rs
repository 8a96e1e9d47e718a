//! When the periodic jobs run: cron expressions in UTC, parsed with the `cron` crate.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// A cron expression evaluated in UTC.
///
/// Written with six fields, seconds first (`sec min hour day-of-month month
/// day-of-week`, optionally a seventh for the year), as the `cron` crate
/// reads them; a classic five-field crontab line (`min hour dom month dow`)
/// is accepted too and runs at second 0. Days of the week are safest by name
/// (`MON-FRI`): numbers count Sunday as 1.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use sigra_jobs::Schedule;
///
/// let daily: Schedule = "0 3 * * *".parse()?;          // five fields: 03:00 every day
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
/// assert_eq!(daily.next_after(now), Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 0).unwrap()));
/// let quarter: Schedule = "0 */15 * * * *".parse()?;   // six fields: every 15 minutes
/// assert_eq!(quarter.next_after(now), Some(Utc.with_ymd_and_hms(2026, 1, 1, 12, 15, 0).unwrap()));
/// # Ok::<(), sigra_jobs::ScheduleError>(())
/// ```
#[derive(Clone)]
pub struct Schedule {
    source: String,
    inner: cron::Schedule,
}

/// A cron expression was refused.
#[derive(Debug, Error)]
#[error(
    "invalid schedule {expression:?}: {reason}; expected a cron expression such as \"0 3 * * *\" \
     (03:00 UTC daily) or \"0 */15 * * * *\" (every 15 minutes, seconds first)"
)]
pub struct ScheduleError {
    expression: String,
    reason: String,
}

impl Schedule {
    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first tick strictly after `after`, or `None` when the expression
    /// has no future tick (e.g. a year in the past).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.inner.after(&after).next()
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let fields = trimmed.split_whitespace().count();
        let expression = if fields == 5 {
            format!("0 {trimmed}")
        } else {
            trimmed.to_owned()
        };
        let inner = cron::Schedule::from_str(&expression).map_err(|e| ScheduleError {
            expression: s.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            source: trimmed.to_owned(),
            inner,
        })
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schedule").field(&self.source).finish()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Schedule {}

#[allow(clippy::expect_used)] // Constant expressions, all parsed by a unit test below.
fn parse_default(expression: &'static str) -> Schedule {
    expression
        .parse()
        .expect("the default schedules are valid cron expressions")
}

/// The schedules of the three periodic jobs (all UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedules {
    /// `cleanup_expired_tokens`; default `0 0 3 * * *` (daily at 03:00).
    pub cleanup_expired_tokens: Schedule,
    /// `audit_retention`; default `0 0 4 * * *` (daily at 04:00).
    pub audit_retention: Schedule,
    /// `process_scheduled_deletions`; default `0 */15 * * * *` (every 15 minutes).
    pub process_scheduled_deletions: Schedule,
}

/// The default schedule of `cleanup_expired_tokens`: daily at 03:00 UTC.
pub const DEFAULT_CLEANUP_SCHEDULE: &str = "0 0 3 * * *";
/// The default schedule of `audit_retention`: daily at 04:00 UTC.
pub const DEFAULT_AUDIT_RETENTION_SCHEDULE: &str = "0 0 4 * * *";
/// The default schedule of `process_scheduled_deletions`: every 15 minutes.
pub const DEFAULT_DELETIONS_SCHEDULE: &str = "0 */15 * * * *";

impl Default for Schedules {
    fn default() -> Self {
        Self {
            cleanup_expired_tokens: parse_default(DEFAULT_CLEANUP_SCHEDULE),
            audit_retention: parse_default(DEFAULT_AUDIT_RETENTION_SCHEDULE),
            process_scheduled_deletions: parse_default(DEFAULT_DELETIONS_SCHEDULE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn defaults_are_daily_at_3_and_4_and_every_15_minutes() {
        let s = Schedules::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap();
        assert_eq!(
            s.cleanup_expired_tokens.next_after(now),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap())
        );
        assert_eq!(
            s.audit_retention.next_after(now),
            Some(Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap())
        );
        assert_eq!(
            s.process_scheduled_deletions.next_after(now),
            Some(Utc.with_ymd_and_hms(2026, 11, 22, 3, 15, 0).unwrap())
        );
        assert_eq!(s.cleanup_expired_tokens.as_str(), DEFAULT_CLEANUP_SCHEDULE);
    }

    #[test]
    fn five_fields_mean_second_zero_and_garbage_is_refused() {
        let five: Schedule = "30 2 * * *".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            five.next_after(now),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 2, 30, 0).unwrap())
        );
        let err = "every day".parse::<Schedule>().unwrap_err().to_string();
        assert!(
            err.contains("\"every day\"") && err.contains("0 3 * * *"),
            "{err}"
        );
    }
}
