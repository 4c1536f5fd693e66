//! The fixture of the privileged suite: a control plane over a real runtime in a temporary data
//! directory (as root), with a manual clock and its router; every sandbox is deleted on drop.

use crate::support::Plane;
pub use crate::support::{assert_full_dto, Api, KEY, OTHER_KEY};
use sandbar_runtime::{ImageStore, Runtime, RuntimeConfig};
use sandbar_server::clock::ManualClock;
use sandbar_server::node::LocalNode;
use sandbar_server::service::ControlPlane;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct App {
    pub data: Arc<tempfile::TempDir>,
    cleanup: bool,
    pub plane: Arc<ControlPlane>,
    pub runtime: Arc<Runtime>,
    pub clock: Arc<ManualClock>,
    api: Api,
}

impl std::ops::Deref for App {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

pub fn runtime_for(data: &std::path::Path) -> Runtime {
    let parent = format!("sandbar-srvtest-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    runtime_with_parent(data, &parent)
}

/// A runtime whose sandbox cgroups live under `parent` (a restarted server reuses its parent).
pub fn runtime_with_parent(data: &std::path::Path, parent: &str) -> Runtime {
    assert!(nix::unistd::geteuid().is_root(), "the control-plane tests start real sandboxes and need root, as in CI");
    let images = ImageStore::open(sandbar_runtime::env::image_cache_dir()).expect("image store");
    images.ensure_default(&mut ()).expect("default image");
    let mut config = RuntimeConfig::new(data, images);
    config.cgroup_parent = parent.to_string();
    Runtime::new(config).expect("runtime")
}

impl App {
    pub async fn new() -> App {
        App::with_rate_limit(10_000).await
    }

    pub async fn with_rate_limit(per_second: u32) -> App {
        let data = Arc::new(tempfile::Builder::new().prefix("sandbar-srv-").tempdir().unwrap());
        let runtime = Arc::new(runtime_for(data.path()));
        App::assemble(data, runtime, per_second).await
    }

    /// A control plane over an existing data directory and runtime (for restart tests).
    pub async fn assemble(data: Arc<tempfile::TempDir>, runtime: Arc<Runtime>, per_second: u32) -> App {
        let Plane { plane, clock, api, .. } =
            Plane::new(data.path(), Arc::new(LocalNode::new(runtime.clone())), per_second).await;
        App { data, cleanup: true, plane, runtime, clock, api }
    }

    /// Simulates kill -9 of the server: everything is dropped without stopping any sandbox.
    /// Returns the data directory so a "restarted" server can open it.
    pub fn crash(mut self) -> Arc<tempfile::TempDir> {
        self.cleanup = false;
        Arc::clone(&self.data)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if !self.cleanup {
            return;
        }
        let result = self.runtime.delete_all();
        if !std::thread::panicking() {
            result.expect("delete every sandbox");
            assert!(self.runtime.cgroup_children().is_empty(), "cgroups left: {:?}", self.runtime.cgroup_children());
        }
    }
}
