//! [`MemoryRateLimiter`]: fixed-window rate-limit counters in this process's memory (one node).
//!
//! It implements the core [`RateLimiter`] port with fixed windows measured
//! against the `now` it is given (so tests drive time, and its behaviour
//! matches the Redis backend's `INCR` + `PEXPIRE` windows exactly). Counters
//! live in 16 mutex-guarded shards; expired windows are pruned as the map
//! grows, so a flood of distinct keys cannot grow memory without bound.
//!
//! We chose this over `governor`: governor's GCRA reads its own monotonic
//! clock, which breaks the port's "time is a parameter" rule, and its
//! semantics would differ from the Redis backend's windows.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::rate_limit::{
    RateDecision, RateLimitError, RateLimitRule, RateLimiter, rate_limit_key,
};

const SHARDS: usize = 16;
/// Prune a shard when it holds more than this many counters.
const PRUNE_AT: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: DateTime<Utc>,
    period: TimeDelta,
    hits: u32,
}

/// Fixed-window counters in process memory. Suitable for one node; use the
/// Redis backend when several nodes share the limits.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    shards: Vec<Mutex<HashMap<String, Window>>>,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl MemoryRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many counters are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn decide(
        &self,
        rule: &RateLimitRule,
        key: &str,
        now: DateTime<Utc>,
    ) -> RateDecision {
        let key = rate_limit_key(rule, key);
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % SHARDS];
        let mut map = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let period = TimeDelta::from_std(rule.limit.period).unwrap_or(TimeDelta::MAX);
        if map.len() > PRUNE_AT {
            map.retain(|_, w| now - w.started < w.period);
        }
        let fresh = Window {
            started: now,
            period,
            hits: 0,
        };
        let window = map.entry(key).or_insert(fresh);
        if now - window.started >= period {
            *window = fresh;
        }
        if window.hits >= rule.limit.count {
            let left = (window.started + period - now)
                .to_std()
                .unwrap_or(Duration::from_secs(1));
            return RateDecision::Limited {
                retry_after: left.max(Duration::from_millis(1)).min(rule.limit.period),
            };
        }
        window.hits += 1;
        RateDecision::Allowed {
            remaining: rule.limit.count - window.hits,
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(
        &self,
        rule: &RateLimitRule,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, RateLimitError> {
        Ok(self.decide(rule, key, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sigra_core::rate_limit::{RateLimitAction, RateLimits};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn fixed_window_counts_then_resets() {
        let limiter = MemoryRateLimiter::new();
        let rule = RateLimits::default().rule(RateLimitAction::Login);
        for i in 0..10 {
            assert_eq!(
                limiter.decide(&rule, "1.2.3.4", t0()),
                RateDecision::Allowed { remaining: 9 - i }
            );
        }
        match limiter.decide(&rule, "1.2.3.4", t0() + TimeDelta::seconds(20)) {
            RateDecision::Limited { retry_after } => {
                assert_eq!(retry_after, Duration::from_secs(40))
            }
            other => panic!("{other:?}"),
        }
        // Another IP and another action have their own counters.
        assert!(matches!(
            limiter.decide(&rule, "1.2.3.5", t0()),
            RateDecision::Allowed { .. }
        ));
        let register = RateLimits::default().rule(RateLimitAction::Register);
        assert!(matches!(
            limiter.decide(&register, "1.2.3.4", t0()),
            RateDecision::Allowed { .. }
        ));
        assert!(matches!(
            limiter.decide(&rule, "1.2.3.4", t0() + TimeDelta::minutes(1)),
            RateDecision::Allowed { remaining: 9 }
        ));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let limiter = MemoryRateLimiter::new();
        let rule = RateLimits::default().rule(RateLimitAction::Login);
        for i in 0..200_000u32 {
            let now = t0() + TimeDelta::seconds(i64::from(i / 1000) * 61);
            limiter.decide(
                &rule,
                &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                now,
            );
        }
        assert!(
            limiter.len() <= SHARDS * (PRUNE_AT + 1) + 1000,
            "{}",
            limiter.len()
        );
    }
}
