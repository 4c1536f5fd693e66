//! The control plane's operations: what each API call does to the store and the runtime.
//!
//! Handlers call exactly one method here. Requests on one sandbox are serialized by a
//! per-sandbox async lock; every transition goes through `lifecycle::plan`, shows its
//! intermediate state in the store while the runtime works, and ends in the planned state or in
//! `error` with an `errorReason` (never stuck in a transitional state).

use crate::clock::{iso, Clock};
use crate::lifecycle::{self, Command, Plan};
use crate::model::{Organization, SandboxRow, SnapshotRow, VolumeMount, VolumeRow};
use crate::store::{Store, StoreError};
use sandbar_api::{CreateSandbox, NetworkSettings, SandboxState};
use sandbar_runtime::{BindMount, Limits, Runtime, SandboxId, SandboxSpec};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Name of the snapshot backed by the runtime's default image.
pub const DEFAULT_SNAPSHOT: &str = "default";
/// Every sandbox gets at most this many processes unless told otherwise: a fork bomb must not
/// reach the host's limit.
const DEFAULT_PIDS: u64 = 4096;
/// Defaults of Daytona's sandboxes: 1 vCPU, 1 GiB memory, 3 GiB disk.
const DEFAULT_CPU: i64 = 1;
const DEFAULT_MEMORY_GIB: i64 = 1;
const DEFAULT_DISK_GIB: i64 = 3;
/// Upper bounds a single sandbox may ask for.
const MAX_CPU: i64 = 64;
const MAX_MEMORY_GIB: i64 = 256;
const MAX_DISK_GIB: i64 = 1024;
/// Default auto-stop interval in minutes, as Daytona's.
const DEFAULT_AUTO_STOP: i64 = 15;
/// Default auto-archive interval in minutes (7 days), as Daytona's.
const DEFAULT_AUTO_ARCHIVE: i64 = 10080;
/// How long a graceful stop waits before killing.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why an operation failed; `http::error` maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 404: no such thing in the caller's organization.
    #[error("{0}")]
    NotFound(String),
    /// 400: the request is malformed or asks for something impossible.
    #[error("{0}")]
    Invalid(String),
    /// 409: the thing exists already, or its state forbids the operation.
    #[error("{0}")]
    Conflict(String),
    /// 500: the store failed.
    #[error("state store failed")]
    Store(#[source] StoreError),
    /// 500: the runtime failed.
    #[error("{context}")]
    Runtime {
        /// What the control plane was doing.
        context: String,
        /// The runtime's error.
        #[source]
        source: sandbar_runtime::Error,
    },
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> ServiceError {
        match error {
            StoreError::Conflict { what } => ServiceError::Conflict(format!("{what} already exists")),
            other => ServiceError::Store(other),
        }
    }
}

/// Settings the control plane needs from the server's configuration.
#[derive(Debug, Clone)]
pub struct PlaneConfig {
    /// Base of the toolbox API, put into every DTO.
    pub toolbox_url: String,
    /// Where volume data lives.
    pub volumes_dir: PathBuf,
    /// Region name reported as `target`.
    pub target: String,
}

/// Filters and paging of a sandbox list, already parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
    /// Page size (1-200, default 100).
    pub limit: Option<i64>,
    /// Id prefix.
    pub id: Option<String>,
    /// Name prefix.
    pub name: Option<String>,
    /// All of these labels must match.
    pub labels: BTreeMap<String, String>,
    /// Any of these states.
    pub states: Vec<SandboxState>,
    /// Any of these snapshots.
    pub snapshots: Vec<String>,
    /// Resource bounds.
    pub min_cpu: Option<i64>,
    #[allow(missing_docs)]
    pub max_cpu: Option<i64>,
    #[allow(missing_docs)]
    pub min_memory: Option<i64>,
    #[allow(missing_docs)]
    pub max_memory: Option<i64>,
    #[allow(missing_docs)]
    pub min_disk: Option<i64>,
    #[allow(missing_docs)]
    pub max_disk: Option<i64>,
    /// Public flag.
    pub is_public: Option<bool>,
    /// Recoverable flag.
    pub is_recoverable: Option<bool>,
    /// Creation time bounds (ISO datetimes).
    pub created_after: Option<String>,
    #[allow(missing_docs)]
    pub created_before: Option<String>,
    /// Last activity bounds (ISO datetimes).
    pub activity_after: Option<String>,
    #[allow(missing_docs)]
    pub activity_before: Option<String>,
    /// Sort key: name, cpu, memoryGib, diskGib, lastActivityAt (default), createdAt.
    pub sort: Option<String>,
    /// asc or desc (default).
    pub ascending: bool,
    /// Include destroyed and errored sandboxes.
    pub include_errored_deleted: bool,
}

/// An interval setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Minutes of inactivity before a stop (0 = never).
    AutoStop,
    /// Minutes stopped before an archive (0 = the maximum).
    AutoArchive,
    /// Minutes stopped before a delete (-1 = never, 0 = on stop).
    AutoDelete,
    /// Minutes of inactivity before a pause.
    AutoPause,
}

/// The control plane.
pub struct ControlPlane {
    store: Arc<Store>,
    events: crate::events::Events,
    runtime: Arc<Runtime>,
    config: PlaneConfig,
    clock: Arc<dyn Clock>,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ControlPlane {
    /// A control plane over `store` and `runtime`; registers the default snapshot.
    pub fn new(
        store: Arc<Store>,
        runtime: Arc<Runtime>,
        config: PlaneConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<ControlPlane, ServiceError> {
        let now = iso(clock.now());
        store.ensure_snapshot(&SnapshotRow {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: None,
            name: DEFAULT_SNAPSHOT.to_string(),
            image: sandbar_runtime::DEFAULT_IMAGE.to_string(),
            source_sandbox_id: None,
            state: "active".to_string(),
            general: true,
            cpu: DEFAULT_CPU,
            gpu: 0,
            mem: DEFAULT_MEMORY_GIB,
            disk: DEFAULT_DISK_GIB,
            created_at: now.clone(),
            updated_at: now,
            last_used_at: None,
        })?;
        Ok(ControlPlane {
            store,
            events: crate::events::Events::default(),
            runtime,
            config,
            clock,
            locks: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Sandbox events, for the push gateway.
    pub fn events(&self) -> &crate::events::Events {
        &self.events
    }

    /// The store (for auth and the key commands).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The runtime (for the toolbox, which starts processes in sandboxes).
    pub fn runtime(&self) -> Arc<Runtime> {
        Arc::clone(&self.runtime)
    }

    /// A shared handle on the store (for the push gateway).
    pub fn shared_store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// The toolbox base URL.
    pub fn toolbox_url(&self) -> &str {
        &self.config.toolbox_url
    }

    /// The region name.
    pub fn target(&self) -> &str {
        &self.config.target
    }

    /// Now, as stored text.
    pub fn now(&self) -> String {
        iso(self.clock.now())
    }

    /// Now, from the control plane's clock.
    pub fn clock_now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

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

    // ---- sandboxes ----

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

    /// The sandbox `id_or_name` of `org`.
    pub async fn get(&self, org: &Organization, id_or_name: &str) -> Result<SandboxRow, ServiceError> {
        self.store.find_sandbox(&org.id, id_or_name)?.ok_or_else(|| not_found(id_or_name))
    }

    /// The key a sandbox's signed file URLs are signed with; `rotate` replaces it, which
    /// invalidates every URL signed before.
    pub async fn signing_key(&self, org: &Organization, id: &str, rotate: bool) -> Result<String, ServiceError> {
        let row = self.get(org, id).await?;
        self.store.signing_key(&org.id, &row.id, rotate)?.ok_or_else(|| not_found(id))
    }

    /// One page of `org`'s sandboxes, and the cursor of the next page.
    pub async fn list(
        &self,
        org: &Organization,
        query: &ListQuery,
    ) -> Result<(Vec<SandboxRow>, Option<String>), ServiceError> {
        let limit = query.limit.unwrap_or(100);
        if !(1..=200).contains(&limit) {
            return Err(ServiceError::Invalid(format!("limit {limit} must be between 1 and 200")));
        }
        let offset = match &query.cursor {
            None => 0,
            Some(cursor) => decode_cursor(cursor)?,
        };
        let rows = self.list_all(org, query).await?;
        let total = rows.len();
        let page: Vec<SandboxRow> = rows.into_iter().skip(offset).take(limit as usize).collect();
        let next = offset + page.len();
        let cursor = (next < total).then(|| encode_cursor(next));
        Ok((page, cursor))
    }

    /// All of `org`'s sandboxes matching `query`, unpaged (for the page-numbered list).
    pub async fn list_all(&self, org: &Organization, query: &ListQuery) -> Result<Vec<SandboxRow>, ServiceError> {
        let mut rows: Vec<SandboxRow> = self
            .store
            .list_sandboxes(&org.id, query.include_errored_deleted)?
            .into_iter()
            .filter(|row| matches_query(row, query))
            .collect();
        sort_rows(&mut rows, query.sort.as_deref().unwrap_or("lastActivityAt"), query.ascending)?;
        Ok(rows)
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

    /// Forks a sandbox: a new sandbox with a copy of its files and the same settings, started if
    /// the source runs. Returns the new sandbox.
    pub async fn fork(
        &self,
        org: &Organization,
        id_or_name: &str,
        name: Option<String>,
    ) -> Result<SandboxRow, ServiceError> {
        let source = self.get(org, id_or_name).await?;
        if !matches!(source.state, SandboxState::Started | SandboxState::Stopped | SandboxState::Paused) {
            return Err(ServiceError::Conflict(format!("cannot fork a sandbox that is {}", source.state.as_str())));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let name = name.unwrap_or_else(|| id.clone());
        validate_name("sandbox name", &name)?;
        let now = self.now();
        let row = SandboxRow {
            id: id.clone(),
            name,
            state: SandboxState::Creating,
            desired_state: SandboxState::Started,
            error_reason: None,
            recoverable: None,
            created_at: now.clone(),
            updated_at: now.clone(),
            last_activity_at: now.clone(),
            state_changed_at: now,
            ..source.clone()
        };
        self.store.insert_sandbox(&row)?;
        self.events.created(&crate::dto::sandbox(&row, &self.config.toolbox_url));
        let lock = self.lock_of(&id);
        let _guard = lock.lock().await;
        let runtime = Arc::clone(&self.runtime);
        let (from, to) = (runtime_id(&source.id)?, runtime_id(&id)?);
        let start = source.state != SandboxState::Stopped;
        let result = blocking(move || {
            runtime.fork(&from, &to)?;
            if start {
                runtime.start(&to)?;
            }
            Ok(())
        })
        .await;
        self.finish(row, result, if start { SandboxState::Started } else { SandboxState::Stopped }, "fork")
    }

    /// Makes a sandbox's files a snapshot of the caller's organization named `name`; new
    /// sandboxes can be created from it. The sandbox goes on unchanged.
    pub async fn snapshot_sandbox(
        &self,
        org: &Organization,
        id_or_name: &str,
        name: String,
    ) -> Result<SandboxRow, ServiceError> {
        validate_name("snapshot name", &name)?;
        if self.store.find_snapshot(&org.id, &name)?.is_some() {
            return Err(ServiceError::Conflict(format!("a snapshot named {name:?} already exists")));
        }
        let row = self.get(org, id_or_name).await?;
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        let mut row = self.store.find_sandbox(&org.id, &row.id)?.ok_or_else(|| not_found(id_or_name))?;
        let resting = row.state;
        if !matches!(resting, SandboxState::Started | SandboxState::Stopped | SandboxState::Paused) {
            return Err(ServiceError::Conflict(format!("cannot snapshot a sandbox that is {}", resting.as_str())));
        }
        self.set_state(&mut row, SandboxState::Snapshotting)?;
        let image = format!("snap-{}", uuid::Uuid::new_v4().simple());
        let runtime = Arc::clone(&self.runtime);
        let id = runtime_id(&row.id)?;
        let image_name = image.clone();
        let result = blocking(move || runtime.snapshot(&id, &image_name).map(drop)).await;
        self.set_state(&mut row, resting)?;
        result.map_err(|source| ServiceError::Runtime {
            context: format!("failed to snapshot sandbox {}", row.id),
            source,
        })?;
        let now = self.now();
        self.store.ensure_snapshot(&SnapshotRow {
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
        })?;
        Ok(row)
    }

    /// Deletes a snapshot of the caller's organization that no sandbox uses.
    pub async fn delete_snapshot(&self, org: &Organization, id_or_name: &str) -> Result<(), ServiceError> {
        let snapshot = self.get_snapshot(org, id_or_name).await?;
        if snapshot.general {
            return Err(ServiceError::Conflict(format!(
                "snapshot {:?} is shared by every organization and cannot be deleted",
                snapshot.name
            )));
        }
        let users: Vec<String> = self
            .store
            .list_sandboxes(&org.id, false)?
            .into_iter()
            .filter(|row| row.snapshot == snapshot.name)
            .map(|row| row.name)
            .collect();
        if !users.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "snapshot {:?} is used by sandbox(es) {}",
                snapshot.name,
                users.join(", ")
            )));
        }
        let runtime = Arc::clone(&self.runtime);
        let image = snapshot.image.clone();
        blocking(move || runtime.delete_image(&image)).await.map_err(|source| ServiceError::Runtime {
            context: format!("failed to delete snapshot {}", snapshot.name),
            source,
        })?;
        self.store.delete_snapshot(&snapshot.id)?;
        Ok(())
    }

    /// Replaces every label.
    pub async fn set_labels(
        &self,
        org: &Organization,
        id_or_name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<SandboxRow, ServiceError> {
        for key in labels.keys() {
            if key.is_empty() || key.len() > 253 {
                return Err(ServiceError::Invalid(format!("label key {key:?} must be 1-253 characters")));
            }
        }
        self.update(org, id_or_name, |row| {
            row.labels = labels;
            Ok(())
        })
        .await
    }

    /// Sets an interval (minutes).
    pub async fn set_interval(
        &self,
        org: &Organization,
        id_or_name: &str,
        interval: Interval,
        minutes: i64,
    ) -> Result<SandboxRow, ServiceError> {
        let minimum = if interval == Interval::AutoDelete { -1 } else { 0 };
        if minutes < minimum {
            return Err(ServiceError::Invalid(format!("interval {minutes} must be {minimum} or more minutes")));
        }
        self.update(org, id_or_name, |row| {
            match interval {
                Interval::AutoStop => row.auto_stop_interval = Some(minutes),
                Interval::AutoArchive => row.auto_archive_interval = Some(minutes),
                Interval::AutoDelete => row.auto_delete_interval = Some(minutes),
                Interval::AutoPause => row.auto_pause_interval = Some(minutes),
            }
            Ok(())
        })
        .await
    }

    /// Sets the public flag.
    pub async fn set_public(
        &self,
        org: &Organization,
        id_or_name: &str,
        public: bool,
    ) -> Result<SandboxRow, ServiceError> {
        self.update(org, id_or_name, |row| {
            row.public = public;
            Ok(())
        })
        .await
    }

    /// Stores network settings (enforced once outside networking exists; loopback-only until then).
    pub async fn set_network(
        &self,
        org: &Organization,
        id_or_name: &str,
        settings: NetworkSettings,
    ) -> Result<SandboxRow, ServiceError> {
        self.update(org, id_or_name, |row| {
            if let Some(block) = settings.network_block_all {
                row.network_block_all = block;
            }
            if settings.network_allow_list.is_some() {
                row.network_allow_list = settings.network_allow_list;
            }
            if settings.domain_allow_list.is_some() {
                row.domain_allow_list = settings.domain_allow_list;
            }
            Ok(())
        })
        .await
    }

    /// Changes cpu and memory (applied at once, also to a running sandbox) and disk (recorded;
    /// it can only grow). Shows `resizing` meanwhile and returns to the state it had.
    pub async fn resize(
        &self,
        org: &Organization,
        id_or_name: &str,
        request: sandbar_api::ResizeSandbox,
    ) -> Result<SandboxRow, ServiceError> {
        if request.gpu.unwrap_or(0) != 0 {
            return Err(ServiceError::Invalid("this Sandbar host has no GPUs: gpu must be 0".into()));
        }
        let row = self.get(org, id_or_name).await?;
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        let mut row = self.store.find_sandbox(&org.id, &row.id)?.ok_or_else(|| not_found(id_or_name))?;
        let resting = row.state;
        if !matches!(resting, SandboxState::Started | SandboxState::Stopped) {
            return Err(ServiceError::Conflict(format!("cannot resize a sandbox that is {}", resting.as_str())));
        }
        if request.cpu.is_none() && request.memory.is_none() && request.disk.is_none() {
            return Err(ServiceError::Invalid("no resource changes specified: set cpu, memory or disk".into()));
        }
        let cpu = bounded("cpu", request.cpu.unwrap_or(row.cpu), 1, MAX_CPU)?;
        let memory = bounded("memory", request.memory.unwrap_or(row.memory), 1, MAX_MEMORY_GIB)?;
        let disk = bounded("disk", request.disk.unwrap_or(row.disk), 1, MAX_DISK_GIB)?;
        if disk < row.disk {
            return Err(ServiceError::Invalid(format!(
                "disk can only grow: {disk} GiB is less than the current {} GiB",
                row.disk
            )));
        }
        // As Daytona: a running sandbox's cpu and memory may only grow, and its disk changes only
        // while it is stopped.
        if resting == SandboxState::Started {
            if disk != row.disk {
                return Err(ServiceError::Invalid(
                    "disk can only be resized while the sandbox is stopped; stop it first".into(),
                ));
            }
            if cpu < row.cpu || memory < row.memory {
                return Err(ServiceError::Invalid(format!(
                    "a running sandbox's cpu and memory can only grow (now {} cpu, {} GiB); stop it to decrease them",
                    row.cpu, row.memory
                )));
            }
        }
        self.set_state(&mut row, SandboxState::Resizing)?;
        let limits = limits_of(cpu, memory, disk);
        let runtime = Arc::clone(&self.runtime);
        let id = runtime_id(&row.id)?;
        let result = blocking(move || runtime.update_limits(&id, &limits)).await;
        match result {
            Ok(()) => {
                row.cpu = cpu;
                row.memory = memory;
                row.disk = disk;
                self.set_state(&mut row, resting)?;
                Ok(row)
            }
            Err(source) => {
                // The old limits still hold: the sandbox goes back to where it was.
                self.set_state(&mut row, resting)?;
                Err(ServiceError::Conflict(format!(
                    "cannot resize sandbox {}: {}",
                    row.id,
                    crate::error_chain(&source)
                )))
            }
        }
    }

    /// Records activity (API, toolbox, SSH or preview traffic) for auto-stop.
    pub async fn touch(&self, org: &Organization, id_or_name: &str) -> Result<SandboxRow, ServiceError> {
        self.update(org, id_or_name, |_| Ok(())).await
    }

    // ---- volumes ----

    /// Creates a volume.
    pub async fn create_volume(&self, org: &Organization, name: Option<String>) -> Result<VolumeRow, ServiceError> {
        let name = name.ok_or_else(|| ServiceError::Invalid("volume name is required".into()))?;
        validate_name("volume name", &name)?;
        let now = self.now();
        let volume = VolumeRow {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.id.clone(),
            name,
            state: "ready".to_string(),
            created_at: now.clone(),
            updated_at: now,
            last_used_at: None,
        };
        let dir = self.config.volumes_dir.join(&volume.id);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::os::unix::fs::chown(&dir, Some(1000), Some(1000)))
            .map_err(|e| ServiceError::Invalid(format!("cannot create volume storage {}: {e}", dir.display())))?;
        if let Err(e) = self.store.insert_volume(&volume) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok(volume)
    }

    /// A volume by id or name.
    pub async fn get_volume(&self, org: &Organization, id_or_name: &str) -> Result<VolumeRow, ServiceError> {
        self.store
            .find_volume(&org.id, id_or_name)?
            .ok_or_else(|| ServiceError::NotFound(format!("volume {id_or_name:?} not found")))
    }

    /// Every volume of `org`.
    pub async fn list_volumes(&self, org: &Organization) -> Result<Vec<VolumeRow>, ServiceError> {
        Ok(self.store.list_volumes(&org.id)?)
    }

    /// Deletes a volume and its data; refused (409) while a sandbox mounts it.
    pub async fn delete_volume(&self, org: &Organization, id_or_name: &str) -> Result<(), ServiceError> {
        let volume = self.get_volume(org, id_or_name).await?;
        let users: Vec<String> = self
            .store
            .list_sandboxes(&org.id, false)?
            .into_iter()
            .filter(|row| row.volumes.iter().any(|v| v.volume_id == volume.id))
            .map(|row| row.name)
            .collect();
        if !users.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "volume {:?} is mounted by sandbox(es) {}; delete them first",
                volume.name,
                users.join(", ")
            )));
        }
        self.store.delete_volume(&volume.id)?;
        let dir = self.config.volumes_dir.join(&volume.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(volume = %volume.id, error = %e, "volume data left behind");
            }
        }
        Ok(())
    }

    // ---- snapshots ----

    /// Snapshots visible to `org`.
    pub async fn list_snapshots(&self, org: &Organization) -> Result<Vec<SnapshotRow>, ServiceError> {
        Ok(self.store.list_snapshots(&org.id)?)
    }

    /// A snapshot by id or name.
    pub async fn get_snapshot(&self, org: &Organization, id_or_name: &str) -> Result<SnapshotRow, ServiceError> {
        self.store
            .find_snapshot(&org.id, id_or_name)?
            .ok_or_else(|| ServiceError::NotFound(format!("snapshot {id_or_name:?} not found")))
    }

    // ---- shutdown and restart ----

    /// Stops every running sandbox (on shutdown), leaving them `stopped` with their files.
    pub async fn stop_all(&self) {
        let rows = match self.store.all_live_sandboxes() {
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
        for mut row in self.store.all_live_sandboxes()? {
            let id = runtime_id(&row.id)?;
            // A sandbox the runtime re-adopted runs: that is its state, whatever transition the
            // previous server was in the middle of (except a delete, which goes on).
            let actual = match self.runtime.state(&id) {
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
                    let runtime = Arc::clone(&self.runtime);
                    let result = blocking(move || runtime.delete(&id)).await;
                    self.finish(row, result, SandboxState::Destroyed, "delete").ok();
                    continue;
                }
                // A crash mid-archive or mid-restore was finished or rolled back by the runtime's
                // recovery: its files say which.
                SandboxState::Archiving | SandboxState::Restoring | SandboxState::Archived => {
                    let archived = self.runtime.is_archived(&id);
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
            self.set_state(&mut row, next)?;
        }
        Ok(())
    }

    // ---- internals ----

    async fn run_command(
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
    fn finish(
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

    fn set_state(&self, row: &mut SandboxRow, state: SandboxState) -> Result<(), ServiceError> {
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

    async fn update(
        &self,
        org: &Organization,
        id_or_name: &str,
        change: impl FnOnce(&mut SandboxRow) -> Result<(), ServiceError>,
    ) -> Result<SandboxRow, ServiceError> {
        let row = self.get(org, id_or_name).await?;
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        let mut row = self.store.find_sandbox(&org.id, &row.id)?.ok_or_else(|| not_found(id_or_name))?;
        change(&mut row)?;
        let now = self.now();
        row.updated_at = now.clone();
        row.last_activity_at = now;
        self.store.update_sandbox(&row)?;
        Ok(row)
    }

    fn resolve_volumes(
        &self,
        org: &Organization,
        requested: Vec<sandbar_api::SandboxVolume>,
    ) -> Result<Vec<VolumeMount>, ServiceError> {
        let mut mounts = Vec::new();
        for volume in requested {
            let row = self
                .store
                .find_volume(&org.id, &volume.volume_id)?
                .ok_or_else(|| ServiceError::Invalid(format!("volume {:?} not found", volume.volume_id)))?;
            if !volume.mount_path.starts_with('/')
                || volume.mount_path.split('/').any(|p| p == "..")
                || volume.mount_path == "/"
            {
                return Err(ServiceError::Invalid(format!(
                    "mountPath {:?} must be an absolute path below / without '..'",
                    volume.mount_path
                )));
            }
            if let Some(sub) = &volume.subpath {
                if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                    return Err(ServiceError::Invalid(format!("subpath {sub:?} must be relative and without '..'")));
                }
            }
            mounts.push(VolumeMount { volume_id: row.id, mount_path: volume.mount_path, subpath: volume.subpath });
        }
        Ok(mounts)
    }

    /// The runtime spec of a sandbox row.
    fn spec_of(&self, row: &SandboxRow, snapshot: &SnapshotRow) -> Result<SandboxSpec, ServiceError> {
        let mut spec = SandboxSpec::new(snapshot.image.clone());
        spec.env = row.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        spec.user = Some(row.user.clone());
        spec.limits = limits_of(row.cpu, row.memory, row.disk);
        for mount in &row.volumes {
            let volume_dir = self.config.volumes_dir.join(&mount.volume_id);
            let source = match &mount.subpath {
                None => volume_dir,
                Some(sub) => prepare_subpath(&volume_dir, sub)
                    .map_err(|e| ServiceError::Invalid(format!("cannot prepare volume subpath {sub:?}: {e}")))?,
            };
            spec.mounts.push(BindMount { source, target: PathBuf::from(&mount.mount_path), read_only: false });
        }
        Ok(spec)
    }

    fn lock_of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).entry(id.to_string()).or_default().clone()
    }
}

/// Runs blocking runtime work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, sandbar_runtime::Error> + Send + 'static,
) -> Result<T, sandbar_runtime::Error> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

/// Creates `subpath` inside a volume without ever leaving it (sandboxes write volumes, so any
/// component may be a planted symlink) and returns its path. New directories belong to uid 1000,
/// the default image's user, like the volume root.
fn prepare_subpath(volume_dir: &std::path::Path, subpath: &str) -> Result<PathBuf, String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::PermissionsExt;
    let root = pathrs::Root::open(volume_dir).map_err(|e| e.to_string())?;
    let handle = root.mkdir_all(subpath, &std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsFd::as_fd(&handle).as_raw_fd());
    let _ = std::os::unix::fs::chown(&proc_path, Some(1000), Some(1000));
    // The real path of what was created; init opens it again refusing symlinks, so a component
    // swapped for a link after this check makes the start fail instead of escaping.
    let real = std::fs::read_link(&proc_path).map_err(|e| e.to_string())?;
    if !real.starts_with(volume_dir) {
        return Err(format!("resolves outside the volume, to {}", real.display()));
    }
    Ok(real)
}

/// Runtime limits of `cpu` cores, `memory` GiB and `disk` GiB (the disk limit is enforced when
/// the runtime has a data disk).
fn limits_of(cpu: i64, memory: i64, disk: i64) -> Limits {
    Limits {
        memory_bytes: Some((memory as u64) << 30),
        cpu_millis: Some(cpu as u64 * 1000),
        pids: Some(DEFAULT_PIDS),
        disk_bytes: Some((disk as u64) << 30),
    }
}

fn runtime_id(id: &str) -> Result<SandboxId, ServiceError> {
    SandboxId::new(id).map_err(|e| ServiceError::Invalid(e.to_string()))
}

fn not_found(id_or_name: &str) -> ServiceError {
    ServiceError::NotFound(format!("sandbox {id_or_name:?} not found"))
}

fn bounded(what: &str, value: i64, min: i64, max: i64) -> Result<i64, ServiceError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ServiceError::Invalid(format!("{what} {value} is out of range: it must be between {min} and {max}")))
    }
}

fn validate_name(what: &str, name: &str) -> Result<(), ServiceError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if valid {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "{what} {name:?} must be 1-63 characters of letters, digits, '-', '_' and '.', not starting with '-' or '.'"
        )))
    }
}

fn valid_env_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn matches_query(row: &SandboxRow, q: &ListQuery) -> bool {
    let within = |value: i64, min: Option<i64>, max: Option<i64>| {
        min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m)
    };
    // Prefixes match regardless of case, as the spec says.
    let prefix = |value: &str, p: &str| value.to_lowercase().starts_with(&p.to_lowercase());
    q.id.as_ref().is_none_or(|p| prefix(&row.id, p))
        && q.name.as_ref().is_none_or(|p| prefix(&row.name, p))
        && q.labels.iter().all(|(k, v)| row.labels.get(k) == Some(v))
        && (q.states.is_empty() || q.states.contains(&row.state))
        && (q.snapshots.is_empty() || q.snapshots.contains(&row.snapshot))
        && within(row.cpu, q.min_cpu, q.max_cpu)
        && within(row.memory, q.min_memory, q.max_memory)
        && within(row.disk, q.min_disk, q.max_disk)
        && q.is_public.is_none_or(|p| row.public == p)
        && q.is_recoverable.is_none_or(|r| row.recoverable.unwrap_or(false) == r)
        // Times are the store's fixed-width UTC text, so text order is time order; bounds are
        // inclusive, as Daytona's.
        && q.created_after.as_ref().is_none_or(|t| row.created_at.as_str() >= t.as_str())
        && q.created_before.as_ref().is_none_or(|t| row.created_at.as_str() <= t.as_str())
        && q.activity_after.as_ref().is_none_or(|t| row.last_activity_at.as_str() >= t.as_str())
        && q.activity_before.as_ref().is_none_or(|t| row.last_activity_at.as_str() <= t.as_str())
}

fn sort_rows(rows: &mut [SandboxRow], sort: &str, ascending: bool) -> Result<(), ServiceError> {
    let key: fn(&SandboxRow, &SandboxRow) -> std::cmp::Ordering = match sort {
        "name" => |a, b| a.name.cmp(&b.name),
        "cpu" => |a, b| a.cpu.cmp(&b.cpu),
        "memoryGib" => |a, b| a.memory.cmp(&b.memory),
        "diskGib" => |a, b| a.disk.cmp(&b.disk),
        "lastActivityAt" => |a, b| a.last_activity_at.cmp(&b.last_activity_at),
        "createdAt" => |a, b| a.created_at.cmp(&b.created_at),
        other => {
            return Err(ServiceError::Invalid(format!(
                "sort {other:?} must be one of name, cpu, memoryGib, diskGib, lastActivityAt, createdAt"
            )))
        }
    };
    // Ties break on id so pages never overlap or skip.
    rows.sort_by(|a, b| {
        let order = key(a, b).then_with(|| a.id.cmp(&b.id));
        if ascending {
            order
        } else {
            order.reverse()
        }
    });
    Ok(())
}

fn encode_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Result<usize, ServiceError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ServiceError::Invalid(format!("cursor {cursor:?} is not one this server issued")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(matches!(decode_cursor("garbage!"), Err(ServiceError::Invalid(_))));
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("n", "my-box_1.x").is_ok());
        for bad in ["", "-x", ".x", "a b", "a/b", &"x".repeat(64)] {
            assert!(validate_name("n", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resources_are_bounded() {
        assert_eq!(bounded("cpu", 2, 1, 4).unwrap(), 2);
        let err = bounded("cpu", 0, 1, 4).unwrap_err().to_string();
        assert_eq!(err, "cpu 0 is out of range: it must be between 1 and 4");
    }
}
