//! The operations on a sandbox's files and limits: fork (a new sandbox from a copy), snapshot
//! (an image from its files) and resize (new limits).

use super::admission::{self, limits_of, validate_name, Resources};
use super::commands::begin;
use super::quota::{self, Demand};
use super::{not_found, runtime_id, ControlPlane, ServiceError};
use crate::lifecycle::{self, Command, Plan};
use crate::model::{Organization, SandboxRow, SnapshotRow};
use sandbar_api::SandboxState;

impl ControlPlane {
    /// Forks a sandbox: a new sandbox with a copy of its files and the same settings, started if
    /// the source runs. Returns the new sandbox.
    #[tracing::instrument(skip_all, fields(sandbox_id = tracing::field::Empty, fork_id = tracing::field::Empty))]
    pub async fn fork(
        &self,
        org: &Organization,
        id_or_name: &str,
        name: Option<String>,
    ) -> Result<SandboxRow, ServiceError> {
        let source = self.get(org, id_or_name).await?;
        tracing::Span::current().record("sandbox_id", source.id.as_str());
        let plan = lifecycle::plan(source.state, Command::Fork)?;
        let fresh = admission::Fresh {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.id.clone(),
            target: self.config.target.clone(),
            now: self.now(),
        };
        let mut row = admission::forked(&source, name, fresh)?;
        let after = begin(&mut row, plan);
        let id = row.id.clone();
        tracing::Span::current().record("fork_id", id.as_str());
        let lock = self.lock_of(&id);
        let _guard = lock.lock().await;
        self.insert_admitted(&row, after == SandboxState::Started).await?;
        let (from, to) = (runtime_id(&source.id)?, runtime_id(&id)?);
        let mut result = self.node.fork(&from, &to).await;
        if result.is_ok() {
            // The copy carries the source's record; the fork's row is what it must follow.
            result = self.node.update_network(&to, &super::network::policy_of(&row)).await;
        }
        if result.is_ok() && after == SandboxState::Started {
            result = self.node.start(&to).await;
        }
        self.finish(row, result, after, Command::Fork).await
    }

    /// Makes a sandbox's files a snapshot of the caller's organization named `name`; new
    /// sandboxes can be created from it. The sandbox goes on unchanged.
    #[tracing::instrument(skip_all, fields(sandbox_id = tracing::field::Empty, snapshot = %name))]
    pub async fn snapshot_sandbox(
        &self,
        org: &Organization,
        id_or_name: &str,
        name: String,
    ) -> Result<SandboxRow, ServiceError> {
        validate_name("snapshot name", &name)?;
        if self.store.find_snapshot(&org.id, &name).await?.is_some() {
            return Err(ServiceError::Exists { what: format!("a snapshot named {name:?}") });
        }
        let row = self.get(org, id_or_name).await?;
        tracing::Span::current().record("sandbox_id", row.id.as_str());
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        let mut row = self.store.find_sandbox(&org.id, &row.id).await?.ok_or_else(|| not_found(id_or_name))?;
        let (during, resting) = match lifecycle::plan(row.state, Command::Snapshot)? {
            Plan::Run { during, after } => (during, after),
            Plan::Nothing => return Ok(row),
        };
        self.set_state(&mut row, during).await?;
        let image = format!("snap-{}", uuid::Uuid::new_v4().simple());
        let result = self.node.snapshot(&runtime_id(&row.id)?, &image).await;
        self.set_state(&mut row, resting).await?;
        result.map_err(|source| ServiceError::Runtime {
            context: format!("failed to snapshot sandbox {}", row.id),
            source,
        })?;
        let now = self.now();
        self.store
            .ensure_snapshot(&SnapshotRow {
                id: uuid::Uuid::new_v4().to_string(),
                organization_id: Some(org.id.clone()),
                name,
                image,
                source_sandbox_id: Some(row.id.clone()),
                state: "active".to_string(),
                general: false,
                cpu: row.cpu,
                gpu: 0,
                mem: row.memory,
                disk: row.disk,
                created_at: now.clone(),
                updated_at: now,
                last_used_at: None,
            })
            .await?;
        Ok(row)
    }

    /// Changes cpu and memory (applied at once, also to a running sandbox) and disk (recorded;
    /// it can only grow). Shows `resizing` meanwhile and returns to the state it had.
    #[tracing::instrument(skip_all, fields(sandbox_id = tracing::field::Empty))]
    pub async fn resize(
        &self,
        org: &Organization,
        id_or_name: &str,
        request: sandbar_api::ResizeSandbox,
    ) -> Result<SandboxRow, ServiceError> {
        admission::refuse_gpu(request.gpu)?;
        let row = self.get(org, id_or_name).await?;
        tracing::Span::current().record("sandbox_id", row.id.as_str());
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        let mut row = self.store.find_sandbox(&org.id, &row.id).await?.ok_or_else(|| not_found(id_or_name))?;
        let resting = row.state;
        let (during, after) = match lifecycle::plan(resting, Command::Resize)? {
            Plan::Run { during, after } => (during, after),
            Plan::Nothing => return Ok(row),
        };
        let Resources { cpu, memory, disk } = admission::resize(&row, &request)?;
        // Held to the end: the row shows the new sizes only once the runtime took them.
        let runs = quota::holds_compute(resting);
        let _admitted =
            self.admit(&row.organization_id, Some(&row.id), Demand { cpu, memory, disk, runs, new: false }).await?;
        self.set_state(&mut row, during).await?;
        let limits = limits_of(cpu, memory, disk);
        let result = self.node.update_limits(&runtime_id(&row.id)?, &limits).await;
        match result {
            Ok(()) => {
                row.cpu = cpu;
                row.memory = memory;
                row.disk = disk;
                self.set_state(&mut row, after).await?;
                Ok(row)
            }
            Err(source) => {
                // The old limits still hold: the sandbox goes back to where it was.
                self.set_state(&mut row, resting).await?;
                Err(ServiceError::RuntimeRefused { context: format!("cannot resize sandbox {}", row.id), source })
            }
        }
    }
}
