//! The control plane's watch on init exits: takes every exit the node reports
//! ([`Node::next_init_exit`](crate::node::Node::next_init_exit)) and records it
//! ([`ControlPlane::init_exited`]), for as long as the task runs. `serve` runs one beside the
//! reaper.

use crate::service::ControlPlane;
use std::sync::Arc;

/// Records init exits until the task is dropped.
pub async fn run(plane: Arc<ControlPlane>) {
    loop {
        let exited = plane.node().next_init_exit().await;
        if let Err(e) = plane.init_exited(&exited).await {
            tracing::error!(sandbox_id = %exited.id, error = %e, "recording an init exit");
        }
    }
}
