//! The workspace's one way to take a `std::sync::Mutex` ([`lock`], re-exported as
//! `sandbar_runtime::lock`; `clippy.toml` steers every `Mutex::lock` here), and the owned
//! per-sandbox lock built on it.
//!
//! A panic while a lock is held poisons it; every table the runtime guards stays consistent
//! across a panic (entries are inserted or removed whole), so the poison is ignored here, once,
//! instead of at every call site.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Locks `mutex`, recovering it when a panicking holder poisoned it. Every table guarded this way
/// in the workspace is changed whole under its lock, so a poisoned one is still consistent.
#[allow(clippy::disallowed_methods)] // the one place that may call Mutex::lock
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A lock whose guard owns it, so a guard can outlive the table lookup that found the lock.
#[derive(Debug, Default)]
pub(crate) struct OwnedLock {
    held: Mutex<bool>,
    freed: Condvar,
}

/// Holds an [`OwnedLock`] until dropped (a panic of the holder drops it too).
#[derive(Debug)]
pub(crate) struct OwnedGuard {
    lock: Arc<OwnedLock>,
}

impl OwnedLock {
    /// Waits until the lock is free and takes it.
    pub(crate) fn acquire(self: Arc<Self>) -> OwnedGuard {
        let mut held = lock(&self.held);
        while *held {
            held = self.freed.wait(held).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *held = true;
        drop(held);
        OwnedGuard { lock: self }
    }
}

impl Drop for OwnedGuard {
    fn drop(&mut self) {
        *lock(&self.lock.held) = false;
        self.lock.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_is_recovered_with_its_value() {
        let mutex = Arc::new(Mutex::new(1));
        let holder = Arc::clone(&mutex);
        let panicked = std::thread::spawn(move || {
            let mut value = lock(&holder);
            *value = 2;
            panic!("poison the mutex");
        })
        .join();
        assert!(panicked.is_err());
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), 2);
    }

    #[test]
    fn an_owned_lock_is_freed_when_its_holder_panics() {
        let sandbox = Arc::new(OwnedLock::default());
        let holder = Arc::clone(&sandbox);
        let panicked = std::thread::spawn(move || {
            let _guard = holder.acquire();
            panic!("fail while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(!*lock(&sandbox.held));
        let guard = Arc::clone(&sandbox).acquire();
        assert!(*lock(&sandbox.held));
        drop(guard);
        assert!(!*lock(&sandbox.held));
    }

    #[test]
    fn an_owned_lock_excludes_a_second_holder_until_released() {
        let sandbox = Arc::new(OwnedLock::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let guard = Arc::clone(&sandbox).acquire();
        let waiter = {
            let (sandbox, order) = (Arc::clone(&sandbox), Arc::clone(&order));
            std::thread::spawn(move || {
                let _guard = sandbox.acquire();
                lock(&order).push("second");
            })
        };
        // The waiter cannot get past `acquire` before this push, whatever the scheduling.
        lock(&order).push("first");
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(*lock(&order), ["first", "second"]);
    }
}
