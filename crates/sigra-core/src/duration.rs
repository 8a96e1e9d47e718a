//! Durations as settings write them (`250ms`, `90s`, `30m`, `24h`, `60d`): parsing, canonical printing, and quoting a value for an error message.
//!
//! This module sits below [`config`](crate::config) and
//! [`rate_limit`](crate::rate_limit), which both read durations; it imports
//! nothing from the crate.

use std::time::Duration;

use thiserror::Error;

/// Seconds in a day.
pub(crate) const DAY_SECS: u64 = 86_400;

/// The longest duration any setting accepts: 36500 days (about 100 years).
///
/// Larger values would overflow timestamp arithmetic (`now + ttl`) in the
/// stores; "forever" is spelled `keep` where it makes sense.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * DAY_SECS);

/// What a duration must look like, for error messages.
pub(crate) const DURATION_EXPECTED: &str = "expected a duration like 250ms, 90s, 30m, 24h or 60d";

/// A duration string was refused by [`parse_duration`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseDurationError {
    /// Not a whole number followed by `ms`, `s`, `m`, `h` or `d`.
    #[error("expected a duration like 250ms, 90s, 30m, 24h or 60d, got {}", quoted(.input))]
    Malformed {
        /// The value that was given.
        input: String,
    },
    /// Well formed, but too large to represent.
    #[error("the duration {} is too large", quoted(.input))]
    Overflow {
        /// The value that was given.
        input: String,
    },
}

/// Parses a duration written as a whole number and a unit, without spaces:
/// `250ms`, `90s`, `30m`, `24h`, `60d`.
///
/// Only ASCII digits and the units `ms`, `s`, `m`, `h`, `d` are accepted; no
/// sign, fraction, whitespace or compound form (`1h30m`). `0s` is a valid
/// (zero) duration. Arithmetic is checked: a value too large to represent is
/// a [`ParseDurationError::Overflow`], never a panic.
///
/// ```
/// use std::time::Duration;
/// use sigra_core::duration::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("60d"), Ok(Duration::from_secs(60 * 86_400)));
/// assert!(parse_duration("1.5h").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, ParseDurationError> {
    let malformed = || ParseDurationError::Malformed {
        input: s.to_owned(),
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(malformed());
    }
    let seconds_per_unit = match unit {
        "ms" => None,
        "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3_600),
        "d" => Some(DAY_SECS),
        _ => return Err(malformed()),
    };
    let overflow = || ParseDurationError::Overflow {
        input: s.to_owned(),
    };
    // Only ASCII digits remain, so the one way `parse` can fail is overflow.
    let n: u64 = digits.parse().map_err(|_| overflow())?;
    match seconds_per_unit {
        None => Ok(Duration::from_millis(n)),
        Some(factor) => n
            .checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(overflow),
    }
}

/// Prints a duration in the canonical form [`parse_duration`] reads: the
/// largest of `d`, `h`, `m`, `s`, `ms` that divides it exactly (`0s` for zero).
///
/// Sub-millisecond precision is truncated. For every duration `parse_duration`
/// returns, `parse_duration(&format_duration(d)) == Ok(d)`.
///
/// ```
/// use std::time::Duration;
/// use sigra_core::duration::format_duration;
///
/// assert_eq!(format_duration(Duration::from_secs(90)), "90s");
/// assert_eq!(format_duration(Duration::from_secs(2 * 3600)), "2h");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
/// ```
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(u128, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    for (size, unit) in UNITS {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Quotes a user-supplied, non-secret value for an error message: escaped,
/// and cut to 64 characters so a pasted blob cannot flood the log.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// `n` minutes.
pub(crate) const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// `n` hours.
pub(crate) const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3_600)
}

/// `n` days.
pub(crate) const fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAY_SECS)
}
