//! Records to wire DTOs, in one place. Every optional key is emitted (as `null` when unset):
//! SDK models fail on missing required keys (G3), and a superset is always safe.

use crate::model::{SandboxRow, SnapshotRow, VolumeRow};
use sandbar_api::{Sandbox, SandboxVolume, Snapshot, SnapshotState, Volume, VolumeState};

/// The full sandbox DTO.
pub fn sandbox(row: &SandboxRow, toolbox_url: &str) -> Sandbox {
    Sandbox {
        id: row.id.clone(),
        organization_id: row.organization_id.clone(),
        name: row.name.clone(),
        snapshot: Some(row.snapshot.clone()),
        user: row.user.clone(),
        env: row.env.clone(),
        labels: row.labels.clone(),
        public: row.public,
        network_block_all: row.network_block_all,
        network_allow_list: row.network_allow_list.clone(),
        domain_allow_list: row.domain_allow_list.clone(),
        target: row.target.clone(),
        cpu: row.cpu,
        gpu: row.gpu,
        memory: row.memory,
        disk: row.disk,
        gpu_type: None,
        state: row.state,
        desired_state: row.desired_state.as_str().to_string(),
        error_reason: row.error_reason.clone(),
        recoverable: row.recoverable,
        backup_state: None,
        backup_created_at: None,
        auto_stop_interval: row.auto_stop_interval,
        auto_archive_interval: row.auto_archive_interval,
        auto_delete_interval: row.auto_delete_interval,
        auto_pause_interval: row.auto_pause_interval,
        volumes: row
            .volumes
            .iter()
            .map(|v| SandboxVolume {
                volume_id: v.volume_id.clone(),
                mount_path: v.mount_path.clone(),
                subpath: v.subpath.clone(),
            })
            .collect(),
        build_info: None,
        created_at: row.created_at.clone(),
        updated_at: row.updated_at.clone(),
        last_activity_at: Some(row.last_activity_at.clone()),
        sandbox_class: Some("container".to_string()),
        daemon_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        runner_id: None,
        linked_sandbox_id: row.linked_sandbox_id.clone(),
        toolbox_proxy_url: toolbox_url.trim_end_matches('/').to_string(),
        kvm: false,
    }
}

/// The volume DTO.
pub fn volume(row: &VolumeRow, region: &str) -> Volume {
    Volume {
        id: row.id.clone(),
        name: row.name.clone(),
        organization_id: row.organization_id.clone(),
        state: match row.state.as_str() {
            "ready" => VolumeState::Ready,
            "deleting" => VolumeState::Deleting,
            _ => VolumeState::Error,
        },
        created_at: row.created_at.clone(),
        updated_at: row.updated_at.clone(),
        last_used_at: row.last_used_at.clone(),
        error_reason: None,
        region: region.to_string(),
    }
}

/// The snapshot DTO.
pub fn snapshot(row: &SnapshotRow) -> Snapshot {
    Snapshot {
        id: row.id.clone(),
        organization_id: row.organization_id.clone(),
        general: row.general,
        name: row.name.clone(),
        image_name: Some(row.image.clone()),
        state: match row.state.as_str() {
            "active" => SnapshotState::Active,
            "inactive" => SnapshotState::Inactive,
            "removing" => SnapshotState::Removing,
            _ => SnapshotState::Error,
        },
        size: None,
        entrypoint: None,
        cpu: row.cpu,
        gpu: row.gpu,
        mem: row.mem,
        disk: row.disk,
        error_reason: None,
        created_at: row.created_at.clone(),
        updated_at: row.updated_at.clone(),
        last_used_at: row.last_used_at.clone(),
        source_sandbox_id: row.source_sandbox_id.clone(),
    }
}
