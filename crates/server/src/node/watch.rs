//! The local node's watch on its inits: one task per running sandbox waits (through tokio's
//! reactor) for init's pidfd to become readable, asks the runtime how it ended, and queues the
//! exit for the control plane ([`Node::next_init_exit`](super::Node::next_init_exit)). A stop
//! or delete also wakes the task, and the runtime then answers that nothing is to report.
//!
//! Watching starts with the first consumer: until someone asks for exits, nothing is watched
//! (a node used without the control plane's watcher reaps nothing behind its callers' backs).

use super::InitExited;
use sandbar_runtime::{lock, Runtime, SandboxId, SandboxState};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

/// Inits watched, exits not yet taken.
pub(super) struct Watcher {
    /// Set by the first consumer.
    active: AtomicBool,
    sender: mpsc::UnboundedSender<InitExited>,
    receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<InitExited>>,
    /// (sandbox, init pid) of every watch task, so no init is watched twice.
    watched: Arc<Mutex<HashSet<(SandboxId, i32)>>>,
}

impl Watcher {
    pub(super) fn new() -> Watcher {
        let (sender, receiver) = mpsc::unbounded_channel();
        Watcher {
            active: AtomicBool::new(false),
            sender,
            receiver: tokio::sync::Mutex::new(receiver),
            watched: Arc::default(),
        }
    }

    /// Watches the init of sandbox `id` (just started) once exits are consumed.
    pub(super) fn watch(&self, runtime: &Arc<Runtime>, id: &SandboxId) {
        if self.active.load(Ordering::SeqCst) {
            self.spawn_watch(runtime, id);
        }
    }

    /// The next exit; the first call starts watching every sandbox that runs already (also
    /// those re-adopted after a restart).
    pub(super) async fn next(&self, runtime: &Arc<Runtime>) -> InitExited {
        if !self.active.swap(true, Ordering::SeqCst) {
            let listing = Arc::clone(runtime);
            match tokio::task::spawn_blocking(move || listing.list()).await {
                Ok(Ok(sandboxes)) => {
                    for (id, state) in sandboxes {
                        if state != SandboxState::Stopped {
                            self.spawn_watch(runtime, &id);
                        }
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "listing sandboxes to watch their inits"),
                Err(e) => tracing::error!(error = %e, "listing sandboxes to watch their inits panicked"),
            }
        }
        // The watcher keeps a sender, so the channel never closes.
        match self.receiver.lock().await.recv().await {
            Some(exited) => exited,
            None => std::future::pending().await,
        }
    }

    fn spawn_watch(&self, runtime: &Arc<Runtime>, id: &SandboxId) {
        let watch = match runtime.watch_init(id) {
            Ok(Some(watch)) => watch,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(sandbox_id = %id, error = %e, "cannot watch the sandbox's init");
                return;
            }
        };
        let key = (id.clone(), watch.pid());
        if !lock(&self.watched).insert(key.clone()) {
            return;
        }
        let (runtime, sender, watched) = (Arc::clone(runtime), self.sender.clone(), Arc::clone(&self.watched));
        tokio::spawn(async move {
            let id = key.0.clone();
            // tokio 1.54 made registering an fd `unsafe` (and deprecated the safe constructor)
            // because an arbitrary `T` might close or swap its fd while registered; an
            // `InitWatch` owns its pidfd and never changes it, which is that contract, and the
            // server has no `unsafe` of its own.
            #[allow(deprecated)]
            let registered = AsyncFd::with_interest(watch, Interest::READABLE);
            match registered {
                Ok(pidfd) => {
                    let ready = pidfd.readable().await.map(drop);
                    let watch = pidfd.into_inner();
                    match ready {
                        Ok(()) => {
                            let exit = tokio::task::spawn_blocking(move || runtime.init_exit(&watch)).await;
                            if let Ok(Some(exit)) = exit {
                                let _ = sender.send(InitExited { id, exit });
                            }
                        }
                        Err(e) => tracing::error!(sandbox_id = %id, error = %e, "waiting for the sandbox's init"),
                    }
                }
                Err(e) => tracing::error!(sandbox_id = %id, error = %e, "cannot register the init's pidfd"),
            }
            lock(&watched).remove(&key);
        });
    }
}
