//! Volume bodies (§3.11).

use serde::{Deserialize, Serialize};

/// Volume states as Daytona names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum VolumeState {
    Creating,
    Ready,
    PendingCreate,
    PendingDelete,
    Deleting,
    Deleted,
    Error,
}

/// VolumeDto; `region` is required by SDK 0.226.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub organization_id: String,
    pub state: VolumeState,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
    pub error_reason: Option<String>,
    pub region: String,
}

/// `POST /api/volumes` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CreateVolume {
    /// The volume's name, unique in its organization.
    pub name: Option<String>,
}
