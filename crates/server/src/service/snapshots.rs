//! Snapshots: the names of images sandboxes are created from (the default one, and those made
//! from sandboxes).

use super::{ControlPlane, Resource, ServiceError};
use crate::model::{Organization, SnapshotRow};

impl ControlPlane {
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
            .list_sandboxes(&org.id, false)
            .await?
            .into_iter()
            .filter(|row| row.snapshot == snapshot.name)
            .map(|row| row.name)
            .collect();
        if !users.is_empty() {
            return Err(ServiceError::InUse { what: Resource::Snapshot, name: snapshot.name, users });
        }
        self.node.delete_image(&snapshot.image).await.map_err(|source| {
            let context = format!("failed to delete snapshot {}", snapshot.name);
            match source {
                // The runtime refuses an image a sandbox it holds was made from (one this
                // organization's list does not show, e.g. a destroyed one not yet removed): 409
                // with the runtime's reason.
                sandbar_runtime::Error::InUse { .. } => ServiceError::RuntimeRefused { context, source },
                source => ServiceError::Runtime { context, source },
            }
        })?;
        self.store.delete_snapshot(&snapshot.id).await?;
        Ok(())
    }

    /// Snapshots visible to `org`.
    pub async fn list_snapshots(&self, org: &Organization) -> Result<Vec<SnapshotRow>, ServiceError> {
        Ok(self.store.list_snapshots(&org.id).await?)
    }

    /// A snapshot by id or name.
    pub async fn get_snapshot(&self, org: &Organization, id_or_name: &str) -> Result<SnapshotRow, ServiceError> {
        self.store
            .find_snapshot(&org.id, id_or_name)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: Resource::Snapshot, id: id_or_name.to_string() })
    }
}
