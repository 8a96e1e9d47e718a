//! `UserGate`: on this node, password checks of one user run one at a time, in arrival order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use futures_channel::oneshot;

use crate::ids::UserId;

/// Serialises the password checks of each user on this node.
///
/// The lockout counts an attempt before verifying it and refuses attempts
/// past the threshold (see `check_password_counted`). Concurrent attempts
/// of the *same* user would otherwise all be counted before any of them
/// settles, so ten simultaneous log-ins with the right password could push
/// the count past the threshold and lock their owner out. Through the
/// gate, each attempt on this node is counted, verified and settled before
/// the next one of that user starts; a right password clears the count
/// before the next attempt is counted. Attempts of different users never
/// wait for each other, and a waiter that gives up (its request was
/// dropped) is skipped.
#[derive(Debug, Default)]
pub(super) struct UserGate {
    /// For each user with a check running: the checks waiting behind it.
    queues: Mutex<HashMap<UserId, VecDeque<oneshot::Sender<()>>>>,
}

/// Held while a user's check runs; dropping it lets the next one in.
#[derive(Debug)]
pub(super) struct GatePass {
    gate: Arc<UserGate>,
    user: UserId,
}

impl UserGate {
    /// Waits until no other check of `user` runs on this node.
    pub(super) async fn enter(self: &Arc<Self>, user: UserId) -> GatePass {
        let waiting = {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            match queues.get_mut(&user) {
                None => {
                    queues.insert(user, VecDeque::new());
                    None
                }
                Some(queue) => {
                    let (tx, rx) = oneshot::channel();
                    queue.push_back(tx);
                    Some(rx)
                }
            }
        };
        if let Some(rx) = waiting {
            let mut wait = Waiting {
                gate: Arc::clone(self),
                user,
                rx: Some(rx),
            };
            if let Some(rx) = wait.rx.as_mut() {
                // `Err` only if the sender was dropped unsent, which `leave`
                // never does; either way the turn is ours now.
                let _ = rx.await;
            }
            wait.rx = None;
        }
        GatePass {
            gate: Arc::clone(self),
            user,
        }
    }

    fn leave(&self, user: UserId) {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = queues.get_mut(&user) else {
            return;
        };
        // Hand the turn to the first waiter still waiting.
        while let Some(next) = queue.pop_front() {
            if next.send(()).is_ok() {
                return;
            }
        }
        queues.remove(&user);
    }
}

/// A check waiting for its turn. If it is dropped (its request went away)
/// after the turn was handed to it, it passes the turn on.
struct Waiting {
    gate: Arc<UserGate>,
    user: UserId,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        // Under the lock `leave` sends under: either the turn came before
        // this, or it will find the channel closed and skip us.
        let handed = {
            let _queues = self
                .gate
                .queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let handed = matches!(rx.try_recv(), Ok(Some(())));
            rx.close();
            handed
        };
        if handed {
            self.gate.leave(self.user);
        }
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        self.gate.leave(self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use futures_executor::block_on;
    use std::future::Future;

    fn user(n: u32) -> UserId {
        UserId::new(chrono::Utc.timestamp_opt(i64::from(n), 0).unwrap())
    }

    #[test]
    fn one_check_per_user_at_a_time_in_order_and_a_dropped_waiter_is_skipped() {
        let gate = Arc::new(UserGate::default());
        let alice = user(1);
        let first = block_on(gate.enter(alice));
        // Bob never waits for Alice.
        let bob = block_on(gate.enter(user(2)));
        let mut second = Box::pin(gate.enter(alice));
        let mut third = Box::pin(gate.enter(alice));
        let waker = futures_task_noop();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(second.as_mut().poll(&mut cx).is_pending());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        drop(second); // gave up while waiting
        drop(first);
        let std::task::Poll::Ready(pass) = third.as_mut().poll(&mut cx) else {
            panic!("the third check should run once the first is done");
        };
        drop(pass);
        drop(bob);
        assert!(gate.queues.lock().unwrap().is_empty());
    }

    fn futures_task_noop() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }
}
