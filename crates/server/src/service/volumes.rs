//! Volumes: their records and host directories, and how a sandbox's mounts become bind mounts
//! of its runtime spec.

use super::admission::{limits_of, validate_name};
use super::{ControlPlane, Resource, ServiceError};
use crate::model::{Organization, SandboxRow, SnapshotRow, VolumeRow};
use sandbar_runtime::{BindMount, SandboxSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;

impl ControlPlane {
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
        std::fs::create_dir_all(&dir).and_then(|()| std::os::unix::fs::chown(&dir, Some(1000), Some(1000))).map_err(
            |source| ServiceError::Storage { step: format!("cannot create volume storage {}", dir.display()), source },
        )?;
        if let Err(e) = self.store.insert_volume(&volume).await {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok(volume)
    }

    /// A volume by id or name.
    pub async fn get_volume(&self, org: &Organization, id_or_name: &str) -> Result<VolumeRow, ServiceError> {
        self.store
            .find_volume(&org.id, id_or_name)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: Resource::Volume, id: id_or_name.to_string() })
    }

    /// Every volume of `org`.
    pub async fn list_volumes(&self, org: &Organization) -> Result<Vec<VolumeRow>, ServiceError> {
        Ok(self.store.list_volumes(&org.id).await?)
    }

    /// Deletes a volume and its data; refused (409) while a sandbox mounts it.
    pub async fn delete_volume(&self, org: &Organization, id_or_name: &str) -> Result<(), ServiceError> {
        let volume = self.get_volume(org, id_or_name).await?;
        let users: Vec<String> = self
            .store
            .list_sandboxes(&org.id, false)
            .await?
            .into_iter()
            .filter(|row| row.volumes.iter().any(|v| v.volume_id == volume.id))
            .map(|row| row.name)
            .collect();
        if !users.is_empty() {
            return Err(ServiceError::InUse { what: Resource::Volume, name: volume.name, users });
        }
        self.store.delete_volume(&volume.id).await?;
        let dir = self.config.volumes_dir.join(&volume.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(volume = %volume.id, error = %e, "volume data left behind");
            }
        }
        Ok(())
    }

    /// The volumes of `org` that `requested` names, by the id or name it names them with; those
    /// not found are left out (admission refuses them).
    pub(super) async fn find_volumes<'a>(
        &self,
        org: &Organization,
        requested: impl IntoIterator<Item = &'a sandbar_api::SandboxVolume>,
    ) -> Result<BTreeMap<String, VolumeRow>, ServiceError> {
        let mut found = BTreeMap::new();
        for volume in requested {
            if let Some(row) = self.store.find_volume(&org.id, &volume.volume_id).await? {
                found.insert(volume.volume_id.clone(), row);
            }
        }
        Ok(found)
    }

    /// The runtime spec of a sandbox row.
    pub(super) async fn spec_of(&self, row: &SandboxRow, snapshot: &SnapshotRow) -> Result<SandboxSpec, ServiceError> {
        let mut spec = SandboxSpec::new(snapshot.image.clone());
        spec.env = row.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        spec.user = Some(row.user.clone());
        spec.limits = limits_of(row.cpu, row.memory, row.disk);
        // Online by default, as on Daytona; a server run with `--network none` starts it with
        // loopback only.
        spec.network = sandbar_runtime::NetworkMode::Outbound;
        spec.egress = super::network::policy_of(row);
        spec.link = self.link_of(row).await?;
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
