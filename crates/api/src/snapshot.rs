//! Snapshot bodies (§3.10). Note `mem`, not `memory`.

use serde::{Deserialize, Serialize};

/// Snapshot states as Daytona names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SnapshotState {
    Building,
    Pending,
    Pulling,
    Snapshotting,
    Active,
    Inactive,
    Error,
    BuildFailed,
    Removing,
}

/// SnapshotDto.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Snapshot {
    pub id: String,
    pub organization_id: Option<String>,
    /// True for snapshots every organization sees (the default image).
    pub general: bool,
    pub name: String,
    pub image_name: Option<String>,
    pub state: SnapshotState,
    pub size: Option<f64>,
    pub entrypoint: Option<Vec<String>>,
    pub cpu: i64,
    pub gpu: i64,
    pub mem: i64,
    pub disk: i64,
    pub error_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
    pub source_sandbox_id: Option<String>,
}

/// `POST /api/snapshots` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct CreateSnapshot {
    pub name: Option<String>,
    pub image_name: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub build_info: Option<crate::CreateBuildInfo>,
    pub cpu: Option<i64>,
    pub gpu: Option<i64>,
    pub memory: Option<i64>,
    pub disk: Option<i64>,
}

/// `GET /api/snapshots`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PaginatedSnapshots {
    pub items: Vec<Snapshot>,
    pub total: i64,
    pub page: i64,
    pub total_pages: i64,
}
