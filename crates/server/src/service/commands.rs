//! Create and the lifecycle commands (start, stop, delete, recover, pause, archive): plan with
//! `lifecycle::plan`, show the intermediate state, run the runtime, record the outcome.

use super::admission::{
    bounded, valid_env_name, validate_name, DEFAULT_AUTO_ARCHIVE, DEFAULT_AUTO_STOP, MAX_CPU, MAX_DISK_GIB,
    MAX_MEMORY_GIB,
};
use super::{blocking, not_found, runtime_id, ControlPlane, ServiceError, DEFAULT_SNAPSHOT};
use crate::lifecycle::{self, Command, Plan};
use crate::model::{Organization, SandboxRow};
use sandbar_api::{CreateSandbox, SandboxState};
use std::sync::Arc;
use std::time::Duration;

/// How long a graceful stop waits before killing.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl ControlPlane {
    /// Runs the command `decide` picks for a sandbox, by id and whatever its organization (for
    /// the reaper). The decision is made again under the sandbox's lock on the fresh row, so a
    /// sandbox started or used since the reaper looked is left alone.
    pub async fn command_if(
        &self,
        id: &str,
        decide: impl FnOnce(&SandboxRow) -> Option<Command>,
    ) -> Result<Option<SandboxRow>, ServiceError> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().await;
        let row = self.store.all_live_sandboxes()?.into_iter().find(|row| row.id == id).ok_or_else(|| not_found(id))?;
        match decide(&row) {
            Some(command) => Ok(Some(self.run_command(row, command, false).await?)),
            None => Ok(None),
        }
    }

    /// Creates a sandbox and starts it; returns it `started`.
    pub async fn create(&self, org: &Organization, request: CreateSandbox) -> Result<SandboxRow, ServiceError> {
        if let Some(build) = &request.build_info {
            let from = build
                .dockerfile_content
                .as_deref()
                .and_then(|d| d.lines().find(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM ")))
                .map(|l| l.trim().to_string())
                .unwrap_or_else(|| "the requested image".to_string());
            return Err(ServiceError::Invalid(format!(
                "image {from:?} is not available locally: Sandbar cannot build images yet; create the sandbox from a snapshot instead (e.g. \"{DEFAULT_SNAPSHOT}\")"
            )));
        }
        let snapshot_name = request.snapshot.clone().unwrap_or_else(|| DEFAULT_SNAPSHOT.to_string());
        let snapshot = self
            .store
            .find_snapshot(&org.id, &snapshot_name)?
            .ok_or_else(|| ServiceError::Invalid(format!("snapshot {snapshot_name:?} not found")))?;
        if snapshot.state != "active" {
            return Err(ServiceError::Invalid(format!("snapshot {snapshot_name:?} is {}, not active", snapshot.state)));
        }
        if request.snapshot.is_some() && (request.cpu.is_some() || request.memory.is_some() || request.disk.is_some()) {
            return Err(ServiceError::Invalid(
                "cannot specify sandbox resources when creating from a snapshot: the snapshot sets them".into(),
            ));
        }
        let cpu = bounded("cpu", request.cpu.unwrap_or(snapshot.cpu), 1, MAX_CPU)?;
        let memory = bounded("memory", request.memory.unwrap_or(snapshot.mem), 1, MAX_MEMORY_GIB)?;
        let disk = bounded("disk", request.disk.unwrap_or(snapshot.disk), 1, MAX_DISK_GIB)?;
        if request.gpu.unwrap_or(0) != 0 {
            return Err(ServiceError::Invalid("this Sandbar host has no GPUs: gpu must be 0".into()));
        }
        let env = request.env.clone().unwrap_or_default();
        for key in env.keys() {
            if !valid_env_name(key) {
                return Err(ServiceError::Invalid(format!(
                    "environment variable name {key:?} must match [A-Za-z_][A-Za-z0-9_]*"
                )));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let name = request.name.clone().unwrap_or_else(|| id.clone());
        validate_name("sandbox name", &name)?;
        let user = request.user.clone().unwrap_or_else(|| "daytona".to_string());
        if user.is_empty() || user.contains([':', '/', '\0']) {
            return Err(ServiceError::Invalid(format!("user {user:?} is not a valid OS user name")));
        }
        let volumes = self.resolve_volumes(org, request.volumes.clone().unwrap_or_default())?;
        for (name, interval) in [
            ("autoStopInterval", request.auto_stop_interval),
            ("autoArchiveInterval", request.auto_archive_interval),
            ("autoPauseInterval", request.auto_pause_interval),
        ] {
            if interval.is_some_and(|n| n < 0) {
                return Err(ServiceError::Invalid(format!("{name} must be 0 or more minutes")));
            }
        }
        if request.auto_delete_interval.is_some_and(|n| n < -1) {
            return Err(ServiceError::Invalid(
                "autoDeleteInterval must be -1 (never), 0 (on stop) or more minutes".into(),
            ));
        }
        let now = self.now();
        let row = SandboxRow {
            id: id.clone(),
            organization_id: org.id.clone(),
            name,
            snapshot: snapshot.name.clone(),
            user,
            env,
            labels: request.labels.clone().unwrap_or_default(),
            public: request.public.unwrap_or(false),
            network_block_all: request.network_block_all.unwrap_or(false),
            network_allow_list: request.network_allow_list.clone(),
            domain_allow_list: request.domain_allow_list.clone(),
            target: request.target.clone().unwrap_or_else(|| self.config.target.clone()),
            cpu,
            gpu: 0,
            memory,
            disk,
            state: SandboxState::Creating,
            desired_state: SandboxState::Started,
            error_reason: None,
            recoverable: None,
            auto_stop_interval: Some(request.auto_stop_interval.unwrap_or(DEFAULT_AUTO_STOP)),
            auto_archive_interval: Some(request.auto_archive_interval.unwrap_or(DEFAULT_AUTO_ARCHIVE)),
            auto_delete_interval: Some(request.auto_delete_interval.unwrap_or(-1)),
            auto_pause_interval: request.auto_pause_interval,
            volumes,
            created_at: now.clone(),
            updated_at: now.clone(),
            last_activity_at: now.clone(),
            state_changed_at: now,
        };
        let spec = self.spec_of(&row, &snapshot)?;
        self.store.insert_sandbox(&row)?;
        self.events.created(&crate::dto::sandbox(&row, &self.config.toolbox_url));
        let lock = self.lock_of(&id);
        let _guard = lock.lock().await;
        let runtime = Arc::clone(&self.runtime);
        let runtime_id = runtime_id(&id)?;
        let result = blocking(move || {
            runtime.create(&runtime_id, &spec)?;
            runtime.start(&runtime_id)
        })
        .await;
        self.finish(row, result, SandboxState::Started, "create")
    }

    /// Runs a lifecycle command and returns the sandbox in its resulting state.
    pub async fn command(
        &self,
        org: &Organization,
        id_or_name: &str,
        command: Command,
        force: bool,
    ) -> Result<SandboxRow, ServiceError> {
        let row = self.get(org, id_or_name).await?;
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        // Re-read under the lock: a request that waited may find the sandbox changed.
        let row = self.store.find_sandbox(&org.id, &row.id)?.ok_or_else(|| not_found(id_or_name))?;
        self.run_command(row, command, force).await
    }

    pub(super) async fn run_command(
        &self,
        mut row: SandboxRow,
        command: Command,
        force: bool,
    ) -> Result<SandboxRow, ServiceError> {
        let plan = lifecycle::plan(row.state, command).map_err(ServiceError::Conflict)?;
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
        let snapshot = self.store.find_snapshot(&row.organization_id, &row.snapshot)?;
        let spec = match (command, &snapshot) {
            (Command::Start | Command::Recover, Some(snapshot)) => Some(self.spec_of(&row, snapshot)?),
            _ => None,
        };
        self.set_state(&mut row, during)?;
        let runtime = Arc::clone(&self.runtime);
        let id = runtime_id(&row.id)?;
        let grace = if force { Duration::ZERO } else { STOP_GRACE };
        let result = blocking(move || match command {
            Command::Start | Command::Recover
                if matches!(runtime.state(&id), Ok(sandbar_runtime::SandboxState::Paused)) =>
            {
                runtime.resume(&id)
            }
            Command::Pause => runtime.pause(&id),
            Command::Archive => runtime.archive(&id).map(drop),
            Command::Start | Command::Recover => {
                // A sandbox whose runtime directory is gone (e.g. a create that failed early)
                // is made again from its record.
                if let (Err(sandbar_runtime::Error::NotFound { .. }), Some(spec)) = (runtime.state(&id), spec) {
                    runtime.create(&id, &spec)?;
                }
                runtime.start(&id)
            }
            Command::Stop => runtime.stop(&id, grace),
            Command::Delete => runtime.delete(&id),
        })
        .await;
        let row = self.finish(row, result, after, lifecycle::verb(command))?;
        // Ephemeral sandboxes (auto-delete 0) go as soon as they stop.
        if command == Command::Stop && row.auto_delete_interval == Some(0) {
            return Box::pin(self.run_command(row, Command::Delete, true)).await;
        }
        Ok(row)
    }

    /// Records the outcome of a runtime call: the planned state, or `error` with the reason.
    pub(super) fn finish(
        &self,
        mut row: SandboxRow,
        result: Result<(), sandbar_runtime::Error>,
        after: SandboxState,
        verb: &str,
    ) -> Result<SandboxRow, ServiceError> {
        match result {
            Ok(()) => {
                row.error_reason = None;
                row.recoverable = None;
                self.set_state(&mut row, after)?;
                Ok(row)
            }
            Err(source) => {
                let reason = format!("{verb} failed: {source}");
                tracing::error!(sandbox_id = %row.id, error = %reason, "sandbox operation failed");
                row.error_reason = Some(reason);
                row.recoverable = Some(true);
                self.set_state(&mut row, SandboxState::Error)?;
                Err(ServiceError::Runtime { context: format!("failed to {verb} sandbox {}", row.id), source })
            }
        }
    }

    pub(super) fn set_state(&self, row: &mut SandboxRow, state: SandboxState) -> Result<(), ServiceError> {
        let now = self.now();
        let old = row.state;
        if old != state {
            row.state_changed_at = now.clone();
        }
        row.state = state;
        row.updated_at = now;
        self.store.update_sandbox(row)?;
        if old != state {
            self.events.state_updated(&crate::dto::sandbox(row, &self.config.toolbox_url), old.as_str());
        }
        Ok(())
    }
}
