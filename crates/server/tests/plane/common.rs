//! The fixture of the unprivileged suite: a control plane over a [`FakeNode`] (sandboxes as
//! records in memory, no root, no processes), with a manual clock and its router.

use crate::support::Plane;
pub use crate::support::{Api, KEY, OTHER_KEY};
use sandbar_server::clock::ManualClock;
use sandbar_server::node::fake::FakeNode;
use sandbar_server::service::ControlPlane;
use sandbar_server::store::Store;
use std::sync::Arc;

pub struct App {
    /// Holds the store's directory for the test's lifetime.
    _data: tempfile::TempDir,
    pub plane: Arc<ControlPlane>,
    pub node: Arc<FakeNode>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    api: Api,
}

impl std::ops::Deref for App {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl App {
    pub async fn new() -> App {
        App::with_rate_limit(10_000).await
    }

    pub async fn with_rate_limit(per_second: u32) -> App {
        let data = tempfile::Builder::new().prefix("sandbar-plane-").tempdir().unwrap();
        let node = Arc::new(FakeNode::new([]));
        let Plane { plane, clock, store, api } = Plane::new(data.path(), node.clone(), per_second).await;
        App { _data: data, plane, node, clock, store, api }
    }
}
