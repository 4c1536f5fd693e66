//! A sandbox's settings that change no state: labels, intervals, the public flag, network
//! settings, and the activity time.

use super::{admission, network, not_found, runtime_id, ControlPlane, Interval, ServiceError};
use crate::model::{Organization, SandboxRow};
use sandbar_api::NetworkSettings;
use std::collections::BTreeMap;

impl ControlPlane {
    /// Replaces every label.
    pub async fn set_labels(
        &self,
        org: &Organization,
        id_or_name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<SandboxRow, ServiceError> {
        admission::check_labels(&labels)?;
        self.update(org, id_or_name, |row| {
            row.labels = labels;
            Ok(())
        })
        .await
    }

    /// Sets an interval (minutes).
    pub async fn set_interval(
        &self,
        org: &Organization,
        id_or_name: &str,
        interval: Interval,
        minutes: i64,
    ) -> Result<SandboxRow, ServiceError> {
        admission::check_interval(interval, minutes)?;
        self.update(org, id_or_name, |row| {
            match interval {
                Interval::AutoStop => row.auto_stop_interval = Some(minutes),
                Interval::AutoArchive => row.auto_archive_interval = Some(minutes),
                Interval::AutoDelete => row.auto_delete_interval = Some(minutes),
                Interval::AutoPause => row.auto_pause_interval = Some(minutes),
            }
            Ok(())
        })
        .await
    }

    /// Sets the public flag.
    pub async fn set_public(
        &self,
        org: &Organization,
        id_or_name: &str,
        public: bool,
    ) -> Result<SandboxRow, ServiceError> {
        self.update(org, id_or_name, |row| {
            row.public = public;
            Ok(())
        })
        .await
    }

    /// Changes network settings with Daytona's semantics ([`network::apply_settings`]). The
    /// runtime takes the new policy first (at once, on a running sandbox), then the row is
    /// stored: a sandbox whose runtime refused keeps its old settings everywhere.
    pub async fn set_network(
        &self,
        org: &Organization,
        id_or_name: &str,
        settings: NetworkSettings,
    ) -> Result<SandboxRow, ServiceError> {
        let change = |row: &mut SandboxRow| network::apply_settings(row, &settings);
        self.update_then(org, id_or_name, change, async |row: &SandboxRow| {
            // A sandbox whose files are gone (destroyed) or not made (a failed create) has no
            // record to change; its next create, if any, is made from the row.
            match self.node.update_network(&runtime_id(&row.id)?, &network::policy_of(row)).await {
                Ok(()) | Err(sandbar_runtime::Error::NotFound { .. }) => Ok(()),
                Err(source) => Err(ServiceError::RuntimeRefused {
                    context: format!("cannot change the network settings of sandbox {}", row.id),
                    source,
                }),
            }
        })
        .await
    }

    /// Records activity (API, toolbox, SSH or preview traffic) for auto-stop.
    pub async fn touch(&self, org: &Organization, id_or_name: &str) -> Result<SandboxRow, ServiceError> {
        self.update(org, id_or_name, |_| Ok(())).await
    }

    pub(super) async fn update(
        &self,
        org: &Organization,
        id_or_name: &str,
        change: impl FnOnce(&mut SandboxRow) -> Result<(), ServiceError>,
    ) -> Result<SandboxRow, ServiceError> {
        self.update_then(org, id_or_name, change, async |_: &SandboxRow| Ok(())).await
    }

    /// [`update`](Self::update) with `apply` run on the changed row, under the sandbox's lock,
    /// before it is stored (a node call the store must not get ahead of).
    async fn update_then(
        &self,
        org: &Organization,
        id_or_name: &str,
        change: impl FnOnce(&mut SandboxRow) -> Result<(), ServiceError>,
        apply: impl AsyncFnOnce(&SandboxRow) -> Result<(), ServiceError>,
    ) -> Result<SandboxRow, ServiceError> {
        let row = self.get(org, id_or_name).await?;
        let lock = self.lock_of(&row.id);
        let _guard = lock.lock().await;
        let mut row = self.store.find_sandbox(&org.id, &row.id).await?.ok_or_else(|| not_found(id_or_name))?;
        change(&mut row)?;
        apply(&row).await?;
        let now = self.now();
        row.updated_at = now.clone();
        row.last_activity_at = now;
        self.store.update_sandbox(&row).await?;
        Ok(row)
    }
}
