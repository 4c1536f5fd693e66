//! Create and the lifecycle commands (start, stop, delete, recover, pause, archive): plan with
//! `lifecycle::plan`, show the intermediate state, run the runtime, record the outcome.

use super::quota::Demand;
use super::{admission, not_found, runtime_id, ControlPlane, ServiceError};
use crate::lifecycle::{self, Command, Plan};
use crate::model::{Organization, SandboxRow};
use sandbar_api::{CreateSandbox, SandboxState};
use std::time::Duration;

/// How long a graceful stop waits before killing.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The runtime work of a plain lifecycle command (start and recover do the same: resume a
/// paused sandbox, start any other, remaking its directory when it is gone).
#[derive(Debug, Clone, Copy)]
enum Work {
    Start,
    Stop { grace: Duration },
    Delete,
    Pause,
    Archive,
}

/// Puts a sandbox `row` that was just made (not stored yet) in the state `plan` shows while the
/// runtime works, and returns the state it ends in.
pub(super) fn begin(row: &mut SandboxRow, plan: Plan) -> SandboxState {
    match plan {
        Plan::Run { during, after } => {
            row.state = during;
            after
        }
        Plan::Nothing => row.state,
    }
}

impl ControlPlane {
    /// Runs the command `decide` picks for a sandbox, by id and whatever its organization (for
    /// the reaper). The decision is made again under the sandbox's lock on the fresh row, so a
    /// sandbox started or used since the reaper looked is left alone.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub async fn command_if(
        &self,
        id: &str,
        decide: impl FnOnce(&SandboxRow) -> Option<Command>,
    ) -> Result<Option<SandboxRow>, ServiceError> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().await;
        let row = self.store.find_live_sandbox(id).await?.ok_or_else(|| not_found(id))?;
        match decide(&row) {
            Some(command) => Ok(Some(self.run_command(row, command, false).await?)),
            None => Ok(None),
        }
    }

    /// Creates a sandbox and starts it; returns it `started`.
    #[tracing::instrument(skip_all, fields(sandbox_id = tracing::field::Empty))]
    pub async fn create(&self, org: &Organization, request: CreateSandbox) -> Result<SandboxRow, ServiceError> {
        admission::refuse_build(&request)?;
        let snapshot_name = admission::snapshot_name(&request);
        let snapshot = self
            .store
            .find_snapshot(&org.id, &snapshot_name)
            .await?
            .ok_or_else(|| admission::snapshot_not_found(&snapshot_name))?;
        let volumes = self.find_volumes(org, request.volumes.iter().flatten()).await?;
        let owner = match request.linked_sandbox.as_deref() {
            Some(reference) => Some(self.link_owner(org, &request, reference).await?),
            None => None,
        };
        let fresh = admission::Fresh {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.id.clone(),
            target: self.config.target.clone(),
            now: self.now(),
        };
        let mut row = admission::new_sandbox(request, &snapshot, &volumes, fresh)?;
        row.linked_sandbox_id = owner.map(|owner| owner.id);
        let plan = lifecycle::plan(row.state, Command::Create)?;
        let after = begin(&mut row, plan);
        let id = row.id.clone();
        tracing::Span::current().record("sandbox_id", id.as_str());
        let spec = self.spec_of(&row, &snapshot).await?;
        // Held from before the row is visible: a settings change waits for the runtime record
        // made from this spec, and then updates it.
        let lock = self.lock_of(&id);
        let _guard = lock.lock().await;
        self.insert_admitted(&row, true).await?;
        let result = self.node.create_and_start(&runtime_id(&id)?, &spec).await;
        self.finish(row, result, after, Command::Create).await
    }

    /// Stores a sandbox that was just made (create, fork) once admission let it in (`runs`:
    /// whether it will run), and announces it. The admission guard is held until the row is
    /// stored, so its resources count for the next request.
    pub(super) async fn insert_admitted(&self, row: &SandboxRow, runs: bool) -> Result<(), ServiceError> {
        let admitted = self.admit(&row.organization_id, None, Demand::of(row, runs, true)).await?;
        self.store.insert_sandbox(row).await?;
        drop(admitted);
        self.events.created(&crate::dto::sandbox(row, &self.config.toolbox_url));
        Ok(())
    }

    /// Runs a lifecycle command and returns the sandbox in its resulting state.
    #[tracing::instrument(skip_all, fields(sandbox_id = tracing::field::Empty, command = command.verb()))]
    pub async fn command(
        &self,
        org: &Organization,
        id_or_name: &str,
        command: Command,
        force: bool,
    ) -> Result<SandboxRow, ServiceError> {
        let row = self.get(org, id_or_name).await?;
        tracing::Span::current().record("sandbox_id", row.id.as_str());
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        // Re-read under the lock: a request that waited may find the sandbox changed.
        let row = self.store.find_sandbox(&org.id, &row.id).await?.ok_or_else(|| not_found(id_or_name))?;
        self.run_command(row, command, force).await
    }

    pub(super) async fn run_command(
        &self,
        mut row: SandboxRow,
        command: Command,
        force: bool,
    ) -> Result<SandboxRow, ServiceError> {
        // Only the commands that need nothing but the sandbox run here; the others have their
        // own request and method (create, fork, snapshot_sandbox, resize).
        let work = match command {
            Command::Start | Command::Recover => Work::Start,
            Command::Stop => Work::Stop { grace: if force { Duration::ZERO } else { STOP_GRACE } },
            Command::Delete => Work::Delete,
            Command::Pause => Work::Pause,
            Command::Archive => Work::Archive,
            Command::Create | Command::Fork | Command::Snapshot | Command::Resize => {
                return Err(ServiceError::Invalid(format!(
                    "{} needs a request of its own; it is not a plain lifecycle command",
                    command.verb()
                )))
            }
        };
        let plan = lifecycle::plan(row.state, command)?;
        let (during, after) = match plan {
            Plan::Nothing => return Ok(row),
            Plan::Run { during, after } => (during, after),
        };
        row.desired_state = after;
        if command == Command::Recover {
            row.error_reason = None;
            row.recoverable = None;
        }
        if matches!(command, Command::Start | Command::Recover) {
            row.last_activity_at = self.now();
        }
        // Everything that can fail before the runtime call happens before the state changes, so
        // a refused request never leaves the sandbox in a transitional state.
        let snapshot = self.store.find_snapshot(&row.organization_id, &row.snapshot).await?;
        let spec = match (work, &snapshot) {
            (Work::Start, Some(snapshot)) => Some(self.spec_of(&row, snapshot).await?),
            _ => None,
        };
        let admitted = match work {
            Work::Start => Some(self.admit(&row.organization_id, Some(&row.id), Demand::of(&row, true, false)).await?),
            _ => None,
        };
        self.set_state(&mut row, during).await?;
        drop(admitted);
        let id = runtime_id(&row.id)?;
        let node = self.node.as_ref();
        let result = match work {
            Work::Pause => node.pause(&id).await,
            Work::Archive => node.archive(&id).await,
            Work::Stop { grace } => node.stop(&id, grace).await,
            Work::Delete => node.delete(&id).await,
            Work::Start => match (node.state(&id).await, spec) {
                (Ok(sandbar_runtime::SandboxState::Paused), _) => node.resume(&id).await,
                // A sandbox whose runtime directory is gone (e.g. a create that failed early)
                // is made again from its record.
                (Err(sandbar_runtime::Error::NotFound { .. }), Some(spec)) => node.create_and_start(&id, &spec).await,
                _ => node.start(&id).await,
            },
        };
        let row = self.finish(row, result, after, command).await?;
        if command == Command::Delete && row.state == SandboxState::Destroyed {
            self.delete_followers(&row.id).await;
        }
        // Ephemeral sandboxes (auto-delete 0) go as soon as they stop.
        if command == Command::Stop && row.auto_delete_interval == Some(0) {
            return Box::pin(self.run_command(row, Command::Delete, true)).await;
        }
        Ok(row)
    }

    /// Records the outcome of a runtime call: the planned state, or `error` with the reason.
    pub(super) async fn finish(
        &self,
        mut row: SandboxRow,
        result: Result<(), sandbar_runtime::Error>,
        after: SandboxState,
        command: Command,
    ) -> Result<SandboxRow, ServiceError> {
        let verb = command.verb();
        match result {
            Ok(()) => {
                row.error_reason = None;
                row.recoverable = None;
                self.set_state(&mut row, after).await?;
                Ok(row)
            }
            Err(source) => {
                let reason = format!("{verb} failed: {}", crate::error_chain(&source));
                tracing::error!(sandbox_id = %row.id, error = %reason, "sandbox operation failed");
                row.error_reason = Some(reason);
                row.recoverable = Some(true);
                self.set_state(&mut row, SandboxState::Error).await?;
                Err(ServiceError::Runtime { context: format!("failed to {verb} sandbox {}", row.id), source })
            }
        }
    }

    pub(super) async fn set_state(&self, row: &mut SandboxRow, state: SandboxState) -> Result<(), ServiceError> {
        let now = self.now();
        let old = row.state;
        if old != state {
            row.state_changed_at = now.clone();
        }
        row.state = state;
        row.updated_at = now;
        self.store.update_sandbox(row).await?;
        if old != state {
            self.events.state_updated(&crate::dto::sandbox(row, &self.config.toolbox_url), old.as_str());
        }
        Ok(())
    }
}
