//! All state access goes through the [`Store`] trait: every operation the control plane, auth,
//! Socket.IO and the key commands use, with no backend types in it, so a PostgreSQL backend is a
//! second `impl Store`. [`SqliteStore`] is the one backend today. SQL text lives only in the
//! backends, [`list_sql`] (the list filter, shared by SQL backends) and `migrations/`, written in
//! SQL that PostgreSQL also accepts.

use crate::model::{ApiKey, Organization, OrganizationQuota, SandboxRow, SnapshotRow, UsageRow, VolumeRow};
use async_trait::async_trait;
use sandbar_api::SandboxState;

pub mod list_sql;
mod sqlite;

pub use sqlite::SqliteStore;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused the statement.
    #[error("database {operation}")]
    Sql {
        /// What was being done.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A uniqueness rule was violated (a name in use).
    #[error("{what} already exists")]
    Conflict {
        /// What collided, for the message.
        what: String,
    },
    /// A schema migration failed; the database stays at the version before it.
    #[error("database migration {name} failed")]
    Migration {
        /// The migration's file name, without `.sql`.
        name: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database was written by a newer Sandbar (more migrations than this one knows).
    #[error("the database has schema version {found}, newer than this sandbar knows ({known}); upgrade sandbar")]
    NewerSchema {
        /// Migrations the database records.
        found: usize,
        /// Migrations this build has.
        known: usize,
    },
    /// The database file could not be created or made private.
    #[error("make {} private (mode 0600)", path.display())]
    Permissions {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A stored JSON column could not be read back.
    #[error("stored {column} of {id} is corrupt")]
    Corrupt {
        /// The row.
        id: String,
        /// The column.
        column: &'static str,
    },
}

/// Which sandboxes of one organization a list reads, in which order, and which page of them.
/// Built by `service::query` from a parsed list request (that module defines what a query
/// means); a backend matches, sorts and pages it in its query language. Every bound is
/// inclusive. Label filters are not here: labels are a JSON column, which SQL databases match
/// each in their own dialect, so `service::query` applies them (and any prefix SQL cannot
/// match exactly) to the rows this returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxQuery {
    /// The organization.
    pub organization_id: String,
    /// Include destroyed sandboxes.
    pub include_destroyed: bool,
    /// Id prefix, ASCII, matched regardless of ASCII case.
    pub id_prefix: Option<String>,
    /// Name prefix, ASCII, matched regardless of ASCII case.
    pub name_prefix: Option<String>,
    /// Any of these states (all when empty).
    pub states: Vec<SandboxState>,
    /// Any of these snapshots (all when empty).
    pub snapshots: Vec<String>,
    /// CPU bounds.
    pub cpu: Bounds<i64>,
    /// Memory bounds (GiB).
    pub memory: Bounds<i64>,
    /// Disk bounds (GiB).
    pub disk: Bounds<i64>,
    /// Public flag.
    pub public: Option<bool>,
    /// Recoverable flag (an unset one counts as false).
    pub recoverable: Option<bool>,
    /// Creation time bounds (the store's fixed-width UTC text, so text order is time order).
    pub created_at: Bounds<String>,
    /// Last activity bounds (same form).
    pub last_activity_at: Bounds<String>,
    /// The sort key; ties break on id, in the same direction.
    pub sort: SortField,
    /// Ascending instead of descending.
    pub ascending: bool,
    /// The page; every matching row without one.
    pub page: Option<Window>,
}

/// Inclusive bounds; `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounds<T> {
    /// At least this.
    pub min: Option<T>,
    /// At most this.
    pub max: Option<T>,
}

/// What a sandbox list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// Name, in byte order.
    Name,
    /// CPU count.
    Cpu,
    /// Memory.
    Memory,
    /// Disk.
    Disk,
    /// Last activity.
    LastActivityAt,
    /// Creation time.
    CreatedAt,
}

/// Where a page starts (rows skipped) and how many rows it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows before the page.
    pub offset: usize,
    /// Rows in a full page.
    pub limit: usize,
}

/// The rows of a [`SandboxQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPage {
    /// The page's rows, in the query's order.
    pub rows: Vec<SandboxRow>,
    /// More rows match after this page (always false without a page).
    pub more: bool,
}

/// The state store. Every method is one short transaction of the backend; callers hold the store
/// as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- organizations and keys ----

    /// The organization named `name`, created if missing.
    async fn ensure_organization(&self, name: &str, now: &str) -> Result<Organization, StoreError>;

    /// Stores a key (by hash); [`StoreError::Conflict`] when the hash is stored already.
    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError>;

    /// The organization of a live key with this hash.
    async fn organization_of_key(&self, key_hash: &str) -> Result<Option<Organization>, StoreError>;

    /// Every key, with its organization's name, oldest first.
    async fn list_api_keys(&self) -> Result<Vec<(ApiKey, String)>, StoreError>;

    /// Revokes the one live key with this id or prefix. Returns how many live keys matched:
    /// nothing is revoked unless exactly one did.
    async fn revoke_api_key(&self, id_or_prefix: &str, now: &str) -> Result<usize, StoreError>;

    /// The organization named `name`, if it exists.
    async fn find_organization(&self, name: &str) -> Result<Option<Organization>, StoreError>;

    /// The organization's quotas (all `None` when none were set).
    async fn organization_quota(&self, org: &str) -> Result<OrganizationQuota, StoreError>;

    /// Replaces the organization's quotas.
    async fn set_organization_quota(&self, org: &str, quota: &OrganizationQuota) -> Result<(), StoreError>;

    // ---- sandboxes ----

    /// Inserts a new sandbox; [`StoreError::Conflict`] when its name is taken among the
    /// organization's live sandboxes.
    async fn insert_sandbox(&self, row: &SandboxRow) -> Result<(), StoreError>;

    /// Writes every column of an existing sandbox (same conflict rule as insert).
    async fn update_sandbox(&self, row: &SandboxRow) -> Result<(), StoreError>;

    /// Moves a sandbox's last activity forward to `at` (never back).
    async fn record_activity(&self, id: &str, at: &str) -> Result<(), StoreError>;

    /// A live (not destroyed) sandbox of `org` by id or name; an id wins over a name.
    async fn find_sandbox(&self, org: &str, id_or_name: &str) -> Result<Option<SandboxRow>, StoreError>;

    /// A live sandbox of any organization by id (for the reaper).
    async fn find_live_sandbox(&self, id: &str) -> Result<Option<SandboxRow>, StoreError>;

    /// The nonce a live sandbox of `org`'s signing key is derived from (with the master key),
    /// created on first use. `rotate` replaces it.
    async fn signing_nonce(&self, org: &str, id: &str, rotate: bool) -> Result<Option<String>, StoreError>;

    /// The organization and signing nonce of a live sandbox, by id alone (a signed URL carries
    /// no API key); `None` when there is no such sandbox or it never handed out a key.
    async fn signing_nonce_by_id(&self, id: &str) -> Result<Option<(Organization, String)>, StoreError>;

    /// Every sandbox of `org` (including destroyed ones when asked), newest first.
    async fn list_sandboxes(&self, org: &str, include_destroyed: bool) -> Result<Vec<SandboxRow>, StoreError>;

    /// The sandboxes `query` selects, sorted and paged by the database.
    async fn query_sandboxes(&self, query: &SandboxQuery) -> Result<SandboxPage, StoreError>;

    /// The live sandboxes linked to `owner_id` (its followers), by id.
    async fn live_followers(&self, owner_id: &str) -> Result<Vec<SandboxRow>, StoreError>;

    /// Every live sandbox of every organization, by id (for the reaper and restart
    /// reconciliation).
    async fn all_live_sandboxes(&self) -> Result<Vec<SandboxRow>, StoreError>;

    /// What every live sandbox holds (of `org` only, when given), for quota and capacity sums.
    async fn usage_rows(&self, org: Option<&str>) -> Result<Vec<UsageRow>, StoreError>;

    // ---- volumes ----

    /// Inserts a volume; [`StoreError::Conflict`] when the name is taken.
    async fn insert_volume(&self, volume: &VolumeRow) -> Result<(), StoreError>;

    /// A volume of `org` by id or name.
    async fn find_volume(&self, org: &str, id_or_name: &str) -> Result<Option<VolumeRow>, StoreError>;

    /// Every volume of `org`, oldest first.
    async fn list_volumes(&self, org: &str) -> Result<Vec<VolumeRow>, StoreError>;

    /// Removes a volume row.
    async fn delete_volume(&self, id: &str) -> Result<(), StoreError>;

    // ---- snapshots ----

    /// Inserts a snapshot unless one with its name exists for its organization (or among the
    /// general ones); returns the stored row either way.
    async fn ensure_snapshot(&self, snapshot: &SnapshotRow) -> Result<SnapshotRow, StoreError>;

    /// Removes a snapshot row.
    async fn delete_snapshot(&self, id: &str) -> Result<(), StoreError>;

    /// Snapshots visible to `org` (the general ones first, then its own, oldest first).
    async fn list_snapshots(&self, org: &str) -> Result<Vec<SnapshotRow>, StoreError>;

    /// A snapshot visible to `org` by id or name; its own wins over a general one.
    async fn find_snapshot(&self, org: &str, id_or_name: &str) -> Result<Option<SnapshotRow>, StoreError>;
}

#[cfg(test)]
mod conformance;
