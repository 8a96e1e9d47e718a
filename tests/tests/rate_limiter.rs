//! The rate-limiter conformance suite: the port's guarantees, checked on the
//! in-memory and the Redis backend with the same tests, then Redis outages.
//!
//! Each behaviour test is written once, as `async fn name(limiter: &dyn
//! RateLimiter)`, driven by a `now` the test chooses (never the wall clock:
//! the Redis backend keeps its window start as the caller's `now` too, see
//! `sigra_web::redis_limiter`), and listed once in the [`limiter_tests!`]
//! invocation, which generates `rate_limiter::memory::<name>` and
//! `rate_limiter::redis::<name>`.
//!
//! The Redis tests use the server at `SIGRA_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`, which `cargo xtask ci` and `cargo xtask
//! services` start) under a key prefix unique to the test, and fail — never
//! skip — when it is not there. The outage tests start their own
//! `redis-server` on a free port, stop it and start it again.
//!
//! Run them with `cargo test -p sigra-tests rate_limiter::`.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::rate_limit::{
    RateDecision, RateLimit, RateLimitAction, RateLimitRule, RateLimiter, RateLimits,
    rate_limit_key,
};
use sigra_core::token::RawToken;
use sigra_tests::t0;
use sigra_tests::tls_redis::TlsRedis;
use sigra_web::rate_limit::MemoryRateLimiter;
use sigra_web::redis_limiter::{
    DEFAULT_KEY_PREFIX, LimiterBackend, RedisLimiterOptions, RedisRateLimiter,
};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The variable naming the Redis server the shared tests run on.
const REDIS_URL_VAR: &str = "SIGRA_TEST_REDIS_URL";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Generates one `#[tokio::test]` per backend for each listed test.
macro_rules! limiter_tests {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let limiter = sigra_web::rate_limit::MemoryRateLimiter::new();
                    super::$test(&limiter).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let limiter = super::shared_redis().await;
                    super::$test(&limiter).await;
                }
            )*
        }
    };
}

limiter_tests![
    fixed_window_counts_down_limits_and_reopens,
    limited_hits_are_not_counted,
    every_subject_action_and_key_kind_has_its_own_counter,
    a_now_before_the_window_start_is_inside_the_window,
    short_windows_end_on_the_millisecond,
    concurrent_hits_never_exceed_the_limit,
];

// ---------------------------------------------------------------------------
// The shared behaviour tests.

fn rule(count: u32, period: Duration) -> RateLimitRule {
    let mut limits = RateLimits::default();
    limits.set(RateLimitAction::Login, RateLimit::new(count, period));
    limits.rule(RateLimitAction::Login)
}

fn at(ms: i64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(ms)
}

/// A subject no other test (or earlier run on the same Redis) uses.
fn unique_ip() -> String {
    let bytes = *RawToken::generate().unwrap().expose_bytes();
    format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2])
}

async fn hit(
    limiter: &dyn RateLimiter,
    rule: &RateLimitRule,
    key: &str,
    now: DateTime<Utc>,
) -> RateDecision {
    limiter.hit(rule, key, now).await.unwrap()
}

#[track_caller]
fn assert_limited(decision: RateDecision, wait: Duration) {
    assert_eq!(
        decision,
        RateDecision::Limited { retry_after: wait },
        "expected a limit with Retry-After {wait:?}"
    );
}

async fn fixed_window_counts_down_limits_and_reopens(limiter: &dyn RateLimiter) {
    let login = RateLimits::default().rule(RateLimitAction::Login);
    let ip = unique_ip();
    for i in 0..10 {
        assert_eq!(
            hit(limiter, &login, &ip, at(i * 100)).await,
            RateDecision::Allowed {
                remaining: 9 - u32::try_from(i).unwrap()
            },
            "hit {}",
            i + 1
        );
    }
    // The window opened at the first hit and lasts a minute.
    assert_limited(
        hit(limiter, &login, &ip, at(1_000)).await,
        Duration::from_secs(59),
    );
    assert_limited(
        hit(limiter, &login, &ip, at(20_000)).await,
        Duration::from_secs(40),
    );
    assert_limited(
        hit(limiter, &login, &ip, at(59_999)).await,
        Duration::from_millis(1),
    );
    // At its end a new window opens with a fresh count.
    assert_eq!(
        hit(limiter, &login, &ip, at(60_000)).await,
        RateDecision::Allowed { remaining: 9 }
    );
    assert_eq!(
        hit(limiter, &login, &ip, at(60_001)).await,
        RateDecision::Allowed { remaining: 8 }
    );
}

async fn limited_hits_are_not_counted(limiter: &dyn RateLimiter) {
    let rule = rule(3, Duration::from_secs(10));
    let ip = unique_ip();
    for _ in 0..3 {
        assert!(hit(limiter, &rule, &ip, at(0)).await.is_allowed());
    }
    // Hammering while limited neither extends the window nor carries over.
    for ms in (0..10_000).step_by(500) {
        assert!(
            !hit(limiter, &rule, &ip, at(ms)).await.is_allowed(),
            "at {ms} ms"
        );
    }
    for remaining in [2, 1, 0] {
        assert_eq!(
            hit(limiter, &rule, &ip, at(10_000)).await,
            RateDecision::Allowed { remaining }
        );
    }
    assert_limited(
        hit(limiter, &rule, &ip, at(10_000)).await,
        Duration::from_secs(10),
    );
}

async fn every_subject_action_and_key_kind_has_its_own_counter(limiter: &dyn RateLimiter) {
    let limits = RateLimits {
        login: RateLimit::new(1, Duration::from_secs(60)),
        register: RateLimit::new(1, Duration::from_secs(60)),
        reset_password: RateLimit::new(1, Duration::from_secs(60)),
        resend_confirmation: RateLimit::new(1, Duration::from_secs(60)),
        mfa: RateLimit::new(1, Duration::from_secs(60)),
        api_token_create: RateLimit::new(1, Duration::from_secs(60)),
    };
    let ip = unique_ip();
    // The same raw subject under every action: one counter each.
    for action in RateLimitAction::ALL {
        let rule = limits.rule(action);
        assert!(
            hit(limiter, &rule, &ip, at(0)).await.is_allowed(),
            "{action}"
        );
        assert!(
            !hit(limiter, &rule, &ip, at(1)).await.is_allowed(),
            "{action}"
        );
    }
    let login = limits.rule(RateLimitAction::Login);
    let other = unique_ip();
    assert!(hit(limiter, &login, &other, at(2)).await.is_allowed());

    // Normalisation is the same on every backend: one IPv6 /64 shares a
    // counter, and an email is one counter whatever its case.
    let net = format!(
        "2001:db8:{:x}::",
        RawToken::generate().unwrap().expose_bytes()[0]
    );
    assert!(
        hit(limiter, &login, &format!("{net}1"), at(0))
            .await
            .is_allowed()
    );
    assert!(
        !hit(limiter, &login, &format!("{net}ffff:2"), at(1))
            .await
            .is_allowed()
    );
    let reset = limits.rule(RateLimitAction::ResetPassword);
    let email = format!("{}@Example.COM", unique_ip());
    assert!(hit(limiter, &reset, &email, at(0)).await.is_allowed());
    assert!(
        !hit(
            limiter,
            &reset,
            &format!(" {} ", email.to_lowercase()),
            at(1)
        )
        .await
        .is_allowed()
    );
}

async fn a_now_before_the_window_start_is_inside_the_window(limiter: &dyn RateLimiter) {
    let rule = rule(2, Duration::from_secs(60));
    let ip = unique_ip();
    assert!(hit(limiter, &rule, &ip, at(10_000)).await.is_allowed());
    // Another node whose clock is 5 s behind: same window, same count.
    assert_eq!(
        hit(limiter, &rule, &ip, at(5_000)).await,
        RateDecision::Allowed { remaining: 0 }
    );
    // Limited; the wait never exceeds one period.
    assert_limited(
        hit(limiter, &rule, &ip, at(0)).await,
        Duration::from_secs(60),
    );
    assert_limited(
        hit(limiter, &rule, &ip, at(10_000)).await,
        Duration::from_secs(60),
    );
}

async fn short_windows_end_on_the_millisecond(limiter: &dyn RateLimiter) {
    let rule = rule(1, Duration::from_secs(1));
    let ip = unique_ip();
    assert!(hit(limiter, &rule, &ip, at(0)).await.is_allowed());
    assert_limited(
        hit(limiter, &rule, &ip, at(1)).await,
        Duration::from_millis(999),
    );
    assert_limited(
        hit(limiter, &rule, &ip, at(999)).await,
        Duration::from_millis(1),
    );
    assert!(hit(limiter, &rule, &ip, at(1_000)).await.is_allowed());
    assert!(!hit(limiter, &rule, &ip, at(1_999)).await.is_allowed());
    assert!(hit(limiter, &rule, &ip, at(2_000)).await.is_allowed());
}

async fn concurrent_hits_never_exceed_the_limit(limiter: &dyn RateLimiter) {
    let rule = rule(10, Duration::from_secs(60));
    let ip = unique_ip();
    let hits = (0..60).map(|_| hit(limiter, &rule, &ip, at(0)));
    let decisions = futures_join_all(hits).await;
    let allowed: Vec<u32> = decisions
        .iter()
        .filter_map(|d| match d {
            RateDecision::Allowed { remaining } => Some(*remaining),
            RateDecision::Limited { .. } => None,
        })
        .collect();
    assert_eq!(allowed.len(), 10, "{decisions:?}");
    let mut remaining = allowed;
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..10).collect::<Vec<_>>(),
        "each slot given out once"
    );
}

/// Polls every future together on this task (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

// ---------------------------------------------------------------------------
// Redis: the shared server, keys and TTLs.

fn redis_url() -> String {
    std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// A key prefix unique to one test: `sigra:rl:test-<random>:`.
fn unique_prefix() -> String {
    let bytes = RawToken::generate().unwrap().expose_bytes()[..6]
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
    format!("{DEFAULT_KEY_PREFIX}test-{bytes}:")
}

/// A connection for raw checks, or a failure that says how to start Redis.
async fn raw_connection(url: &str) -> ::redis::aio::MultiplexedConnection {
    let client =
        ::redis::Client::open(url).unwrap_or_else(|e| panic!("{REDIS_URL_VAR}={url}: {e}"));
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {url}: {e}\n\
             The rate-limiter suite runs every test on Redis too and never skips it.\n\
             How to fix: start it with `cargo xtask services` (or `redis-server --daemonize yes \
             --bind 127.0.0.1 --port 6379 --save '' --appendonly no`), or set {REDIS_URL_VAR}."
            )
        })
}

/// A Redis limiter on the shared test server, under a prefix of its own.
async fn shared_redis() -> RedisRateLimiter {
    let url = redis_url();
    // Fail with the how-to message, not with a quietly degraded limiter.
    raw_connection(&url).await;
    let limiter = RedisRateLimiter::connect_with(
        &url,
        RedisLimiterOptions {
            key_prefix: unique_prefix(),
            ..RedisLimiterOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(limiter.backend(), LimiterBackend::Redis, "{limiter:?}");
    limiter
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_are_prefixed_expire_and_hold_no_email() {
    let url = redis_url();
    let mut raw = raw_connection(&url).await;
    let limiter = shared_redis().await;
    let limits = RateLimits::default();

    let login = limits.rule(RateLimitAction::Login);
    let ip = unique_ip();
    limiter.hit(&login, &ip, t0()).await.unwrap();
    let key = limiter.redis_key(&login, &ip);
    assert!(key.starts_with(DEFAULT_KEY_PREFIX), "{key}");
    assert!(key.ends_with(&rate_limit_key(&login, &ip)), "{key}");
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        (1..=60_000).contains(&ttl),
        "the key expires with its window: PTTL {ttl}"
    );
    let hits: i64 = ::redis::cmd("HGET")
        .arg(&key)
        .arg("n")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(hits, 1);

    // An email is stored only as its hash.
    let reset = limits.rule(RateLimitAction::ResetPassword);
    limiter
        .hit(&reset, "Carol@Example.com", t0())
        .await
        .unwrap();
    let key = limiter.redis_key(&reset, "carol@example.com");
    assert!(!key.to_lowercase().contains("carol"), "{key}");
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 1);

    // Memory stays bounded: a 1-second window's key is gone a second later
    // (real time: this is Redis's own expiry).
    let short = rule(5, Duration::from_secs(1));
    let ip = unique_ip();
    limiter.hit(&short, &ip, t0()).await.unwrap();
    let key = limiter.redis_key(&short, &ip);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0, "an expired window is dropped by Redis");

    // After a Redis restart the script cache is empty; simulate it.
    let _: () = ::redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    let ip = unique_ip();
    assert_eq!(
        limiter.hit(&login, &ip, t0()).await.unwrap(),
        RateDecision::Allowed { remaining: 9 },
        "NOSCRIPT falls back to EVAL"
    );
    assert_eq!(limiter.backend(), LimiterBackend::Redis);
    assert_eq!(limiter.outages(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_budget_in_redis() {
    let url = redis_url();
    raw_connection(&url).await;
    let prefix = unique_prefix();
    let options = RedisLimiterOptions {
        key_prefix: prefix,
        ..RedisLimiterOptions::default()
    };
    let node_a = RedisRateLimiter::connect_with(&url, options.clone())
        .await
        .unwrap();
    let node_b = RedisRateLimiter::connect_with(&url, options).await.unwrap();
    let login = RateLimits::default().rule(RateLimitAction::Login);
    let ip = unique_ip();
    for i in 0..10 {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        assert!(node.hit(&login, &ip, at(i)).await.unwrap().is_allowed());
    }
    assert!(!node_a.hit(&login, &ip, at(20)).await.unwrap().is_allowed());
    assert!(!node_b.hit(&login, &ip, at(20)).await.unwrap().is_allowed());
    // The in-memory limiter, by contrast, is per node.
    let local = MemoryRateLimiter::new();
    assert!(local.hit(&login, &ip, at(20)).await.unwrap().is_allowed());
}

// ---------------------------------------------------------------------------
// Outages: a Redis of our own, stopped and started again.

/// A `redis-server` child process on `port`, killed on drop.
struct OwnRedis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnRedis {
    /// Starts one on a free port and waits until it answers.
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::Builder::new()
            .prefix("sigra-redis-")
            .tempdir()
            .unwrap();
        let mut redis = Self {
            child: None,
            port,
            dir,
        };
        redis.spawn();
        redis.wait_until_up().await;
        redis
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `redis-server` ({e}); the outage tests start their own Redis.\n\
                     How to fix: install it (`apt-get install redis-server`; `.ci/run` does this)."
                )
            });
        self.child = Some(child);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn wait_until_up(&self) {
        let client = ::redis::Client::open(self.url()).unwrap();
        let what = format!("the test's redis-server on port {}", self.port);
        sigra_tests::tls_redis::wait_for_ping(&client, &what).await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    async fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.wait_until_up().await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Records the level and fields of every `sigra.rate_limit.redis` event.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if meta.name() == "sigra.rate_limit.redis" {
            let mut line = meta.level().to_string();
            event.record(&mut Fields(&mut line));
            self.0.lock().unwrap().push(line);
        }
    }
}

impl Events {
    fn count(&self, level: &str, outcome: &str) -> usize {
        let needle = format!("outcome=\"{outcome}\"");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(level) && l.contains(&needle))
            .count()
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Hits until one is counted in Redis again (the reconnection runs in the
/// background with backoff), at most 5 s.
async fn until_back_on_redis(limiter: &RedisRateLimiter, raw: &::redis::Client) {
    let rule = rule(1_000, Duration::from_secs(60));
    let probe = unique_ip();
    let key = limiter.redis_key(&rule, &probe);
    for _ in 0..100 {
        limiter.hit(&rule, &probe, at(0)).await.unwrap();
        if let Ok(mut conn) = raw.get_multiplexed_async_connection().await {
            let exists: i64 = ::redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or(0);
            if exists == 1 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the limiter did not return to Redis within 5 s: {limiter:?}");
}

// Single-threaded, so the background reconnection logs into this test's subscriber.
#[tokio::test]
async fn an_outage_degrades_to_local_limits_with_one_warning_and_recovers() {
    let events = Events::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let mut redis = OwnRedis::start().await;
    let raw = ::redis::Client::open(redis.url()).unwrap();
    let limiter = RedisRateLimiter::connect_with(
        &redis.url(),
        RedisLimiterOptions {
            key_prefix: unique_prefix(),
            reconnect_backoff: (Duration::from_millis(20), Duration::from_millis(200)),
            ..RedisLimiterOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(limiter.backend(), LimiterBackend::Redis);
    let login = rule(5, Duration::from_secs(60));
    let ip = unique_ip();
    for remaining in [4, 3] {
        assert_eq!(
            limiter.hit(&login, &ip, at(0)).await.unwrap(),
            RateDecision::Allowed { remaining }
        );
    }
    let mut conn = raw.get_multiplexed_async_connection().await.unwrap();
    let counted: i64 = ::redis::cmd("HGET")
        .arg(limiter.redis_key(&login, &ip))
        .arg("n")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(counted, 2, "the hits were counted in Redis");
    drop(conn);

    // Redis goes away. Every hit still gets an answer (no error, no 500),
    // and the limit still holds: counted on this node.
    redis.stop();
    let attacker = unique_ip();
    for remaining in (0..5).rev() {
        assert_eq!(
            limiter.hit(&login, &attacker, at(1_000)).await.unwrap(),
            RateDecision::Allowed { remaining },
            "counted locally during the outage"
        );
    }
    for i in 0..50 {
        assert_limited(
            limiter.hit(&login, &attacker, at(2_000 + i)).await.unwrap(),
            Duration::from_millis(59_000 - u64::try_from(i).unwrap()),
        );
        // Give the background reconnection time to fail a few times too.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(limiter.backend(), LimiterBackend::Local);
    assert_eq!(limiter.outages(), 1);
    assert_eq!(
        events.count("WARN", "unreachable"),
        1,
        "one warning per outage, not per request: {:#?}",
        events.all()
    );

    // Redis comes back (empty): the limiter returns to it by itself.
    redis.restart().await;
    until_back_on_redis(&limiter, &raw).await;
    assert_eq!(limiter.backend(), LimiterBackend::Redis);
    let fresh = unique_ip();
    assert_eq!(
        limiter.hit(&login, &fresh, at(3_000)).await.unwrap(),
        RateDecision::Allowed { remaining: 4 }
    );
    let mut conn = raw.get_multiplexed_async_connection().await.unwrap();
    let counted: i64 = ::redis::cmd("HGET")
        .arg(limiter.redis_key(&login, &fresh))
        .arg("n")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(counted, 1, "counted in Redis again");
    assert_eq!(
        events.count("WARN", "unreachable"),
        1,
        "{:#?}",
        events.all()
    );
    assert_eq!(events.count("INFO", "recovered"), 1, "{:#?}", events.all());
    assert_eq!(limiter.outages(), 1);

    // A second outage is a second warning.
    redis.stop();
    assert!(
        limiter
            .hit(&login, &fresh, at(4_000))
            .await
            .unwrap()
            .is_allowed()
    );
    assert_eq!(limiter.outages(), 2);
    assert_eq!(
        events.count("WARN", "unreachable"),
        2,
        "{:#?}",
        events.all()
    );
}

#[tokio::test]
async fn a_redis_that_is_down_at_start_is_an_outage_not_an_error() {
    let events = Events::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let mut redis = OwnRedis::start().await;
    redis.stop();
    let limiter = RedisRateLimiter::connect_with(
        &redis.url(),
        RedisLimiterOptions {
            key_prefix: unique_prefix(),
            reconnect_backoff: (Duration::from_millis(20), Duration::from_millis(100)),
            ..RedisLimiterOptions::default()
        },
    )
    .await
    .expect("an unreachable Redis is not a configuration error");
    assert_eq!(limiter.backend(), LimiterBackend::Local);
    let login = rule(2, Duration::from_secs(60));
    let ip = unique_ip();
    for _ in 0..2 {
        assert!(limiter.hit(&login, &ip, at(0)).await.unwrap().is_allowed());
    }
    for _ in 0..20 {
        assert!(!limiter.hit(&login, &ip, at(1)).await.unwrap().is_allowed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        events.count("WARN", "unreachable"),
        1,
        "{:#?}",
        events.all()
    );

    redis.restart().await;
    let raw = ::redis::Client::open(redis.url()).unwrap();
    until_back_on_redis(&limiter, &raw).await;
    assert_eq!(events.count("INFO", "recovered"), 1, "{:#?}", events.all());
}

// ---------------------------------------------------------------------------
// TLS: `rediss://` to a redis-server of our own with a CA the test makes.

#[tokio::test]
async fn rediss_with_the_private_ca_counts_in_redis() {
    let redis = TlsRedis::start().await;
    let limiter = RedisRateLimiter::connect_with(
        &redis.url(),
        RedisLimiterOptions {
            key_prefix: unique_prefix(),
            ca_file: Some(redis.ca_file()),
            ..RedisLimiterOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(limiter.backend(), LimiterBackend::Redis, "{limiter:?}");
    let login = rule(3, Duration::from_secs(60));
    let ip = unique_ip();
    for remaining in [2, 1, 0] {
        assert_eq!(
            limiter.hit(&login, &ip, at(0)).await.unwrap(),
            RateDecision::Allowed { remaining }
        );
    }
    assert_limited(
        limiter.hit(&login, &ip, at(1_000)).await.unwrap(),
        Duration::from_secs(59),
    );
    let mut conn = redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let counted: i64 = ::redis::cmd("HGET")
        .arg(limiter.redis_key(&login, &ip))
        .arg("n")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(counted, 3, "the hits were counted in the TLS Redis");
    assert_eq!(limiter.backend(), LimiterBackend::Redis);
    assert_eq!(limiter.outages(), 0);
}

// Single-threaded, so the connection attempt logs into this test's subscriber.
#[tokio::test]
async fn rediss_without_the_ca_fails_closed_and_limits_locally() {
    let events = Events::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let redis = TlsRedis::start().await;
    // The bundled roots do not know the test CA: the certificate is refused,
    // so Redis counts as unreachable (never a plaintext or unchecked link).
    let limiter = RedisRateLimiter::connect_with(
        &redis.url(),
        RedisLimiterOptions {
            key_prefix: unique_prefix(),
            reconnect_backoff: (Duration::from_millis(20), Duration::from_millis(100)),
            ..RedisLimiterOptions::default()
        },
    )
    .await
    .expect("an untrusted certificate is an outage, not a configuration error");
    assert_eq!(limiter.backend(), LimiterBackend::Local);
    let login = rule(2, Duration::from_secs(60));
    let ip = unique_ip();
    for _ in 0..2 {
        assert!(limiter.hit(&login, &ip, at(0)).await.unwrap().is_allowed());
    }
    for _ in 0..10 {
        assert!(
            !limiter.hit(&login, &ip, at(1)).await.unwrap().is_allowed(),
            "the limit holds on this node"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(limiter.backend(), LimiterBackend::Local);
    assert_eq!(limiter.outages(), 1);
    assert_eq!(
        events.count("WARN", "unreachable"),
        1,
        "{:#?}",
        events.all()
    );
    let warning = events
        .all()
        .into_iter()
        .find(|l| l.starts_with("WARN"))
        .unwrap();
    assert!(
        warning.to_ascii_lowercase().contains("certificate"),
        "the warning says the certificate was refused: {warning}"
    );
    let mut conn = redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(limiter.redis_key(&login, &ip))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "nothing reached Redis");
}

#[tokio::test]
async fn an_unreadable_or_malformed_ca_file_is_an_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    for (file, what) in [
        (dir.path().join("absent.pem"), "cannot be read"),
        (garbage, "no PEM certificate"),
    ] {
        let err = RedisRateLimiter::connect_with(
            "rediss://127.0.0.1:1",
            RedisLimiterOptions {
                ca_file: Some(file),
                ..RedisLimiterOptions::default()
            },
        )
        .await
        .unwrap_err();
        let why = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            why.contains("SIGRA_REDIS_CA_FILE") && why.contains(what),
            "{why}"
        );
    }
}
