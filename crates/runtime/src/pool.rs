//! A small pool of things that are slow to make and cheap to keep (opened cgroup managers,
//! network namespaces), refilled on a background thread so sandbox starts rarely wait for them.

use crate::error::BoxError;
use crate::sync::lock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Maker<T> = dyn Fn() -> Result<T, BoxError> + Send + Sync;

/// Keeps between `low` and `max` ready items.
pub(crate) struct Pool<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    items: Mutex<Vec<T>>,
    refilling: AtomicBool,
    /// Set by [`Pool::close`]: nothing is made any more, and what a running refill makes is
    /// dropped.
    closed: AtomicBool,
    low: usize,
    max: usize,
    make: Box<Maker<T>>,
    what: &'static str,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool that keeps at least `low` items of `what` ready (and at most `max`), starting to
    /// fill right away.
    pub(crate) fn new(
        what: &'static str,
        low: usize,
        max: usize,
        make: impl Fn() -> Result<T, BoxError> + Send + Sync + 'static,
    ) -> Pool<T> {
        let shared = Shared {
            items: Mutex::new(Vec::new()),
            refilling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            low,
            max,
            make: Box::new(make),
            what,
        };
        let pool = Pool { shared: Arc::new(shared) };
        pool.refill();
        pool
    }

    /// A ready item, or a freshly made one when the pool is empty.
    pub(crate) fn take(&self) -> Result<T, BoxError> {
        let (item, low) = {
            let mut items = lock(&self.shared.items);
            (items.pop(), items.len() < self.shared.low)
        };
        if low {
            self.refill();
        }
        match item {
            Some(item) => Ok(item),
            None => (self.shared.make)(),
        }
    }

    /// Stops refilling, waits (up to 10 s) for a refill under way to end, and hands back the
    /// ready items. Later [`Pool::take`]s still make items on demand.
    pub(crate) fn close(&self) -> Vec<T> {
        self.shared.closed.store(true, Ordering::Release);
        self.settle();
        std::mem::take(&mut *lock(&self.shared.items))
    }

    /// Waits (up to 10 s) until no refill is under way, so every item made so far is in the pool.
    pub(crate) fn settle(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.shared.refilling.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Calls `f` with the ready items.
    pub(crate) fn with_items<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        f(&lock(&self.shared.items))
    }

    /// Returns a reusable item.
    pub(crate) fn give_back(&self, item: T) {
        let mut items = lock(&self.shared.items);
        if items.len() < self.shared.max {
            items.push(item);
        }
    }

    /// Tops the pool up to `low` on a background thread, one refill at a time. The thread owns an
    /// `Arc` of the pool and ends once the pool is full, so nothing needs to join it.
    fn refill(&self) {
        if self.shared.closed.load(Ordering::Acquire) || self.shared.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        std::thread::spawn(move || {
            while !shared.closed.load(Ordering::Acquire) && lock(&shared.items).len() < shared.low {
                match (shared.make)() {
                    Ok(item) if shared.closed.load(Ordering::Acquire) => drop(item),
                    Ok(item) => lock(&shared.items).push(item),
                    Err(e) => {
                        tracing::debug!(error = %e, what = shared.what, "pre-making failed; starts make their own");
                        break;
                    }
                }
            }
            shared.refilling.store(false, Ordering::Release);
        });
    }
}
