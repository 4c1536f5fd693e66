//! Shutdown and restart: stopping every sandbox when the server stops, and lining the store up
//! with what the runtime re-adopted when it starts.

use super::{runtime_id, ControlPlane, ServiceError};
use crate::lifecycle::Command;
use sandbar_api::SandboxState;

impl ControlPlane {
    /// Stops every running sandbox (on shutdown), leaving them `stopped` with their files.
    pub async fn stop_all(&self) {
        let rows = match self.store.all_live_sandboxes().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "listing sandboxes to stop on shutdown");
                return;
            }
        };
        for row in rows.into_iter().filter(|r| matches!(r.state, SandboxState::Started | SandboxState::Paused)) {
            let lock = self.lock_of(&row.id);
            let _guard = lock.lock().await;
            if let Err(e) = self.run_command(row.clone(), Command::Stop, false).await {
                tracing::warn!(sandbox_id = %row.id, error = %e, "stopping on shutdown");
            }
        }
    }

    /// Makes stored states match reality after a restart: a sandbox the runtime re-adopted is
    /// `started` (or `paused`); one recorded as running or in transition that does not run is
    /// stopped (files kept); creates that never finished become `error`.
    pub async fn reconcile(&self) -> Result<(), ServiceError> {
        for mut row in self.store.all_live_sandboxes().await? {
            let id = runtime_id(&row.id)?;
            // The store is ground truth for the network policy: a record that missed a change
            // (the server died between the runtime's write and the store's) follows it now.
            if row.state != SandboxState::Destroying {
                match self.node.update_network(&id, &super::network::policy_of(&row)).await {
                    Ok(()) | Err(sandbar_runtime::Error::NotFound { .. }) => {}
                    Err(e) => tracing::warn!(sandbox_id = %row.id, error = %e, "could not restore the network policy"),
                }
            }
            // A sandbox the runtime re-adopted runs: that is its state, whatever transition the
            // previous server was in the middle of (except a delete, which goes on).
            let actual = match self.node.state(&id).await {
                Ok(sandbar_runtime::SandboxState::Running) => Some(SandboxState::Started),
                Ok(sandbar_runtime::SandboxState::Paused) => Some(SandboxState::Paused),
                _ => None,
            };
            let next = match row.state {
                state if actual == Some(state) => continue,
                state if state != SandboxState::Destroying && actual.is_some() => {
                    actual.unwrap_or(SandboxState::Started)
                }
                SandboxState::Creating => SandboxState::Error,
                SandboxState::Destroying => {
                    let result = self.node.delete(&id).await;
                    self.finish(row, result, SandboxState::Destroyed, Command::Delete).await.ok();
                    continue;
                }
                // A crash mid-archive or mid-restore was finished or rolled back by the runtime's
                // recovery: its files say which.
                SandboxState::Archiving | SandboxState::Restoring | SandboxState::Archived => {
                    let archived = self.node.is_archived(&id).await;
                    let next = if archived { SandboxState::Archived } else { SandboxState::Stopped };
                    if next == row.state {
                        continue;
                    }
                    next
                }
                SandboxState::Started
                | SandboxState::Starting
                | SandboxState::Stopping
                | SandboxState::Pausing
                | SandboxState::Paused
                | SandboxState::Resuming
                | SandboxState::Resizing
                | SandboxState::Unknown => SandboxState::Stopped,
                _ => continue,
            };
            tracing::info!(sandbox_id = %row.id, from = row.state.as_str(), to = next.as_str(), "reconciled after restart");
            if next == SandboxState::Error {
                row.error_reason = Some("the server stopped while the sandbox was being created".into());
                row.recoverable = Some(true);
            }
            self.set_state(&mut row, next).await?;
        }
        Ok(())
    }
}
