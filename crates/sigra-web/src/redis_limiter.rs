//! The Redis rate limiter (many nodes), degrading to a node-local limiter while Redis is away.
//!
//! [`RedisRateLimiter`] implements the [`RateLimiter`] port with the same
//! fixed windows as [`MemoryRateLimiter`], kept in Redis so every node
//! counts against one budget. Each hit is **one atomic Lua script**
//! (`EVALSHA`, falling back to `EVAL` after a Redis restart empties its
//! script cache) on the key `sigra:rl:` + [`rate_limit_key`]`(rule, key)`:
//!
//! - the key is a hash `{s: window start (ms), n: hits}`; when it is absent
//!   or `now - s >= period`, the script opens a new window at `now` and sets
//!   `PEXPIRE period`;
//! - if `n >= count` it answers "limited" with `s + period - now`
//!   milliseconds to wait, and counts nothing;
//! - otherwise it increments `n` (`HINCRBY`) and answers the hits left.
//!
//! # Time: `now` decides, the Redis TTL cleans up
//!
//! The port says windows are measured against the `now` the caller passes,
//! never a wall clock, and this backend honours that exactly: the window
//! start is stored as `now` in milliseconds and every comparison uses the
//! caller's `now`, so a test clock drives it just like the in-memory
//! limiter, and both pass the same tests. The key's TTL (`PEXPIRE period`,
//! counted by the Redis server's own clock) only bounds memory: when the
//! node clocks and Redis's agree, as in production, the key expires when
//! its window ends. If a node's clock runs *ahead* of Redis's, its `now`
//! check resets the window first and nothing changes; if it runs *behind*
//! by Δ, a window may end up to Δ early. Nodes with skewed clocks may see
//! a window end up to the skew apart; keep them on NTP. (With a frozen test
//! clock and a real Redis, a key would also vanish once `period` of *real*
//! time has passed — tests use windows far longer than they run.)
//!
//! # Degradation: never a 500, never "no limit"
//!
//! When Redis cannot answer (refused, reset, timed out after
//! [`RedisLimiterOptions::response_timeout`]), the hit is counted by a
//! node-local [`MemoryRateLimiter`] instead: each node then enforces the
//! limits on its own (so a cluster of N nodes allows up to N × the limit),
//! which is far better than either failing every log-in or limiting
//! nothing. One `WARN` event `sigra.rate_limit.redis` (outcome
//! `unreachable`) is logged when an outage starts, not per request; one
//! `INFO` event (outcome `recovered`, with how many hits were counted
//! locally) when Redis counts a hit again.
//!
//! Reconnection happens in the background with exponential backoff
//! ([`RedisLimiterOptions::reconnect_backoff`], from 250 ms doubling up to
//! 30 s by default): requests never wait for a reconnect (only the very
//! first hits of a new limiter wait for its first connection attempt, at
//! most [`RedisLimiterOptions::connect_timeout`]), and a flood of requests
//! during an outage causes one connection attempt per backoff step, not one
//! per request. The local counters are not copied back to Redis when it
//! returns; windows simply start afresh there.
//!
//! # TLS: `rediss://`
//!
//! With the `redis-tls` feature (which `sigra-cli` turns on), a `rediss://`
//! URL connects over TLS: rustls on ring, the server certificate checked
//! against the bundled webpki roots (Mozilla's list), or against the PEM
//! file in [`RedisLimiterOptions::ca_file`] (`SIGRA_REDIS_CA_FILE`) *instead*
//! when the server's certificate comes from a private CA. Verification
//! fails closed: a certificate that does not chain to a trusted root or
//! does not name the host is an unreachable Redis (the degradation below,
//! with the TLS error in its one warning), never a plaintext or unchecked
//! connection. An unreadable CA file, or one without a PEM certificate, is
//! an `Err` when the limiter is built. Without the feature, a `rediss://`
//! URL is refused up front.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sigra_core::auth::Auth;
//! use sigra_web::Sigra;
//! use sigra_web::redis_limiter::RedisRateLimiter;
//!
//! # async fn run(auth: Auth) -> Result<(), Box<dyn std::error::Error>> {
//! // `Sigra::new` does this by itself when REDIS_URL is set; connecting
//! // yourself surfaces an unusable URL as an error before serving.
//! let limiter = RedisRateLimiter::connect("redis://127.0.0.1:6379").await?;
//! let sigra = Sigra::with_limiter(auth, Arc::new(limiter));
//! # let _ = sigra; Ok(()) }
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, ServerErrorKind};
use sigra_core::rate_limit::{
    RateDecision, RateLimitError, RateLimitRule, RateLimiter, rate_limit_key,
};
use tokio::time::Instant;

use crate::memory_limiter::MemoryRateLimiter;

/// The prefix of every counter key in Redis.
pub const DEFAULT_KEY_PREFIX: &str = "sigra:rl:";

/// One hit: open or continue the fixed window, then count or refuse.
///
/// `KEYS[1]` the counter; `ARGV` = now (ms), period (ms), count.
/// Returns `{1, remaining}` or `{0, milliseconds until a hit is allowed}`.
const SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 's', 'n')
local start = tonumber(state[1])
local hits = tonumber(state[2]) or 0
if start == nil or now - start >= period then
  start = now
  hits = 0
  redis.call('HSET', KEYS[1], 's', ARGV[1], 'n', 0)
  redis.call('PEXPIRE', KEYS[1], period)
end
if hits >= limit then
  return {0, start + period - now}
end
hits = redis.call('HINCRBY', KEYS[1], 'n', 1)
return {1, limit - hits}
";

/// Periods are sent to Redis in milliseconds, capped so `now + period` never
/// overflows Redis's expiry arithmetic (about 317 years).
const MAX_PERIOD_MS: u64 = 10_000_000_000_000;

/// Timeouts and reconnection pacing of a [`RedisRateLimiter`].
#[derive(Debug, Clone)]
pub struct RedisLimiterOptions {
    /// Prefix of every key (default [`DEFAULT_KEY_PREFIX`], `sigra:rl:`).
    pub key_prefix: String,
    /// How long one connection attempt may take (default 1 s).
    pub connect_timeout: Duration,
    /// How long Redis may take to answer one hit before it counts as
    /// unreachable and the hit is counted locally (default 500 ms).
    pub response_timeout: Duration,
    /// The first and the largest wait between reconnection attempts during
    /// an outage (default 250 ms, doubling up to 30 s).
    pub reconnect_backoff: (Duration, Duration),
    /// A PEM file of the CA (one or more certificates) that signed the
    /// server's certificate, for `rediss://` URLs (`SIGRA_REDIS_CA_FILE`).
    /// When set it replaces the bundled roots; default `None`.
    pub ca_file: Option<PathBuf>,
}

impl Default for RedisLimiterOptions {
    fn default() -> Self {
        Self {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(500),
            reconnect_backoff: (Duration::from_millis(250), Duration::from_secs(30)),
            ca_file: None,
        }
    }
}

/// Where a [`RedisRateLimiter`] counts hits right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimiterBackend {
    /// In Redis, shared by every node.
    Redis,
    /// In this node's memory, because Redis is unreachable (or not yet connected).
    Local,
}

/// Fixed-window counters in Redis, shared by every node; node-local while
/// Redis is unreachable. See the [module docs](self) for the design.
///
/// Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct RedisRateLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    /// `host:port` of the server, for log lines (never the URL: it may hold a password).
    addr: String,
    options: RedisLimiterOptions,
    script_sha: String,
    fallback: MemoryRateLimiter,
    link: Mutex<Link>,
    /// Woken when the first connection attempt has answered.
    first_attempt: tokio::sync::Notify,
    outages: AtomicU64,
}

/// The connection and the outage bookkeeping. Never held across an `.await`.
struct Link {
    /// The live connection and its generation (so one failed connection is
    /// torn down once, however many hits saw it fail).
    conn: Option<(MultiplexedConnection, u64)>,
    generation: u64,
    /// A reconnection task is running.
    connecting: bool,
    /// No connection attempt has answered yet: hits wait for the first one.
    first_attempt_pending: bool,
    /// No reconnection attempt before this instant.
    retry_at: Instant,
    /// The wait after the next failed attempt.
    backoff: Duration,
    /// Set from the first failure until Redis counts a hit again.
    outage: Option<Outage>,
}

struct Outage {
    since: Instant,
    local_hits: u64,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("addr", &self.shared.addr)
            .field("key_prefix", &self.shared.options.key_prefix)
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A limiter on the Redis at `url` (`redis://[:password@]host[:port][/db]`)
    /// with default options, connected before it returns.
    ///
    /// An unreachable Redis is **not** an error: the limiter starts
    /// node-local, logs the outage once and keeps reconnecting in the
    /// background. `Err` means the URL itself is unusable (malformed, or
    /// `rediss://` without the `redis-tls` feature) or, for `rediss://`,
    /// [`RedisLimiterOptions::ca_file`] cannot be read as PEM certificates.
    pub async fn connect(url: &str) -> Result<Self, RateLimitError> {
        Self::connect_with(url, RedisLimiterOptions::default()).await
    }

    /// [`RedisRateLimiter::connect`] with explicit options.
    pub async fn connect_with(
        url: &str,
        options: RedisLimiterOptions,
    ) -> Result<Self, RateLimitError> {
        let limiter = Self::new_with(url, options)?;
        let result = limiter.shared.open().await;
        limiter.shared.connected(result);
        Ok(limiter)
    }

    /// A limiter on the Redis at `url` that connects on its own, without
    /// waiting here: when called inside a Tokio runtime the connection
    /// attempt starts at once in the background, otherwise at the first hit.
    /// Hits that arrive before that first attempt has answered wait for it
    /// (at most [`RedisLimiterOptions::connect_timeout`]), so they are
    /// counted in Redis whenever it is reachable.
    pub fn new(url: &str) -> Result<Self, RateLimitError> {
        Self::new_with_options(url, RedisLimiterOptions::default())
    }

    /// [`RedisRateLimiter::new`] with explicit options (what `Sigra::new`
    /// uses, with [`RedisLimiterOptions::ca_file`] from the config).
    pub fn new_with_options(
        url: &str,
        options: RedisLimiterOptions,
    ) -> Result<Self, RateLimitError> {
        let limiter = Self::new_with(url, options)?;
        if tokio::runtime::Handle::try_current().is_ok() {
            let mut link = limiter.shared.lock();
            limiter.shared.start_reconnect(&mut link);
        }
        Ok(limiter)
    }

    fn new_with(url: &str, options: RedisLimiterOptions) -> Result<Self, RateLimitError> {
        let client = if url.trim_start().to_ascii_lowercase().starts_with("rediss:") {
            tls_client(url, options.ca_file.as_deref())?
        } else {
            Client::open(url).map_err(|e| {
                RateLimitError::backend(format!(
                    "REDIS_URL is not a usable Redis URL ({}); expected redis://host:6379",
                    e
                ))
            })?
        };
        let addr = client.get_connection_info().addr().to_string();
        let (min_backoff, _) = options.reconnect_backoff;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                addr,
                script_sha: sha1_hex(SCRIPT.as_bytes()),
                fallback: MemoryRateLimiter::new(),
                link: Mutex::new(Link {
                    conn: None,
                    generation: 0,
                    connecting: false,
                    first_attempt_pending: true,
                    retry_at: Instant::now(),
                    backoff: min_backoff,
                    outage: None,
                }),
                outages: AtomicU64::new(0),
                first_attempt: tokio::sync::Notify::new(),
                options,
            }),
        })
    }

    /// Opens one connection to the Redis at `url` as a limiter would (TLS and
    /// [`RedisLimiterOptions::ca_file`] included) and sends `PING`, within
    /// the options' timeouts; for health checks such as `sigra doctor`.
    /// `Err` carries the reason as its source (the URL, the CA file, the
    /// connection, the certificate, or Redis's own answer, e.g. `NOAUTH`).
    pub async fn ping(url: &str, options: RedisLimiterOptions) -> Result<(), RateLimitError> {
        let limiter = Self::new_with(url, options)?;
        limiter
            .shared
            .open()
            .await
            .map(drop)
            .map_err(RateLimitError::backend)
    }

    /// Where hits are counted right now.
    pub fn backend(&self) -> LimiterBackend {
        if self.shared.lock().conn.is_some() {
            LimiterBackend::Redis
        } else {
            LimiterBackend::Local
        }
    }

    /// How many outages have started since this limiter was built (each
    /// logged one warning).
    pub fn outages(&self) -> u64 {
        self.shared.outages.load(Ordering::Relaxed)
    }

    /// The Redis key of `key` under `rule`: the prefix + [`rate_limit_key`].
    pub fn redis_key(&self, rule: &RateLimitRule, key: &str) -> String {
        format!(
            "{}{}",
            self.shared.options.key_prefix,
            rate_limit_key(rule, key)
        )
    }
}

/// A client for a `rediss://` URL: rustls on ring, the bundled roots or
/// the CA in `ca_file` (SIGRA_REDIS_CA_FILE).
#[cfg(feature = "redis-tls")]
fn tls_client(url: &str, ca_file: Option<&std::path::Path>) -> Result<Client, RateLimitError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    // rustls needs a process-wide crypto provider; ring unless the host app
    // already installed one (an `Err` here means it did).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let unusable = |e: RedisError| {
        RateLimitError::backend(format!(
            "REDIS_URL is not a usable Redis URL ({e}); expected rediss://host:6380"
        ))
    };
    let Some(path) = ca_file else {
        return Client::open(url).map_err(unusable);
    };
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| {
        RateLimitError::backend(format!(
            "SIGRA_REDIS_CA_FILE ({shown}) cannot be read ({e}); set it to a PEM file of the CA \
             that signed the Redis server's certificate"
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            RateLimitError::backend(format!(
                "SIGRA_REDIS_CA_FILE ({shown}) is not valid PEM ({e})"
            ))
        })?;
    if certs.is_empty() {
        return Err(RateLimitError::backend(format!(
            "SIGRA_REDIS_CA_FILE ({shown}) holds no PEM certificate \
             (expected -----BEGIN CERTIFICATE-----)"
        )));
    }
    Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        },
    )
    .map_err(|e| {
        RateLimitError::backend(format!(
            "SIGRA_REDIS_CA_FILE ({shown}) cannot be used as a trust root ({e})"
        ))
    })
}

/// Without the `redis-tls` feature a `rediss://` URL is refused.
#[cfg(not(feature = "redis-tls"))]
fn tls_client(_url: &str, _ca_file: Option<&std::path::Path>) -> Result<Client, RateLimitError> {
    Err(RateLimitError::backend(
        "REDIS_URL uses rediss:// (TLS), but sigra-web was built without its `redis-tls` \
         feature; turn it on (sigra-cli does) or use redis:// on a private network",
    ))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Link> {
        // The link holds no invariant a panic could break half-way.
        self.link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn connection_config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.connect_timeout))
            .set_response_timeout(Some(self.options.response_timeout))
    }

    /// Opens a connection and checks that Redis answers.
    async fn open(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.connection_config())
            .await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(conn)
    }

    /// Starts a background reconnection unless one is running or the
    /// backoff has not elapsed. Needs a Tokio runtime (hits always have one).
    fn start_reconnect(self: &Arc<Self>, link: &mut Link) {
        if link.connecting || link.conn.is_some() || Instant::now() < link.retry_at {
            return;
        }
        link.connecting = true;
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            let result = shared.open().await;
            shared.connected(result);
        });
    }

    /// Records the outcome of a connection attempt. A failure starts an
    /// outage (and its one warning) unless one is already under way.
    fn connected(&self, result: Result<MultiplexedConnection, RedisError>) {
        let mut link = self.lock();
        link.connecting = false;
        if link.first_attempt_pending {
            link.first_attempt_pending = false;
            self.first_attempt.notify_waiters();
        }
        match result {
            Ok(conn) => {
                link.generation += 1;
                link.conn = Some((conn, link.generation));
                tracing::debug!(name: "sigra.rate_limit.redis", outcome = "connected", addr = %self.addr);
            }
            Err(e) => {
                self.back_off(&mut link);
                tracing::debug!(
                    name: "sigra.rate_limit.redis",
                    outcome = "connect_failed",
                    addr = %self.addr,
                    error = %e,
                );
                self.begin_outage(&mut link, &e);
            }
        }
    }

    fn back_off(&self, link: &mut Link) {
        let (_, max) = self.options.reconnect_backoff;
        link.retry_at = Instant::now() + link.backoff;
        link.backoff = (link.backoff * 2).min(max);
    }

    /// The first failure of an outage: one warning, then silence until it ends.
    fn begin_outage(&self, link: &mut Link, error: &dyn fmt::Display) {
        if link.outage.is_some() {
            return;
        }
        link.outage = Some(Outage {
            since: Instant::now(),
            local_hits: 0,
        });
        self.outages.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            name: "sigra.rate_limit.redis",
            outcome = "unreachable",
            addr = %self.addr,
            error = %error,
            "Redis is unreachable: rate limits are counted on this node only until it is back"
        );
    }

    /// A hit was counted in Redis: ends an outage, resets the backoff.
    fn succeeded(&self) {
        let mut link = self.lock();
        link.backoff = self.options.reconnect_backoff.0;
        if let Some(outage) = link.outage.take() {
            tracing::info!(
                name: "sigra.rate_limit.redis",
                outcome = "recovered",
                addr = %self.addr,
                local_hits = outage.local_hits,
                down_ms = outage.since.elapsed().as_millis() as u64,
                "Redis is back: rate limits are shared again"
            );
        }
    }

    /// A hit on connection `generation` failed: drop that connection (once)
    /// and schedule the reconnection.
    fn failed(&self, generation: u64, error: &dyn fmt::Display) {
        let mut link = self.lock();
        match &link.conn {
            Some((_, current)) if *current == generation => {
                link.conn = None;
                self.back_off(&mut link);
            }
            // A newer connection is already up: this failure is old news.
            Some(_) => return,
            None => {}
        }
        self.begin_outage(&mut link, error);
    }

    /// Runs the script: `EVALSHA`, then `EVAL` when Redis lost its script cache.
    async fn eval(
        &self,
        conn: &mut MultiplexedConnection,
        key: &str,
        rule: &RateLimitRule,
        now: DateTime<Utc>,
    ) -> Result<(i64, i64), RedisError> {
        let period_ms = u64::try_from(rule.limit.period.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_PERIOD_MS);
        let now_ms = now.timestamp_millis();
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha
            .arg(&self.script_sha)
            .arg(1)
            .arg(key)
            .arg(now_ms)
            .arg(period_ms)
            .arg(rule.limit.count);
        match evalsha.query_async::<(i64, i64)>(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let mut eval = redis::cmd("EVAL");
                eval.arg(SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(now_ms)
                    .arg(period_ms)
                    .arg(rule.limit.count);
                eval.query_async(conn).await
            }
            other => other,
        }
    }
}

/// Turns the script's answer into a decision, within the port's bounds.
fn decision(rule: &RateLimitRule, (allowed, value): (i64, i64)) -> RateDecision {
    if allowed == 1 {
        RateDecision::Allowed {
            remaining: u32::try_from(value.max(0)).unwrap_or(u32::MAX),
        }
    } else {
        let wait = Duration::from_millis(u64::try_from(value).unwrap_or(0));
        RateDecision::Limited {
            retry_after: wait.max(Duration::from_millis(1)).min(rule.limit.period),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(
        &self,
        rule: &RateLimitRule,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, RateLimitError> {
        let shared = &self.shared;
        let conn = loop {
            // Created before the check, so a notification in between is not lost.
            let first_attempt_done = std::pin::pin!(shared.first_attempt.notified());
            {
                let mut link = shared.lock();
                if let Some((conn, generation)) = &link.conn {
                    break Some((conn.clone(), *generation));
                }
                shared.start_reconnect(&mut link);
                if !link.first_attempt_pending {
                    break None;
                }
            }
            // Until the very first connection attempt has answered, wait for
            // it (at most the connect timeout) rather than count locally.
            let wait = shared.options.connect_timeout + Duration::from_millis(100);
            if tokio::time::timeout(wait, first_attempt_done)
                .await
                .is_err()
            {
                break None;
            }
        };
        if let Some((mut conn, generation)) = conn {
            let redis_key = self.redis_key(rule, key);
            // The connection's own response timeout bounds this; the outer
            // one also covers a server that accepts but never answers.
            let answer = tokio::time::timeout(
                shared.options.response_timeout + Duration::from_millis(50),
                shared.eval(&mut conn, &redis_key, rule, now),
            )
            .await;
            match answer {
                Ok(Ok(reply)) => {
                    shared.succeeded();
                    return Ok(decision(rule, reply));
                }
                Ok(Err(e)) => shared.failed(generation, &e),
                Err(_elapsed) => {
                    shared.failed(generation, &"no answer within the response timeout")
                }
            }
        }
        if let Some(outage) = shared.lock().outage.as_mut() {
            outage.local_hits += 1;
        }
        Ok(shared.fallback.decide(rule, key, now))
    }
}

/// SHA-1 of the script in hex, the name `EVALSHA` knows it by (not a security use).
fn sha1_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
    let mut out = String::with_capacity(40);
    for byte in digest.as_ref() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigra_core::rate_limit::{RateLimitAction, RateLimits};

    #[test]
    fn script_answers_map_to_decisions_within_bounds() {
        let rule = RateLimits::default().rule(RateLimitAction::Login);
        assert_eq!(
            decision(&rule, (1, 9)),
            RateDecision::Allowed { remaining: 9 }
        );
        assert_eq!(
            decision(&rule, (0, 40_000)),
            RateDecision::Limited {
                retry_after: Duration::from_secs(40)
            }
        );
        // A `now` before the window start: at most one period to wait.
        assert_eq!(
            decision(&rule, (0, 90_000)),
            RateDecision::Limited {
                retry_after: Duration::from_secs(60)
            }
        );
        assert_eq!(
            decision(&rule, (0, 0)),
            RateDecision::Limited {
                retry_after: Duration::from_millis(1)
            }
        );
    }

    #[test]
    fn script_sha_is_the_sha1_redis_computes() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[cfg(not(feature = "redis-tls"))]
    #[test]
    fn tls_urls_are_refused_up_front_without_the_redis_tls_feature() {
        let tls = RedisRateLimiter::new_with("rediss://cache:6380", RedisLimiterOptions::default())
            .unwrap_err();
        assert!(tls.to_string().contains("rate-limit backend"));
        assert!(
            std::error::Error::source(&tls)
                .unwrap()
                .to_string()
                .contains("rediss://")
        );
    }

    #[cfg(feature = "redis-tls")]
    #[test]
    fn tls_urls_are_accepted_and_a_bad_ca_file_is_refused_up_front() {
        let ok = RedisRateLimiter::new_with("rediss://cache:6380", RedisLimiterOptions::default())
            .unwrap();
        assert_eq!(ok.backend(), LimiterBackend::Local, "not connected yet");
        let dir = std::env::temp_dir().join(format!("sigra-no-such-dir-{}", std::process::id()));
        let missing = RedisRateLimiter::new_with(
            "rediss://cache:6380",
            RedisLimiterOptions {
                ca_file: Some(dir.join("ca.pem")),
                ..RedisLimiterOptions::default()
            },
        )
        .unwrap_err();
        let why = std::error::Error::source(&missing).unwrap().to_string();
        assert!(
            why.contains("SIGRA_REDIS_CA_FILE") && why.contains("cannot be read"),
            "{why}"
        );
    }

    #[test]
    fn malformed_urls_are_refused_up_front() {
        assert!(RedisRateLimiter::new_with("redis://", RedisLimiterOptions::default()).is_err());
        let ok = RedisRateLimiter::new_with(
            "redis://:hunter2@127.0.0.1:1/0",
            RedisLimiterOptions::default(),
        )
        .unwrap();
        let printed = format!("{ok:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(ok.backend(), LimiterBackend::Local);
    }
}
