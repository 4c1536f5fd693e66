//! Snapshots: the names of images sandboxes are created from (the default one, and those made
//! from sandboxes).

use super::{blocking, ControlPlane, ServiceError};
use crate::model::{Organization, SnapshotRow};
use std::sync::Arc;

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
}
