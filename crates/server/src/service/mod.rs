//! The control plane's operations: what each API call does to the store and the runtime.
//!
//! Handlers call exactly one method here. Requests on one sandbox are serialized by a
//! per-sandbox async lock; every transition goes through `lifecycle::plan`, shows its
//! intermediate state in the store while the runtime works, and ends in the planned state or in
//! `error` with an `errorReason` (never stuck in a transitional state).
//!
//! Layout, parse → plan → act: `admission` and `query` are pure (a request and the rows it
//! names in, a validated row or an exact error out); `lifecycle::plan` decides the transition;
//! the other files act, one `impl ControlPlane` each: `commands` (create and the lifecycle
//! commands), `stateful` (fork, snapshot, resize), `settings`, `volumes`, `snapshots`,
//! `restart` (shutdown and reconcile) and `exits` (an init that died on its own). This file
//! holds the type, its errors and the reads.

mod activity;
mod admission;
mod commands;
mod exits;
pub(crate) mod listing;
mod network;
pub(crate) mod query;
mod quota;
mod restart;
mod settings;
mod snapshots;
mod stateful;
mod volumes;

pub use activity::ToolboxSandbox;
pub use query::ListQuery;
pub use quota::{usage_of, Overcommit, Totals};

use crate::clock::{iso, Clock};
use crate::model::{Organization, SandboxRow, SnapshotRow};
use crate::node::Node;
use crate::store::{Store, StoreError};
use sandbar_runtime::SandboxId;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Name of the snapshot backed by the runtime's default image.
pub const DEFAULT_SNAPSHOT: &str = "default";

/// What kind of record an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    #[allow(missing_docs)]
    Sandbox,
    #[allow(missing_docs)]
    Volume,
    #[allow(missing_docs)]
    Snapshot,
}

impl Resource {
    /// The word in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Sandbox => "sandbox",
            Resource::Volume => "volume",
            Resource::Snapshot => "snapshot",
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operation failed, by kind; `http::error` maps each kind to one status (given on each
/// variant). The messages are what clients see.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 404: no such thing in the caller's organization.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// What was looked for.
        what: Resource,
        /// The id or name asked for.
        id: String,
    },
    /// 400: the request is malformed or asks for something impossible.
    #[error("{0}")]
    Invalid(String),
    /// 409: the sandbox's state does not allow the command.
    #[error(transparent)]
    Refused(#[from] crate::lifecycle::Refused),
    /// 409: a record of that name exists already.
    #[error("{what} already exists")]
    Exists {
        /// The record, e.g. `a snapshot named "x"`.
        what: String,
    },
    /// 409: sandboxes still use the volume or snapshot.
    #[error("{}", in_use(*.what, .name, .users))]
    InUse {
        /// A volume or a snapshot.
        what: Resource,
        /// Its name.
        name: String,
        /// The names of the sandboxes that use it.
        users: Vec<String>,
    },
    /// 409: another conflict, said in its message.
    #[error("{0}")]
    Conflict(String),
    /// 409: the runtime refused the change and nothing changed (the kernel refuses a memory limit
    /// below what the sandbox uses; an image still used by a sandbox). The message carries the
    /// runtime's reason.
    #[error("{context}")]
    RuntimeRefused {
        /// What the control plane was doing.
        context: String,
        /// The runtime's refusal.
        #[source]
        source: sandbar_runtime::Error,
    },
    /// The runtime failed: 400, 409 or 500 by the runtime's error (see `http::error`).
    #[error("{context}")]
    Runtime {
        /// What the control plane was doing.
        context: String,
        /// The runtime's error.
        #[source]
        source: sandbar_runtime::Error,
    },
    /// 500: the control plane's own host storage failed (volume directories).
    #[error("{step}")]
    Storage {
        /// What was being done, with the path.
        step: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// 503: the node has no room for the sandbox now (its capacity, over-committed as
    /// configured, is taken); the message says what is taken and how to make room.
    #[error("{0}")]
    Capacity(String),
    /// 500: the store failed.
    #[error("state store failed")]
    Store(#[source] StoreError),
}

fn in_use(what: Resource, name: &str, users: &[String]) -> String {
    let users = users.join(", ");
    match what {
        Resource::Volume => format!("volume {name:?} is mounted by sandbox(es) {users}; delete them first"),
        Resource::Sandbox | Resource::Snapshot => format!("{what} {name:?} is used by sandbox(es) {users}"),
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> ServiceError {
        match error {
            StoreError::Conflict { what } => ServiceError::Exists { what },
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
    /// How far sandbox limits may add up past the node's capacity.
    pub overcommit: Overcommit,
    /// What sandbox signing keys are derived from.
    pub signing_master: crate::signing::MasterKey,
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
    store: Arc<dyn Store>,
    events: crate::events::Events,
    node: Arc<dyn Node>,
    config: PlaneConfig,
    clock: Arc<dyn Clock>,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    activity: activity::Activity,
    /// Held from an admission check until the admitted sandbox's new state is stored, so two
    /// requests never both take the last room.
    admission: tokio::sync::Mutex<()>,
}

impl ControlPlane {
    /// A control plane over `store` and the sandboxes of `node`; registers the default snapshot.
    pub async fn new(
        store: Arc<dyn Store>,
        node: Arc<dyn Node>,
        config: PlaneConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<ControlPlane, ServiceError> {
        let now = iso(clock.now());
        store
            .ensure_snapshot(&SnapshotRow {
                id: uuid::Uuid::new_v4().to_string(),
                organization_id: None,
                name: DEFAULT_SNAPSHOT.to_string(),
                image: sandbar_runtime::DEFAULT_IMAGE.to_string(),
                source_sandbox_id: None,
                state: "active".to_string(),
                general: true,
                cpu: admission::DEFAULT_CPU,
                gpu: 0,
                mem: admission::DEFAULT_MEMORY_GIB,
                disk: admission::DEFAULT_DISK_GIB,
                created_at: now.clone(),
                updated_at: now,
                last_used_at: None,
            })
            .await?;
        Ok(ControlPlane {
            store,
            events: crate::events::Events::default(),
            node,
            config,
            clock,
            locks: std::sync::Mutex::new(HashMap::new()),
            activity: activity::Activity::default(),
            admission: tokio::sync::Mutex::new(()),
        })
    }

    /// Sandbox events, for the push gateway.
    pub fn events(&self) -> &crate::events::Events {
        &self.events
    }

    /// The store (for auth and the key commands).
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The node the sandboxes run on.
    pub fn node(&self) -> &dyn Node {
        self.node.as_ref()
    }

    /// A shared handle on the store (for the push gateway).
    pub fn shared_store(&self) -> Arc<dyn Store> {
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

    /// The sandbox `id_or_name` of `org`.
    pub async fn get(&self, org: &Organization, id_or_name: &str) -> Result<SandboxRow, ServiceError> {
        let mut row = self.store.find_sandbox(&org.id, id_or_name).await?.ok_or_else(|| not_found(id_or_name))?;
        self.activity.overlay(&mut row);
        Ok(row)
    }

    /// The key a sandbox's signed file URLs are signed with; `rotate` replaces it, which
    /// invalidates every URL signed before.
    pub async fn signing_key(&self, org: &Organization, id: &str, rotate: bool) -> Result<String, ServiceError> {
        let row = self.get(org, id).await?;
        let nonce = self.store.signing_nonce(&org.id, &row.id, rotate).await?.ok_or_else(|| not_found(id))?;
        Ok(self.config.signing_master.derive(&row.id, &nonce))
    }

    /// The organization and signing key of a live sandbox by id alone (for signed URLs, which
    /// carry no API key); `None` when it never handed out a key.
    pub async fn signing_key_by_id(&self, id: &str) -> Result<Option<(Organization, String)>, ServiceError> {
        let found = self.store.signing_nonce_by_id(id).await?;
        Ok(found.map(|(org, nonce)| (org, self.config.signing_master.derive(id, &nonce))))
    }

    /// One page of `org`'s sandboxes, and the cursor of the next page.
    pub async fn list(
        &self,
        org: &Organization,
        query: &ListQuery,
    ) -> Result<(Vec<SandboxRow>, Option<String>), ServiceError> {
        // Lists filter and sort in the store: recorded activity goes there first.
        self.flush_activity().await;
        listing::list_page(self.store.as_ref(), &org.id, query).await
    }

    /// All of `org`'s sandboxes matching `query`, unpaged (for the page-numbered list).
    pub async fn list_all(&self, org: &Organization, query: &ListQuery) -> Result<Vec<SandboxRow>, ServiceError> {
        // Lists filter and sort in the store: recorded activity goes there first.
        self.flush_activity().await;
        listing::list_all(self.store.as_ref(), &org.id, query).await
    }

    /// Checks `demand` against the organization's quotas and the node's capacity, and returns
    /// the admission guard: hold it until the sandbox's new state is stored. `exclude` is the
    /// sandbox the demand replaces (it is not counted twice).
    async fn admit(
        &self,
        organization_id: &str,
        exclude: Option<&str>,
        demand: quota::Demand,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, ServiceError> {
        let guard = self.admission.lock().await;
        let quota = self.store.organization_quota(organization_id).await?;
        let rows = self.store.usage_rows(None).await?;
        let room = quota::Room {
            organization_id,
            target: &self.config.target,
            quota: &quota,
            capacity: self.node.capacity(),
            overcommit: self.config.overcommit,
            rows: &rows,
            exclude,
        };
        quota::admit(&room, &demand)?;
        Ok(guard)
    }

    fn lock_of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        sandbar_runtime::lock(&self.locks).entry(id.to_string()).or_default().clone()
    }
}

fn runtime_id(id: &str) -> Result<SandboxId, ServiceError> {
    SandboxId::new(id).map_err(|e| ServiceError::Invalid(e.to_string()))
}

fn not_found(id_or_name: &str) -> ServiceError {
    ServiceError::NotFound { what: Resource::Sandbox, id: id_or_name.to_string() }
}
