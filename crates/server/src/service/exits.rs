//! A sandbox whose init died on its own (reported by its node) is recorded at once: it leaves
//! `started` for `error`, with how init ended as the reason, and the usual state event goes
//! out, so nobody has to ask before the API tells the truth.

use super::{ControlPlane, ServiceError};
use crate::node::InitExited;
use sandbar_api::SandboxState;

impl ControlPlane {
    /// Records that the init of `exited.id` exited on its own: a sandbox the store shows
    /// running (`started` or `paused`) becomes `error` (recoverable: a start starts it again)
    /// with the reason. A report about a sandbox that is not running in the store, or runs
    /// again on its node by now, changes nothing. Returns whether the sandbox changed.
    #[tracing::instrument(skip_all, fields(sandbox_id = %exited.id))]
    pub async fn init_exited(&self, exited: &InitExited) -> Result<bool, ServiceError> {
        let id = exited.id.as_str();
        let lock = self.lock_of(id);
        let _guard = lock.lock().await;
        let Some(mut row) = self.store.find_live_sandbox(id).await? else { return Ok(false) };
        if !matches!(row.state, SandboxState::Started | SandboxState::Paused) {
            return Ok(false);
        }
        if matches!(
            self.node.state(&exited.id).await,
            Ok(sandbar_runtime::SandboxState::Running | sandbar_runtime::SandboxState::Paused)
        ) {
            return Ok(false);
        }
        let reason = exited.exit.to_string();
        tracing::warn!(error = %reason, "the sandbox's init exited on its own");
        row.error_reason = Some(reason);
        row.recoverable = Some(true);
        self.set_state(&mut row, SandboxState::Error).await?;
        Ok(true)
    }
}
