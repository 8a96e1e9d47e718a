//! The node-local session cache: [`Auth::fetch_session`] results kept in
//! memory, revoked without a scan, and a follower of the revocation log.
//!
//! [`SessionCache`] is a bounded concurrent map (`moka`) from a token hash to
//! the session and user the store returned for it. Only successful lookups
//! are cached — never "not found" — so a flood of invalid tokens cannot grow
//! it, and a later valid log-in is never refused because of an earlier miss.
//!
//! **Revocation without scanning.** Each user falls into one of 4096 buckets,
//! and each bucket holds a generation taken from one global revocation
//! counter. [`SessionCache::evict_user`] raises the counter and stores the
//! new value in the user's bucket: every entry of that bucket becomes stale
//! at once, because an entry is valid only while its bucket still holds the
//! generation it was stored with. A read captures a `Ticket` (the counter)
//! *before* it asks the database; if the user's bucket moved past the ticket
//! by the time the answer arrives, a revocation raced the read and the answer
//! is not cached. Another user in the same bucket only costs a database read.
//! [`SessionCache::flush`] does the same for every bucket at once.
//!
//! [`SessionCache::evict_session`] does the same for one session (by its id,
//! for writes that name a session but not its user), with the same buckets.
//!
//! **Staying correct across nodes.** The node that performs a write evicts
//! the user before it answers: [`Auth`] writes through a
//! [`CachingStore`](crate::caching_store::CachingStore), which wraps the
//! store port and evicts after every write that concerns a user or a session,
//! so no write path can forget it. Other nodes learn from the database's revocation log
//! ([`crate::store::RevocationStore`]), which triggers fill in the writing
//! transaction: a [`RevocationFollower`] reads it every poll interval and
//! evicts the users it names. While the follower cannot read the log, the
//! cache is suspended (every request goes to the database) and flushed.
//!
//! This module does no I/O of its own: the follower is driven by the caller
//! (`sigra-web` runs it on tokio), which passes the monotonic time in.
//!
//! [`Auth`]: crate::auth::Auth
//! [`Auth::fetch_session`]: crate::auth::Auth::fetch_session

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use crate::ids::{SessionId, UserId};
use crate::model::{Session, User};
use crate::store::{RevocationStore, StoreResult};
use crate::token::TokenHash;

/// Entries a cache holds at most unless told otherwise.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// Buckets of users sharing a revocation generation (a power of two).
const BUCKETS: usize = 4096;

/// Rows the follower reads per query.
pub const FOLLOW_BATCH: u32 = 1_000;

/// Batches the follower reads in one poll before it gives up catching up row
/// by row (and flushes instead).
const MAX_BATCHES: usize = 16;

/// How long the follower waits for a missing log id (a transaction that
/// committed out of order, or rolled back) before it gives up on it and
/// flushes the cache.
pub const DEFAULT_GAP_TIMEOUT: Duration = Duration::from_secs(10);

/// The counters a read captures before asking the database; see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    flush: u64,
}

/// One cached `fetch_session` answer.
pub(crate) struct Entry {
    session: Session,
    user: User,
    /// `last_active_at` in microseconds; moves when this node touches the session.
    last_active: AtomicI64,
    /// When it was cached (from the service's clock): entries live at most `ttl`.
    cached_at: DateTime<Utc>,
    generation: u64,
    flush: u64,
}

impl Entry {
    /// The session (with this node's latest `last_active_at`) and its user.
    pub(crate) fn view(&self) -> (Session, User) {
        let mut session = self.session.clone();
        if let Some(at) = DateTime::from_timestamp_micros(self.last_active.load(SeqCst)) {
            session.last_active_at = at;
        }
        (session, self.user.clone())
    }

    /// Whether a `last_active_at` write is due at `now`; `true` for exactly
    /// one caller per `interval`, which then writes it.
    pub(crate) fn claim_touch(&self, now: DateTime<Utc>, interval: TimeDelta) -> bool {
        let now_us = now.timestamp_micros();
        let interval_us = interval.num_microseconds().unwrap_or(i64::MAX);
        let mut last = self.last_active.load(SeqCst);
        loop {
            if now_us.saturating_sub(last) < interval_us {
                return false;
            }
            match self
                .last_active
                .compare_exchange(last, now_us, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(current) => last = current,
            }
        }
    }
}

/// The bounded, concurrent, node-local cache of session lookups.
///
/// Built by [`crate::auth::AuthBuilder`] when the session cache is on; reach
/// it with [`crate::auth::Auth::session_cache`].
///
/// **A new cache is suspended**: lookups go to the database until a
/// [`RevocationFollower`] has read the revocation log once and resumed it.
/// So a cache nobody follows (an app that never starts a follower) is never
/// used, rather than silently missing other nodes' revocations.
pub struct SessionCache {
    entries: moka::sync::Cache<TokenHash, Arc<Entry>>,
    /// The same entries by session id, for the writes that name a session by
    /// id (`touch_session`). Best effort: a missing index entry only costs a
    /// `last_active_at` write; revocation never depends on it.
    by_session: moka::sync::Cache<SessionId, Arc<Entry>>,
    buckets: Box<[AtomicU64]>,
    revocations: AtomicU64,
    flushes: AtomicU64,
    active: AtomicBool,
    ttl: TimeDelta,
    capacity: u64,
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCache")
            .field("entries", &self.entries.entry_count())
            .field("capacity", &self.capacity)
            .field("active", &self.is_active())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionCache {
    /// A cache of at most `capacity` entries, each kept at most `ttl` after
    /// it was read from the database (Sigra uses the touch interval).
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build();
        let by_session = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build();
        Self {
            entries,
            by_session,
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            revocations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            active: AtomicBool::new(false),
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX),
            capacity,
        }
    }

    fn bucket(&self, user: UserId) -> &AtomicU64 {
        self.bucket_of(user.as_uuid())
    }

    fn session_bucket(&self, session: SessionId) -> &AtomicU64 {
        self.bucket_of(session.as_uuid())
    }

    fn bucket_of(&self, id: &uuid::Uuid) -> &AtomicU64 {
        let v = id.as_u128();
        let folded = (v as u64) ^ ((v >> 64) as u64);
        // Fibonacci hashing: the top bits of the product are well mixed.
        let index = (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize;
        &self.buckets[index % BUCKETS]
    }

    /// Whether lookups may use the cache (see [`SessionCache::suspend`]).
    pub fn is_active(&self) -> bool {
        self.active.load(SeqCst)
    }

    /// Flushes and stops using the cache: every lookup goes to the database
    /// until [`SessionCache::resume`]. For a node that cannot read the
    /// revocation log.
    pub fn suspend(&self) {
        self.active.store(false, SeqCst);
        self.flush();
    }

    /// Uses the cache again after [`SessionCache::suspend`].
    pub fn resume(&self) {
        self.active.store(true, SeqCst);
    }

    /// Makes every entry stale at once (and frees them).
    pub fn flush(&self) {
        self.flushes.fetch_add(1, SeqCst);
        self.entries.invalidate_all();
        self.by_session.invalidate_all();
    }

    /// Makes every entry of `user` stale: the next lookup of any of their
    /// sessions reads the database. Also affects the few users that share
    /// the bucket (a database read each, nothing more).
    pub fn evict_user(&self, user: UserId) {
        let generation = self.revocations.fetch_add(1, SeqCst) + 1;
        self.bucket(user).fetch_max(generation, SeqCst);
    }

    /// Makes the entry of session `id` stale, like [`SessionCache::evict_user`]
    /// does for a user (and with the same cost for the sessions and users
    /// sharing its bucket).
    pub fn evict_session(&self, id: SessionId) {
        let generation = self.revocations.fetch_add(1, SeqCst) + 1;
        self.session_bucket(id).fetch_max(generation, SeqCst);
        self.by_session.invalidate(&id);
    }

    /// Drops the entry of one token.
    pub fn evict_token(&self, hash: &TokenHash) {
        if let Some(entry) = self.entries.remove(hash) {
            self.by_session.invalidate(&entry.session.id);
        }
    }

    /// The owner of the entry cached for `hash`, stale or not.
    pub(crate) fn cached_user(&self, hash: &TokenHash) -> Option<UserId> {
        self.entries.get(hash).map(|entry| entry.user.id)
    }

    /// The entry of session `id`, if this node holds one (best effort; see
    /// the `by_session` field).
    pub(crate) fn session_entry(&self, id: SessionId) -> Option<Arc<Entry>> {
        self.by_session.get(&id)
    }

    /// How many entries are held (after pending maintenance).
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Captures the counters before a database read.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket {
            flush: self.flushes.load(SeqCst),
            generation: self.revocations.load(SeqCst),
        }
    }

    /// The valid entry for `hash` at `now`, if any; a stale one is dropped.
    pub(crate) fn get(&self, hash: &TokenHash, now: DateTime<Utc>) -> Option<Arc<Entry>> {
        let entry = self.entries.get(hash)?;
        let fresh = self.generation(&entry.session, &entry.user) == entry.generation
            && self.flushes.load(SeqCst) == entry.flush
            && now - entry.cached_at <= self.ttl
            && now >= entry.cached_at;
        if fresh {
            Some(entry)
        } else {
            self.evict_token(hash);
            None
        }
    }

    /// The newest revocation generation of the session's and the user's
    /// buckets: it moves past an entry's when either is evicted.
    fn generation(&self, session: &Session, user: &User) -> u64 {
        self.bucket(user.id)
            .load(SeqCst)
            .max(self.session_bucket(session.id).load(SeqCst))
    }

    /// Caches a database answer read under `ticket`, unless a revocation of
    /// its user (or a flush) happened since the ticket was taken.
    pub(crate) fn insert(
        &self,
        hash: TokenHash,
        session: &Session,
        user: &User,
        ticket: Ticket,
        now: DateTime<Utc>,
    ) {
        let generation = self.generation(session, user);
        if generation > ticket.generation || self.flushes.load(SeqCst) != ticket.flush {
            return;
        }
        // A revocation or flush between the check above and this insert
        // leaves the entry with an old generation: it is never served.
        let entry = Arc::new(Entry {
            session: session.clone(),
            user: user.clone(),
            last_active: AtomicI64::new(session.last_active_at.timestamp_micros()),
            cached_at: now,
            generation,
            flush: ticket.flush,
        });
        self.by_session.insert(session.id, Arc::clone(&entry));
        self.entries.insert(hash, entry);
    }
}

/// What one [`RevocationFollower::poll`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Log rows applied (users evicted).
    pub evicted: usize,
    /// The whole cache was flushed (first poll, falling behind, or a gap given up).
    pub flushed: bool,
    /// Some log id is still missing (a transaction in flight or rolled back).
    pub open_gap: bool,
}

/// Follows the revocation log for one [`SessionCache`].
///
/// Reads rows with `id > floor` and evicts their users. Ids can become
/// visible out of order (PostgreSQL assigns them at insert, transactions
/// commit later) or never (a rollback), so a missing id is not skipped: the
/// follower keeps reading from below it and evicts when it appears, and only
/// after [`DEFAULT_GAP_TIMEOUT`] gives up on it and flushes. Falling far
/// behind flushes too. The driver calls [`RevocationFollower::poll`] every
/// `revocation_poll` and [`RevocationFollower::failed`] when a poll fails or
/// times out, which suspends the cache until a poll succeeds again.
#[derive(Debug)]
pub struct RevocationFollower {
    cache: Arc<SessionCache>,
    /// Every id up to here has been applied (or given up); `None` before the first poll.
    floor: Option<i64>,
    /// Ids above `floor` already applied.
    seen: BTreeSet<i64>,
    /// Since when the lowest missing id has been missing.
    gap_since: Option<Instant>,
    gap_timeout: Duration,
}

impl RevocationFollower {
    /// A follower of `cache`. The cache is suspended until the first
    /// successful poll, which starts at the end of the log and flushes.
    pub fn new(cache: Arc<SessionCache>) -> Self {
        cache.suspend();
        Self {
            cache,
            floor: None,
            seen: BTreeSet::new(),
            gap_since: None,
            gap_timeout: DEFAULT_GAP_TIMEOUT,
        }
    }

    /// Waits `timeout` (instead of [`DEFAULT_GAP_TIMEOUT`]) for a missing id.
    pub fn gap_timeout(mut self, timeout: Duration) -> Self {
        self.gap_timeout = timeout;
        self
    }

    /// The cache this follower keeps correct.
    pub fn cache(&self) -> &Arc<SessionCache> {
        &self.cache
    }

    /// A poll failed or timed out: flush and suspend the cache until a poll succeeds.
    pub fn failed(&self) {
        self.cache.suspend();
    }

    fn advance(&mut self, floor: &mut i64) {
        while self.seen.first() == Some(&(*floor + 1)) {
            self.seen.pop_first();
            *floor += 1;
        }
    }

    /// Reads the log once and applies it; `now` is the caller's monotonic
    /// time (for the gap timeout). Resumes the cache on success.
    pub async fn poll(
        &mut self,
        store: &dyn RevocationStore,
        now: Instant,
    ) -> StoreResult<PollReport> {
        let mut report = PollReport::default();
        let mut floor = match self.floor {
            Some(floor) => floor,
            None => {
                let latest = store.latest_revocation_id().await?;
                self.seen.clear();
                self.gap_since = None;
                self.floor = Some(latest);
                // Entries from before this point may predate any row up to `latest`.
                self.cache.flush();
                report.flushed = true;
                latest
            }
        };
        for _ in 0..MAX_BATCHES {
            let rows = store.revocations_after(floor, FOLLOW_BATCH).await?;
            let full = rows.len() >= FOLLOW_BATCH as usize;
            for row in &rows {
                if row.id > floor && self.seen.insert(row.id) {
                    self.cache.evict_user(row.user_id);
                    report.evicted += 1;
                }
            }
            self.advance(&mut floor);
            if full {
                // Far behind, or many rows above a missing id: stop waiting
                // for anything below this batch and start over from its end.
                if let Some(last) = rows.last() {
                    floor = floor.max(last.id);
                }
                self.seen.retain(|id| *id > floor);
                self.advance(&mut floor);
                self.gap_since = None;
                self.cache.flush();
                report.flushed = true;
                self.floor = Some(floor);
                continue;
            }
            self.floor = Some(floor);
            break;
        }
        if self.seen.is_empty() {
            self.gap_since = None;
        } else {
            match self.gap_since {
                None => self.gap_since = Some(now),
                Some(since) if now.saturating_duration_since(since) >= self.gap_timeout => {
                    // Give up on the lowest missing id: whatever it was, the
                    // flush makes every entry read before now stale.
                    if let Some(first) = self.seen.first() {
                        floor = first - 1;
                    }
                    self.advance(&mut floor);
                    self.cache.flush();
                    report.flushed = true;
                    self.gap_since = (!self.seen.is_empty()).then_some(now);
                    self.floor = Some(floor);
                }
                Some(_) => {}
            }
            report.open_gap = !self.seen.is_empty();
        }
        self.cache.resume();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SessionKind, SessionMeta};
    use crate::store::{Revocation, StoreError};
    use async_trait::async_trait;
    use chrono::TimeZone;
    use std::sync::Mutex;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn user(n: u8) -> User {
        let mut id = [0u8; 16];
        id[15] = n;
        id[0] = n;
        User::new(
            UserId::from_uuid(uuid::Uuid::from_bytes(id)),
            format!("u{n}@example.com"),
            None,
            t0(),
        )
    }

    fn session_of(user: &User, token: u8) -> (TokenHash, Session) {
        let hash = crate::token::RawToken::from_bytes([token; 32]).hash();
        let s = Session::new(
            user.id,
            hash,
            SessionKind::Standard,
            SessionMeta::default(),
            t0(),
        );
        (hash, s)
    }

    fn cache() -> SessionCache {
        SessionCache::new(1000, Duration::from_secs(300))
    }

    #[test]
    fn a_cached_answer_is_served_until_its_user_is_evicted() {
        let c = cache();
        let (alice, bob) = (user(1), user(2));
        let (ha, sa) = session_of(&alice, 1);
        let (hb, sb) = session_of(&bob, 2);
        c.insert(ha, &sa, &alice, c.ticket(), t0());
        c.insert(hb, &sb, &bob, c.ticket(), t0());
        assert_eq!(
            c.get(&ha, t0()).unwrap().view(),
            (sa.clone(), alice.clone())
        );
        c.evict_user(alice.id);
        assert!(c.get(&ha, t0()).is_none());
        assert!(c.get(&hb, t0()).is_some(), "another bucket is untouched");
        // A read that starts after the eviction may cache again.
        c.insert(ha, &sa, &alice, c.ticket(), t0());
        assert!(c.get(&ha, t0()).is_some());
    }

    #[test]
    fn a_revocation_that_races_the_read_keeps_the_answer_out() {
        let c = cache();
        let alice = user(1);
        let (h, s) = session_of(&alice, 1);
        let ticket = c.ticket(); // the read starts...
        c.evict_user(alice.id); // ...a log-out commits and evicts...
        c.insert(h, &s, &alice, ticket, t0()); // ...the stale answer arrives.
        assert!(c.get(&h, t0()).is_none());
        // An eviction of another user in between does not block caching.
        let bob = user(2);
        let ticket = c.ticket();
        c.evict_user(bob.id);
        c.insert(h, &s, &alice, ticket, t0());
        assert!(c.get(&h, t0()).is_some());
    }

    #[test]
    fn flush_and_suspend_drop_everything_and_a_racing_read_too() {
        let c = cache();
        let alice = user(1);
        let (h, s) = session_of(&alice, 1);
        c.insert(h, &s, &alice, c.ticket(), t0());
        let ticket = c.ticket();
        c.flush();
        assert!(c.get(&h, t0()).is_none());
        c.insert(h, &s, &alice, ticket, t0());
        assert!(c.get(&h, t0()).is_none(), "read started before the flush");
        c.suspend();
        assert!(!c.is_active());
        c.resume();
        assert!(c.is_active());
    }

    #[test]
    fn entries_expire_after_the_ttl_by_the_service_clock() {
        let c = cache();
        let alice = user(1);
        let (h, s) = session_of(&alice, 1);
        c.insert(h, &s, &alice, c.ticket(), t0());
        assert!(c.get(&h, t0() + TimeDelta::seconds(300)).is_some());
        assert!(c.get(&h, t0() + TimeDelta::seconds(301)).is_none());
    }

    #[test]
    fn one_caller_claims_each_due_touch() {
        let c = cache();
        let alice = user(1);
        let (h, s) = session_of(&alice, 1);
        c.insert(h, &s, &alice, c.ticket(), t0());
        let e = c.get(&h, t0()).unwrap();
        let five = TimeDelta::minutes(5);
        assert!(!e.claim_touch(t0() + TimeDelta::minutes(4), five));
        let later = t0() + five;
        assert!(e.claim_touch(later, five));
        assert!(!e.claim_touch(later, five), "claimed once");
        assert_eq!(e.view().0.last_active_at, later);
    }

    #[test]
    fn users_spread_over_buckets() {
        let c = cache();
        let used: BTreeSet<usize> = (0..2000u32)
            .map(|i| {
                let id = UserId::new(t0() + TimeDelta::milliseconds(i64::from(i)));
                let b = c.bucket(id) as *const AtomicU64 as usize;
                (b - c.buckets.as_ptr() as usize) / std::mem::size_of::<AtomicU64>()
            })
            .collect();
        assert!(
            used.len() > 1000,
            "{} buckets used by 2000 users",
            used.len()
        );
    }

    /// A scripted revocation log.
    #[derive(Debug, Default)]
    struct Log {
        rows: Mutex<Vec<Revocation>>,
        fail: AtomicBool,
    }

    impl Log {
        fn push(&self, id: i64, user: UserId) {
            let mut rows = self.rows.lock().unwrap();
            let sorted = rows.last().is_none_or(|last| last.id < id);
            rows.push(Revocation { id, user_id: user });
            if !sorted {
                rows.sort_by_key(|r| r.id);
            }
        }
    }

    #[async_trait]
    impl RevocationStore for Log {
        async fn latest_revocation_id(&self) -> StoreResult<i64> {
            if self.fail.load(SeqCst) {
                return Err(StoreError::NotFound("database"));
            }
            Ok(self.rows.lock().unwrap().last().map_or(0, |r| r.id))
        }
        async fn revocations_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Revocation>> {
            if self.fail.load(SeqCst) {
                return Err(StoreError::NotFound("database"));
            }
            Ok(self
                .rows
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.id > after)
                .take(limit as usize)
                .copied()
                .collect())
        }
        async fn prune_revocations(&self, _before: DateTime<Utc>) -> StoreResult<u64> {
            Ok(0)
        }
    }

    fn cached(c: &SessionCache, u: &User, token: u8) -> TokenHash {
        let (h, s) = session_of(u, token);
        c.insert(h, &s, u, c.ticket(), t0());
        assert!(c.get(&h, t0()).is_some());
        h
    }

    #[tokio::test]
    async fn the_follower_syncs_evicts_and_waits_for_out_of_order_ids() {
        let c = Arc::new(cache());
        let log = Log::default();
        let (alice, bob) = (user(1), user(2));
        log.push(1, bob.id);
        let mut f = RevocationFollower::new(c.clone()).gap_timeout(Duration::from_secs(10));
        assert!(!c.is_active(), "suspended until the first poll");
        let start = Instant::now();
        let first = f.poll(&log, start).await.unwrap();
        assert!(first.flushed && c.is_active());
        assert_eq!(first.evicted, 0, "starts at the end of the log");

        let ha = cached(&c, &alice, 1);
        let hb = cached(&c, &bob, 2);
        // Id 3 (alice) commits before id 2 (bob): alice is evicted at once,
        // and bob's row is still applied when it shows up later.
        log.push(3, alice.id);
        let r = f.poll(&log, start).await.unwrap();
        assert_eq!((r.evicted, r.flushed, r.open_gap), (1, false, true));
        assert!(c.get(&ha, t0()).is_none());
        assert!(c.get(&hb, t0()).is_some());
        log.push(2, bob.id);
        let r = f.poll(&log, start + Duration::from_secs(1)).await.unwrap();
        assert_eq!((r.evicted, r.flushed, r.open_gap), (1, false, false));
        assert!(c.get(&hb, t0()).is_none());
        assert_eq!(f.floor, Some(3));
    }

    #[tokio::test]
    async fn a_gap_that_never_fills_is_given_up_with_a_flush() {
        let c = Arc::new(cache());
        let log = Log::default();
        let (alice, bob) = (user(1), user(2));
        let mut f = RevocationFollower::new(c.clone()).gap_timeout(Duration::from_secs(10));
        let start = Instant::now();
        f.poll(&log, start).await.unwrap();
        log.push(2, alice.id); // id 1 rolled back
        f.poll(&log, start).await.unwrap();
        let hb = cached(&c, &bob, 2);
        let r = f.poll(&log, start + Duration::from_secs(9)).await.unwrap();
        assert!(r.open_gap && !r.flushed);
        assert!(c.get(&hb, t0()).is_some());
        let r = f.poll(&log, start + Duration::from_secs(10)).await.unwrap();
        assert!(r.flushed && !r.open_gap);
        assert!(c.get(&hb, t0()).is_none());
        assert_eq!(f.floor, Some(2));
    }

    #[tokio::test]
    async fn a_failed_poll_flushes_and_suspends_until_a_poll_succeeds() {
        let c = Arc::new(cache());
        let log = Log::default();
        let alice = user(1);
        let mut f = RevocationFollower::new(c.clone());
        let now = Instant::now();
        f.poll(&log, now).await.unwrap();
        let h = cached(&c, &alice, 1);
        log.fail.store(true, SeqCst);
        assert!(f.poll(&log, now).await.is_err());
        f.failed();
        assert!(!c.is_active());
        assert!(c.get(&h, t0()).is_none(), "flushed");
        // A revocation while the node could not read the log...
        log.push(1, alice.id);
        log.fail.store(false, SeqCst);
        let r = f.poll(&log, now).await.unwrap();
        assert!(c.is_active());
        assert_eq!(r.evicted, 1, "...is still applied after the reconnect");
    }

    #[tokio::test]
    async fn falling_far_behind_flushes_and_jumps() {
        let c = Arc::new(cache());
        let log = Log::default();
        let alice = user(1);
        let mut f = RevocationFollower::new(c.clone());
        let now = Instant::now();
        f.poll(&log, now).await.unwrap();
        let h = cached(&c, &alice, 1);
        let other = user(9);
        let total = i64::from(FOLLOW_BATCH) * (MAX_BATCHES as i64 + 2);
        for id in 1..=total {
            log.push(id, other.id);
        }
        let r = f.poll(&log, now).await.unwrap();
        assert!(r.flushed);
        assert!(c.get(&h, t0()).is_none());
        f.poll(&log, now).await.unwrap();
        assert_eq!(f.floor, Some(total));
    }

    #[test]
    fn invalid_tokens_are_never_cached_so_memory_stays_bounded() {
        // The cache only grows through `insert`, which `fetch_session` calls
        // for found sessions only; the end-to-end check with a million tokens
        // is `auth::tests::a_million_invalid_tokens_cache_nothing`.
        let c = SessionCache::new(10, Duration::from_secs(300));
        for n in 0..100u8 {
            let u = user(n);
            let (h, s) = session_of(&u, n);
            c.insert(h, &s, &u, c.ticket(), t0());
        }
        assert!(c.entry_count() <= 10, "{} entries", c.entry_count());
    }
}
