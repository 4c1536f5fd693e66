//! The seam between the control plane and the machine its sandboxes run on. [`Node`] is every
//! lifecycle operation the control plane asks of a runtime; [`LocalNode`] runs them on this
//! host's [`Runtime`] (on the blocking pool), [`fake::FakeNode`] keeps sandboxes as records in
//! memory so the control plane's tests run without root. A node on another host (the cluster
//! mode) will be a third implementation that sends the same calls over the network.
//!
//! A node reports inits that exit on their own ([`Node::next_init_exit`]; the local node watches
//! pidfds, see `watch.rs`), and the control plane records them (`crate::exits`).
//!
//! The toolbox is node-local (its processes, sessions and PTYs live beside the sandbox), so it
//! reaches the runtime through [`Node::local_runtime`], not through this trait.

pub mod fake;
mod watch;

use async_trait::async_trait;
use sandbar_runtime::{Capacity, Error, InitExit, Limits, Recovered, Runtime, SandboxId, SandboxSpec, SandboxState};
use std::sync::Arc;
use std::time::Duration;

/// A sandbox's init exited on its own on a node (killed from outside, OOM-killed, crashed): the
/// node reports it, the control plane records it.
#[derive(Debug, Clone)]
pub struct InitExited {
    /// The sandbox; it no longer runs on the node.
    pub id: SandboxId,
    /// How its init ended.
    pub exit: InitExit,
}

/// What the control plane asks of the machine that runs a sandbox. Every method is idempotent
/// where the runtime's is (starting a running sandbox, stopping a stopped one, deleting an unknown
/// one succeed), so a retried request never fails for having half-succeeded before.
#[async_trait]
pub trait Node: Send + Sync + 'static {
    /// Creates the sandbox's files from `spec` and starts it.
    async fn create_and_start(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error>;
    /// Creates the sandbox's files (stopped).
    async fn create(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error>;
    /// Starts a created, stopped or archived sandbox.
    async fn start(&self, id: &SandboxId) -> Result<(), Error>;
    /// Stops it: SIGTERM, SIGKILL after `grace`; files kept.
    async fn stop(&self, id: &SandboxId, grace: Duration) -> Result<(), Error>;
    /// Stops it and removes its files.
    async fn delete(&self, id: &SandboxId) -> Result<(), Error>;
    /// Whether it runs, is paused or stopped; [`Error::NotFound`] when the node has no such sandbox.
    async fn state(&self, id: &SandboxId) -> Result<SandboxState, Error>;
    /// Whether its writable layer is archived.
    async fn is_archived(&self, id: &SandboxId) -> bool;
    /// Freezes every process of a running sandbox.
    async fn pause(&self, id: &SandboxId) -> Result<(), Error>;
    /// Thaws a paused sandbox.
    async fn resume(&self, id: &SandboxId) -> Result<(), Error>;
    /// Packs a stopped sandbox's writable layer away.
    async fn archive(&self, id: &SandboxId) -> Result<(), Error>;
    /// Records the sandbox's files as the image `image_name`.
    async fn snapshot(&self, id: &SandboxId, image_name: &str) -> Result<(), Error>;
    /// Copies `source`'s files into a new stopped sandbox `target`.
    async fn fork(&self, source: &SandboxId, target: &SandboxId) -> Result<(), Error>;
    /// Deletes an image no sandbox uses.
    async fn delete_image(&self, name: &str) -> Result<(), Error>;
    /// Changes cpu, memory and disk limits of an existing sandbox.
    async fn update_limits(&self, id: &SandboxId, limits: &Limits) -> Result<(), Error>;
    /// Sets the egress policy of an existing sandbox (at once, when it runs).
    async fn update_network(&self, id: &SandboxId, policy: &sandbar_runtime::EgressPolicy) -> Result<(), Error>;
    /// Whether sandbox disk limits are enforced on this node.
    fn enforces_disk_limits(&self) -> bool;
    /// What this node offers sandboxes (admission checks against it).
    fn capacity(&self) -> Capacity;
    /// The runtime of this host, when the node is this host (the toolbox runs beside it).
    fn local_runtime(&self) -> Option<Arc<Runtime>>;
    /// Waits for the next init on this node that exited without being stopped. It has one
    /// consumer, the control plane's watcher (`exits::run`). A node whose sandboxes cannot die
    /// on their own (the fake) never answers.
    async fn next_init_exit(&self) -> InitExited {
        std::future::pending().await
    }
}

/// Sandboxes on this host.
pub struct LocalNode {
    runtime: Arc<Runtime>,
    inits: watch::Watcher,
}

impl LocalNode {
    /// The node of this host's runtime.
    pub fn new(runtime: Arc<Runtime>) -> LocalNode {
        LocalNode { runtime, inits: watch::Watcher::new() }
    }

    /// Finishes or rolls back what a crashed server left half done and re-adopts running sandboxes.
    pub async fn recover(&self) -> Result<Recovered, Error> {
        let recovered = self.run(|runtime| runtime.recover_orphans()).await?;
        let sandboxes = self.run(|runtime| runtime.list()).await?;
        for (id, state) in sandboxes {
            if state != SandboxState::Stopped {
                self.inits.watch(&self.runtime, &id);
            }
        }
        Ok(recovered)
    }

    /// Runs `work`, then watches the init of sandbox `id` when it succeeded (it runs now).
    async fn run_and_watch(
        &self,
        id: &SandboxId,
        work: impl FnOnce(&Runtime) -> Result<(), Error> + Send + 'static,
    ) -> Result<(), Error> {
        self.run(work).await?;
        self.inits.watch(&self.runtime, id);
        Ok(())
    }

    /// Runs blocking runtime work off the async threads; a panic in it is re-raised here.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Runtime) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let runtime = Arc::clone(&self.runtime);
        match tokio::task::spawn_blocking(move || work(&runtime)).await {
            Ok(result) => result,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}

#[async_trait]
impl Node for LocalNode {
    async fn create_and_start(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        let (owned, spec) = (id.clone(), spec.clone());
        self.run_and_watch(id, move |runtime| runtime.create_and_start(&owned, &spec)).await
    }

    async fn create(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        let (id, spec) = (id.clone(), spec.clone());
        self.run(move |runtime| runtime.create(&id, &spec)).await
    }

    async fn start(&self, id: &SandboxId) -> Result<(), Error> {
        let owned = id.clone();
        self.run_and_watch(id, move |runtime| runtime.start(&owned)).await
    }

    async fn stop(&self, id: &SandboxId, grace: Duration) -> Result<(), Error> {
        let id = id.clone();
        self.run(move |runtime| runtime.stop(&id, grace)).await
    }

    async fn delete(&self, id: &SandboxId) -> Result<(), Error> {
        let id = id.clone();
        self.run(move |runtime| runtime.delete(&id)).await
    }

    async fn state(&self, id: &SandboxId) -> Result<SandboxState, Error> {
        // A read of the running table and one stat: cheap enough for the async thread.
        self.runtime.state(id)
    }

    async fn is_archived(&self, id: &SandboxId) -> bool {
        self.runtime.is_archived(id)
    }

    async fn pause(&self, id: &SandboxId) -> Result<(), Error> {
        let id = id.clone();
        self.run(move |runtime| runtime.pause(&id)).await
    }

    async fn resume(&self, id: &SandboxId) -> Result<(), Error> {
        let owned = id.clone();
        self.run_and_watch(id, move |runtime| runtime.resume(&owned)).await
    }

    async fn archive(&self, id: &SandboxId) -> Result<(), Error> {
        let id = id.clone();
        self.run(move |runtime| runtime.archive(&id).map(drop)).await
    }

    async fn snapshot(&self, id: &SandboxId, image_name: &str) -> Result<(), Error> {
        let (id, image_name) = (id.clone(), image_name.to_string());
        self.run(move |runtime| runtime.snapshot(&id, &image_name).map(drop)).await
    }

    async fn fork(&self, source: &SandboxId, target: &SandboxId) -> Result<(), Error> {
        let (source, target) = (source.clone(), target.clone());
        self.run(move |runtime| runtime.fork(&source, &target)).await
    }

    async fn delete_image(&self, name: &str) -> Result<(), Error> {
        let name = name.to_string();
        self.run(move |runtime| runtime.delete_image(&name)).await
    }

    async fn update_limits(&self, id: &SandboxId, limits: &Limits) -> Result<(), Error> {
        let (id, limits) = (id.clone(), limits.clone());
        self.run(move |runtime| runtime.update_limits(&id, &limits)).await
    }

    async fn update_network(&self, id: &SandboxId, policy: &sandbar_runtime::EgressPolicy) -> Result<(), Error> {
        let (id, policy) = (id.clone(), policy.clone());
        self.run(move |runtime| runtime.update_network(&id, &policy)).await
    }

    fn enforces_disk_limits(&self) -> bool {
        self.runtime.enforces_disk_limits()
    }

    fn capacity(&self) -> Capacity {
        self.runtime.capacity()
    }

    fn local_runtime(&self) -> Option<Arc<Runtime>> {
        Some(Arc::clone(&self.runtime))
    }

    async fn next_init_exit(&self) -> InitExited {
        self.inits.next(&self.runtime).await
    }
}
