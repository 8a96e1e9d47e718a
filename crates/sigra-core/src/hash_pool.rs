//! A bounded pool of threads for password hashing, independent of any async runtime.
//!
//! Argon2id at OWASP cost takes tens of milliseconds of CPU and 19 MiB of
//! memory per call. Running it on async executor threads would let a login
//! flood stall every other request; running it on an unbounded blocking pool
//! would let memory grow with the flood. The pool bounds both: a fixed number
//! of dedicated threads (the CPU and memory ceiling) and a fixed-size queue.
//! When the queue is full, callers get [`PoolError::Busy`] at once, which the
//! web layer answers with 503 instead of queueing without limit.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use futures_channel::oneshot;
use thiserror::Error;

use crate::password::PasswordHasher;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why the pool could not run a job.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// Every thread is busy and the queue is full: shed load.
    #[error("password hashing is at capacity; try again shortly")]
    Busy,
    /// The pool's threads are gone (a job panicked or the pool shut down).
    #[error("the password hashing pool is not running")]
    Closed,
}

/// Runs password hashing on dedicated threads with a bounded queue.
///
/// Cloning shares the same threads. The threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct HashPool {
    sender: SyncSender<Job>,
    hasher: Arc<dyn PasswordHasher>,
    threads: usize,
    queue: usize,
}

impl HashPool {
    /// A pool of `threads` threads (at least 1) with room for `queue` waiting jobs.
    pub fn new(hasher: Arc<dyn PasswordHasher>, threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (sender, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            // If the OS refuses a thread, the pool runs with fewer; with none,
            // jobs queue until `Busy` — never a panic.
            let _ = std::thread::Builder::new()
                .name(format!("sigra-hash-{index}"))
                .spawn(move || worker(&receiver));
        }
        Self {
            sender,
            hasher,
            threads,
            queue,
        }
    }

    /// A pool with one thread per available core and a queue of 64 jobs per thread.
    pub fn with_defaults(hasher: Arc<dyn PasswordHasher>) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(hasher, threads, threads * 64)
    }

    /// The hasher jobs run with.
    pub fn hasher(&self) -> &Arc<dyn PasswordHasher> {
        &self.hasher
    }

    /// Queues `job` to run with the hasher on a pool thread and returns a
    /// future of its result. The job is queued (or refused with
    /// [`PoolError::Busy`]) at the call, not when the future is first polled.
    pub fn run<T, F>(&self, job: F) -> impl Future<Output = Result<T, PoolError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&dyn PasswordHasher) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let hasher = Arc::clone(&self.hasher);
        let boxed: Job = Box::new(move || {
            let _ = tx.send(job(hasher.as_ref()));
        });
        let submitted = self.sender.try_send(boxed).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::Busy,
            TrySendError::Disconnected(_) => PoolError::Closed,
        });
        async move {
            submitted?;
            rx.await.map_err(|_| PoolError::Closed)
        }
    }
}

fn worker(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only while taking a job, never while running it.
        let job = match receiver.lock() {
            Ok(guard) => guard.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            // A panicking job drops its result sender (the caller sees
            // `Closed`) but does not take the thread down with it.
            Ok(job) => {
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

impl fmt::Debug for HashPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashPool")
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .field("hasher", &self.hasher)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::Argon2Hasher;
    use std::sync::Barrier;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_executor::block_on(f)
    }

    #[test]
    fn runs_jobs_off_the_calling_thread() {
        let pool = HashPool::new(Arc::new(Argon2Hasher::for_tests()), 2, 4);
        let caller = std::thread::current().id();
        let (name, other) = block_on(pool.run(move |_| {
            (
                std::thread::current().name().map(str::to_owned),
                std::thread::current().id() != caller,
            )
        }))
        .unwrap();
        assert!(other);
        assert!(name.unwrap().starts_with("sigra-hash-"));
    }

    #[test]
    fn a_full_queue_sheds_load_instead_of_growing() {
        let pool = HashPool::new(Arc::new(Argon2Hasher::for_tests()), 1, 1);
        let gate = Arc::new(Barrier::new(2));
        let started = Arc::new(Barrier::new(2));
        // Occupy the only thread until the gate opens.
        let (g, s) = (Arc::clone(&gate), Arc::clone(&started));
        let busy = pool.run(move |_| {
            s.wait();
            g.wait();
        });
        started.wait();
        // One job fits in the queue; the next is refused at once.
        let queued = pool.run(|_| 1);
        assert_eq!(block_on(pool.run(|_| 2)), Err(PoolError::Busy));
        gate.wait();
        block_on(busy).unwrap();
        assert_eq!(block_on(queued), Ok(1));
        assert_eq!(
            block_on(pool.run(|_| 3)),
            Ok(3),
            "capacity returns once the queue drains"
        );
    }

    #[test]
    fn a_panicking_job_does_not_kill_the_pool() {
        let pool = HashPool::new(Arc::new(Argon2Hasher::for_tests()), 1, 4);
        #[allow(clippy::panic)]
        let result = block_on(pool.run(|_| -> u8 { panic!("boom") }));
        assert_eq!(result, Err(PoolError::Closed));
        assert_eq!(block_on(pool.run(|_| 7)), Ok(7));
    }
}
