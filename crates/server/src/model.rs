//! The control plane's own records, as the store keeps them. Wire DTOs are made from these in
//! `dto.rs`; nothing here is sent as is.

use sandbar_api::SandboxState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An organization: the unit of visibility. Nothing of one is visible to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// UUID.
    pub id: String,
    /// Unique name (`default` for the admin's).
    pub name: String,
}

/// An organization's quotas; `None` is no limit. Cpu in cores, memory and disk in GiB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationQuota {
    /// Sandboxes that are not destroyed, whatever their state.
    pub max_sandboxes: Option<i64>,
    /// Cores of the sandboxes that run, together.
    pub total_cpu: Option<i64>,
    /// Memory of the sandboxes that run, together.
    pub total_memory: Option<i64>,
    /// Disk of the sandboxes that are not archived, together.
    pub total_disk: Option<i64>,
    /// Cores of one sandbox.
    pub max_cpu_per_sandbox: Option<i64>,
    /// Memory of one sandbox.
    pub max_memory_per_sandbox: Option<i64>,
    /// Disk of one sandbox.
    pub max_disk_per_sandbox: Option<i64>,
}

/// What one live sandbox holds, for quota and capacity sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// Sandbox id.
    pub id: String,
    /// Its organization.
    pub organization_id: String,
    /// The node (region) it runs on.
    pub target: String,
    /// Its state.
    pub state: SandboxState,
    /// Cores.
    pub cpu: i64,
    /// GiB.
    pub memory: i64,
    /// GiB.
    pub disk: i64,
}

/// An API key's metadata (the key itself is stored only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// UUID.
    pub id: String,
    /// Owner.
    pub organization_id: String,
    /// Human label.
    pub name: String,
    /// First characters of the key, to recognise it in lists.
    pub prefix: String,
    /// ISO datetime.
    pub created_at: String,
    /// ISO datetime, when revoked.
    pub revoked_at: Option<String>,
}

/// A volume mounted into a sandbox (stored as JSON in the sandbox row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// Volume id.
    pub volume_id: String,
    /// Absolute path in the sandbox.
    pub mount_path: String,
    /// Directory inside the volume.
    pub subpath: Option<String>,
}

/// A sandbox as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct SandboxRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub snapshot: String,
    pub user: String,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub public: bool,
    pub network_block_all: bool,
    pub network_allow_list: Option<String>,
    pub domain_allow_list: Option<String>,
    /// The owner of a linked sandbox (Daytona's `linkedSandboxId`).
    pub linked_sandbox_id: Option<String>,
    pub target: String,
    pub cpu: i64,
    pub gpu: i64,
    pub memory: i64,
    pub disk: i64,
    pub state: SandboxState,
    pub desired_state: SandboxState,
    pub error_reason: Option<String>,
    pub recoverable: Option<bool>,
    pub auto_stop_interval: Option<i64>,
    pub auto_archive_interval: Option<i64>,
    pub auto_delete_interval: Option<i64>,
    pub auto_pause_interval: Option<i64>,
    pub volumes: Vec<VolumeMount>,
    pub created_at: String,
    pub updated_at: String,
    pub last_activity_at: String,
    /// When `state` last changed (auto-archive and auto-delete count from here).
    pub state_changed_at: String,
}

/// A volume as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct VolumeRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
}

/// A snapshot as stored: a name for a runtime image.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct SnapshotRow {
    pub id: String,
    /// `None` for general snapshots (visible to every organization).
    pub organization_id: Option<String>,
    pub name: String,
    /// The runtime image it starts sandboxes from.
    pub image: String,
    /// The sandbox a snapshot of a sandbox was made from.
    pub source_sandbox_id: Option<String>,
    pub state: String,
    pub general: bool,
    pub cpu: i64,
    pub gpu: i64,
    pub mem: i64,
    pub disk: i64,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
}

/// A started sandbox with Daytona's defaults, for tests that build rows by hand (the list
/// queries' and the store conformance suite's); tests change what they need with `..`.
#[cfg(test)]
pub(crate) fn test_sandbox(org: &str, id: &str, name: &str, at: &str) -> SandboxRow {
    SandboxRow {
        id: id.into(),
        organization_id: org.into(),
        name: name.into(),
        snapshot: "default".into(),
        user: "daytona".into(),
        env: BTreeMap::new(),
        labels: BTreeMap::new(),
        public: false,
        network_block_all: false,
        network_allow_list: None,
        domain_allow_list: None,
        linked_sandbox_id: None,
        target: "local".into(),
        cpu: 1,
        gpu: 0,
        memory: 1,
        disk: 3,
        state: SandboxState::Started,
        desired_state: SandboxState::Started,
        error_reason: None,
        recoverable: None,
        auto_stop_interval: Some(15),
        auto_archive_interval: Some(10080),
        auto_delete_interval: None,
        auto_pause_interval: None,
        volumes: Vec::new(),
        created_at: at.into(),
        updated_at: at.into(),
        last_activity_at: at.into(),
        state_changed_at: at.into(),
    }
}
