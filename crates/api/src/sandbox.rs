//! Sandbox bodies: the full DTO (§3.1), create (§3.2), lists (§3.4) and the small requests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lifecycle states as Daytona names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SandboxState {
    Creating,
    Restoring,
    Destroyed,
    Destroying,
    Started,
    Stopped,
    Starting,
    Stopping,
    Error,
    BuildFailed,
    PendingBuild,
    BuildingSnapshot,
    Unknown,
    PullingSnapshot,
    Archived,
    Archiving,
    Resizing,
    Snapshotting,
    Forking,
    Pausing,
    Paused,
    Resuming,
}

impl SandboxState {
    /// The wire name (`started`).
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxState::Creating => "creating",
            SandboxState::Restoring => "restoring",
            SandboxState::Destroyed => "destroyed",
            SandboxState::Destroying => "destroying",
            SandboxState::Started => "started",
            SandboxState::Stopped => "stopped",
            SandboxState::Starting => "starting",
            SandboxState::Stopping => "stopping",
            SandboxState::Error => "error",
            SandboxState::BuildFailed => "build_failed",
            SandboxState::PendingBuild => "pending_build",
            SandboxState::BuildingSnapshot => "building_snapshot",
            SandboxState::Unknown => "unknown",
            SandboxState::PullingSnapshot => "pulling_snapshot",
            SandboxState::Archived => "archived",
            SandboxState::Archiving => "archiving",
            SandboxState::Resizing => "resizing",
            SandboxState::Snapshotting => "snapshotting",
            SandboxState::Forking => "forking",
            SandboxState::Pausing => "pausing",
            SandboxState::Paused => "paused",
            SandboxState::Resuming => "resuming",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<SandboxState> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }
}

/// A volume mounted into a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxVolume {
    /// The volume's id.
    pub volume_id: String,
    /// Absolute path inside the sandbox.
    pub mount_path: String,
    /// Directory inside the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// Build information of a sandbox made from an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// The Dockerfile.
    pub dockerfile_content: Option<String>,
    /// Hashes of uploaded build contexts.
    pub context_hashes: Option<Vec<String>>,
    /// ISO datetime.
    pub created_at: String,
    /// ISO datetime.
    pub updated_at: String,
    /// The snapshot the build produced.
    pub snapshot_ref: String,
}

/// The full sandbox DTO. Every key is always emitted (G3): optional ones as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Sandbox {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub snapshot: Option<String>,
    pub user: String,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub public: bool,
    pub network_block_all: bool,
    pub network_allow_list: Option<String>,
    pub domain_allow_list: Option<String>,
    pub target: String,
    /// Integers always (G2: SDK 0.226 uses StrictInt).
    pub cpu: i64,
    pub gpu: i64,
    /// GiB.
    pub memory: i64,
    /// GiB.
    pub disk: i64,
    pub gpu_type: Option<String>,
    pub state: SandboxState,
    pub desired_state: String,
    pub error_reason: Option<String>,
    pub recoverable: Option<bool>,
    pub backup_state: Option<String>,
    pub backup_created_at: Option<String>,
    pub auto_stop_interval: Option<i64>,
    pub auto_archive_interval: Option<i64>,
    pub auto_delete_interval: Option<i64>,
    pub auto_pause_interval: Option<i64>,
    pub volumes: Vec<SandboxVolume>,
    pub build_info: Option<BuildInfo>,
    pub created_at: String,
    pub updated_at: String,
    pub last_activity_at: Option<String>,
    pub sandbox_class: Option<String>,
    pub daemon_version: Option<String>,
    pub runner_id: Option<String>,
    /// The owner of a linked sandbox.
    pub linked_sandbox_id: Option<String>,
    /// Absolute, without a trailing slash (G4).
    pub toolbox_proxy_url: String,
    /// Required by SDK 0.226 (G3).
    pub kvm: bool,
}

/// `POST /api/sandbox` body. Unknown keys are ignored; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct CreateSandbox {
    pub name: Option<String>,
    pub snapshot: Option<String>,
    pub user: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub public: Option<bool>,
    pub network_block_all: Option<bool>,
    pub network_allow_list: Option<String>,
    pub domain_allow_list: Option<String>,
    pub target: Option<String>,
    pub cpu: Option<i64>,
    pub gpu: Option<i64>,
    pub memory: Option<i64>,
    pub disk: Option<i64>,
    pub auto_stop_interval: Option<i64>,
    pub auto_archive_interval: Option<i64>,
    pub auto_delete_interval: Option<i64>,
    pub auto_pause_interval: Option<i64>,
    pub volumes: Option<Vec<SandboxVolume>>,
    pub build_info: Option<CreateBuildInfo>,
    /// An owner (id or name) to link to: the new sandbox reaches it, and only it of all
    /// sandboxes. Only for ephemeral sandboxes (`autoDeleteInterval: 0`).
    pub linked_sandbox: Option<String>,
}

/// `buildInfo` of a create from an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateBuildInfo {
    /// The Dockerfile to build.
    pub dockerfile_content: Option<String>,
    /// Hashes of uploaded contexts.
    pub context_hashes: Option<Vec<String>>,
}

/// `GET /api/sandbox`: one page and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxList {
    /// This page.
    pub items: Vec<Sandbox>,
    /// Opaque cursor of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /api/sandbox/paginated` (SDKs before 0.180).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaginatedSandboxes {
    /// This page.
    pub items: Vec<Sandbox>,
    /// Matching sandboxes in all pages.
    pub total: i64,
    /// This page's number, from 1.
    pub page: i64,
    /// Number of pages.
    pub total_pages: i64,
}

/// `PUT /api/sandbox/{id}/labels` body and response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Labels {
    /// All labels; a PUT replaces every label.
    pub labels: BTreeMap<String, String>,
}

/// `POST /api/sandbox/{id}/network-settings` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct NetworkSettings {
    pub network_block_all: Option<bool>,
    pub network_allow_list: Option<String>,
    pub domain_allow_list: Option<String>,
}

/// `POST /api/sandbox/{id}/resize` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct ResizeSandbox {
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    pub disk: Option<i64>,
    pub gpu: Option<i64>,
}

/// `{"url": "..."}` answers (toolbox-proxy-url, build-logs-url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Url {
    /// The URL.
    pub url: String,
}

/// `POST /api/sandbox/{id}/fork` body (Daytona's `ForkSandbox`) → 200 with the new sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ForkSandbox {
    /// The fork's name; generated when absent.
    pub name: Option<String>,
}

/// `POST /api/sandbox/{id}/snapshot` body (Daytona's `CreateSandboxSnapshot`) → 200 with the
/// sandbox. `name` is required (400 without it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateSandboxSnapshot {
    /// The snapshot's name.
    pub name: Option<String>,
    /// VM sandboxes only; containers (all of Sandbar's) have no memory snapshots.
    pub include_memory: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fork_and_snapshot_bodies_take_what_the_sdks_send() {
        assert_eq!(serde_json::from_value::<ForkSandbox>(json!({})).unwrap().name, None);
        assert_eq!(serde_json::from_value::<ForkSandbox>(json!({ "name": "f" })).unwrap().name.as_deref(), Some("f"));
        let snapshot: CreateSandboxSnapshot =
            serde_json::from_value(json!({ "name": "s", "includeMemory": false })).unwrap();
        assert_eq!((snapshot.name.as_deref(), snapshot.include_memory), (Some("s"), Some(false)));
        assert_eq!(serde_json::from_value::<CreateSandboxSnapshot>(json!({})).unwrap().name, None);
    }
}
