//! Activity without writes on the hot path: toolbox traffic records "last active at" in memory,
//! and the reaper's tick writes what was recorded to the store before it decides anything. Reads
//! of a sandbox show the newer of the stored and the recorded time, so nobody sees a stale one.
//!
//! A toolbox request therefore costs one read of its sandbox's row, takes no per-sandbox lock
//! (a download never waits behind a snapshot copy) and writes nothing. A crash loses at most
//! one reaper period of activity, which only makes auto-stop come that much sooner.

use super::{not_found, ControlPlane, ServiceError};
use crate::model::{Organization, SandboxRow};
use sandbar_api::SandboxState;
use std::collections::HashMap;
use std::sync::Mutex;

/// Activity recorded since the last flush, by sandbox id (ISO datetimes, which order as text).
#[derive(Default)]
pub(super) struct Activity {
    pending: Mutex<HashMap<String, String>>,
}

impl Activity {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        sandbar_runtime::lock(&self.pending)
    }

    fn record(&self, id: &str, at: String) {
        let mut pending = self.pending();
        match pending.get_mut(id) {
            Some(known) if *known >= at => {}
            Some(known) => *known = at,
            None => {
                pending.insert(id.to_string(), at);
            }
        }
    }

    /// Shows recorded activity newer than the stored one in `row`.
    pub(super) fn overlay(&self, row: &mut SandboxRow) {
        if let Some(at) = self.pending().get(&row.id) {
            if *at > row.last_activity_at {
                row.last_activity_at = at.clone();
            }
        }
    }

    fn take(&self) -> HashMap<String, String> {
        std::mem::take(&mut *self.pending())
    }
}

/// What the toolbox needs of a sandbox it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolboxSandbox {
    /// The sandbox id.
    pub id: String,
    /// Its default OS user.
    pub user: String,
    /// That user's home, the default working directory.
    pub home: String,
    /// The language of `process/code-run` (label `code-toolbox-language`).
    pub language: Option<String>,
}

impl ControlPlane {
    /// The started sandbox `id_or_name` of `org` for a toolbox request, with the activity
    /// recorded (it postpones auto-stop). Reads one row; writes nothing and takes no lock.
    pub async fn toolbox_sandbox(&self, org: &Organization, id_or_name: &str) -> Result<ToolboxSandbox, ServiceError> {
        let row = self.store.find_sandbox(&org.id, id_or_name).await?.ok_or_else(|| not_found(id_or_name))?;
        if row.state != SandboxState::Started {
            return Err(ServiceError::Conflict(format!(
                "sandbox {} is {}; start it before using the toolbox",
                row.id,
                row.state.as_str()
            )));
        }
        self.activity.record(&row.id, self.now());
        let home = if row.user == "root" { "/root".to_string() } else { format!("/home/{}", row.user) };
        Ok(ToolboxSandbox {
            language: row.labels.get("code-toolbox-language").cloned(),
            id: row.id,
            user: row.user,
            home,
        })
    }

    /// Writes the activity recorded since the last call to the store (the reaper calls this
    /// before each pass, lists before they query). A write that fails is recorded again for the
    /// next call.
    pub async fn flush_activity(&self) {
        for (id, at) in self.activity.take() {
            if let Err(error) = self.store.record_activity(&id, &at).await {
                tracing::warn!(sandbox_id = %id, %error, "could not store activity; kept for the next pass");
                self.activity.record(&id, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_activity_wins_and_take_empties() {
        let activity = Activity::default();
        activity.record("a", "2026-12-07T10:00:00.000Z".into());
        activity.record("a", "2026-12-07T09:00:00.000Z".into());
        activity.record("b", "2026-12-07T08:00:00.000Z".into());
        let taken = activity.take();
        assert_eq!(taken["a"], "2026-12-07T10:00:00.000Z");
        assert_eq!(taken["b"], "2026-12-07T08:00:00.000Z");
        assert!(activity.take().is_empty());
    }
}
