//! Keeps the node-local session cache honest across nodes.
//!
//! When the session cache is on, [`crate::Sigra`] runs two tokio tasks for
//! as long as it lives:
//! - the **follower** reads the revocation log every `revocation_poll`
//!   (`SIGRA_REVOCATION_POLL`, 100 ms by default) and evicts the users it
//!   names ([`RevocationFollower`] decides what to evict and when to flush).
//!   A poll that fails, or takes longer than [`poll_deadline`], flushes and
//!   suspends the cache: every request goes to the database until a poll
//!   succeeds again, so a node cut off from the database never serves what
//!   it could not check, before or after it reconnects.
//! - the **listener**, where the store has one (PostgreSQL's `LISTEN
//!   sigra_revocations`) and `revocation_listen` is on
//!   (`SIGRA_REVOCATION_LISTEN`), evicts on each notification, usually
//!   within milliseconds of the commit. A lost listener connection flushes
//!   the cache; polling covers the gap until it reconnects.

use std::sync::Arc;
use std::time::Duration;

use sigra_core::auth::Auth;
use sigra_core::cache::{RevocationFollower, SessionCache};
use sigra_core::store::{RevocationNotice, Store};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// How long to wait before trying to (re)connect a failed listener.
const LISTENER_RETRY: Duration = Duration::from_secs(1);

/// Stops the tasks when the last [`crate::Sigra`] clone is dropped.
#[derive(Debug)]
pub(crate) struct FollowerTasks {
    tasks: Vec<AbortHandle>,
}

impl Drop for FollowerTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The longest a poll may take before the cache is suspended: five poll
/// intervals, at least one second.
pub(crate) fn poll_deadline(poll: Duration) -> Duration {
    (poll.saturating_mul(5)).max(Duration::from_secs(1))
}

/// Starts the follower (and listener) of `auth`'s session cache, if it has one.
pub(crate) fn spawn(auth: &Auth) -> Option<FollowerTasks> {
    let cache = auth.session_cache()?.clone();
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Nothing could follow the log: never serve from the cache.
        cache.suspend();
        tracing::warn!(
            name: "sigra.session_cache.unfollowed",
            "the session cache is suspended: build Sigra inside a tokio runtime so it can follow revocations"
        );
        return None;
    };
    let follower = RevocationFollower::new(cache.clone());
    let store = auth.store().clone();
    let poll = auth.config().session_cache.revocation_poll;
    let mut tasks = vec![
        runtime
            .spawn(follow(follower, store.clone(), poll))
            .abort_handle(),
    ];
    tasks.push(runtime.spawn(prune(auth.clone())).abort_handle());
    if auth.config().session_cache.revocation_listen {
        tasks.push(runtime.spawn(listen(cache, store)).abort_handle());
    }
    Some(FollowerTasks { tasks })
}

/// How often a node prunes the revocation log, and how much history it keeps.
/// Followers only read rows newer than their last poll, so a day is far more
/// than any live node needs; a node that was away longer sees a gap and
/// flushes its cache, which is safe.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
const KEEP_REVOCATIONS: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Deletes revocation-log rows older than a day, every ten minutes. Every
/// node may do it: the delete is idempotent and always keeps the newest row.
async fn prune(auth: Auth) {
    let mut ticker = tokio::time::interval(PRUNE_EVERY);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match auth
            .store()
            .prune_revocations(auth.now() - KEEP_REVOCATIONS)
            .await
        {
            Ok(deleted) => tracing::debug!(name: "sigra.session_cache.prune", deleted),
            Err(e) => {
                tracing::warn!(name: "sigra.session_cache.prune", error = %e, "pruning the revocation log failed")
            }
        }
    }
}

async fn follow(mut follower: RevocationFollower, store: Arc<dyn Store>, poll: Duration) {
    let deadline = poll_deadline(poll);
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        let now = Instant::now().into_std();
        match tokio::time::timeout(deadline, follower.poll(&*store, now)).await {
            Ok(Ok(report)) => {
                if failing {
                    tracing::info!(name: "sigra.session_cache.resumed", "the revocation log is readable again; session cache resumed");
                    failing = false;
                }
                if report.flushed {
                    tracing::debug!(name: "sigra.session_cache.flush", open_gap = report.open_gap);
                }
            }
            Ok(Err(e)) => {
                follower.failed();
                if !failing {
                    tracing::warn!(name: "sigra.session_cache.suspended", error = %e, "cannot read the revocation log; session cache flushed and suspended");
                }
                failing = true;
            }
            Err(_) => {
                follower.failed();
                if !failing {
                    tracing::warn!(name: "sigra.session_cache.suspended", timeout_ms = deadline.as_millis() as u64, "reading the revocation log timed out; session cache flushed and suspended");
                }
                failing = true;
            }
        }
    }
}

async fn listen(cache: Arc<SessionCache>, store: Arc<dyn Store>) {
    let mut listener = None;
    loop {
        let current = match &mut listener {
            Some(listener) => listener,
            None => match store.revocation_listener().await {
                Ok(Some(new)) => listener.insert(new),
                // This backend has no push channel: polling alone.
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(name: "sigra.session_cache.listener", error = %e, "cannot listen for revocations yet");
                    tokio::time::sleep(LISTENER_RETRY).await;
                    continue;
                }
            },
        };
        match current.next().await {
            Ok(RevocationNotice::Revoked(user)) => cache.evict_user(user),
            Ok(_) => {
                // Lost: notifications may have been missed while it reconnects.
                cache.flush();
                tracing::debug!(name: "sigra.session_cache.listener", "revocation listener reconnected; cache flushed");
            }
            Err(e) => {
                cache.flush();
                tracing::debug!(name: "sigra.session_cache.listener", error = %e, "revocation listener lost; cache flushed, polling until it reconnects");
                tokio::time::sleep(LISTENER_RETRY).await;
            }
        }
    }
}
