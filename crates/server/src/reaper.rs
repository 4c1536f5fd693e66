//! Enforces the auto-stop, auto-archive and auto-delete intervals. Time comes from the control
//! plane's [`Clock`](crate::clock::Clock), so tests move it forward instead of sleeping.

use crate::clock::parse_iso;
use crate::lifecycle::Command;
use crate::model::SandboxRow;
use crate::service::ControlPlane;
use sandbar_api::SandboxState;
use std::time::Duration;

/// What one pass decided for a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Idle longer than its auto-stop interval.
    Stop,
    /// Stopped longer than its auto-archive interval.
    Archive,
    /// Stopped (or archived) longer than its auto-delete interval.
    Delete,
}

/// An auto-archive interval of 0 means the longest one, as in Daytona: 30 days.
const LONGEST_AUTO_ARCHIVE_MINUTES: i64 = 30 * 24 * 60;

/// The decision for one sandbox at `now` (pure).
pub fn decide(row: &SandboxRow, now: time::OffsetDateTime) -> Option<Decision> {
    let minutes_since = |at: &str| parse_iso(at).map(|t| (now - t).whole_minutes());
    match row.state {
        SandboxState::Started => {
            let limit = row.auto_stop_interval.filter(|n| *n > 0)?;
            (minutes_since(&row.last_activity_at)? >= limit).then_some(Decision::Stop)
        }
        SandboxState::Stopped | SandboxState::Error | SandboxState::Archived => {
            let stopped_for = minutes_since(&row.state_changed_at)?;
            let delete = row.auto_delete_interval.filter(|n| *n >= 0).is_some_and(|limit| stopped_for >= limit);
            let archive_after = match row.auto_archive_interval {
                Some(0) => Some(LONGEST_AUTO_ARCHIVE_MINUTES),
                other => other.filter(|n| *n > 0),
            };
            let archive = row.state == SandboxState::Stopped && archive_after.is_some_and(|limit| stopped_for >= limit);
            if delete {
                Some(Decision::Delete)
            } else if archive {
                Some(Decision::Archive)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// One pass over every live sandbox; returns what it did.
pub async fn reap_once(plane: &ControlPlane) -> Vec<(String, Decision)> {
    // Toolbox activity is recorded in memory; the decisions below read the store.
    plane.flush_activity().await;
    let now = plane.clock_now();
    let rows = match plane.store().all_live_sandboxes().await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "reaper could not list sandboxes");
            return Vec::new();
        }
    };
    let mut done = Vec::new();
    for row in rows {
        if decide(&row, now).is_none() {
            continue;
        }
        let mut decided = None;
        let outcome = plane
            .command_if(&row.id, |fresh| {
                decided = decide(fresh, now);
                decided.map(|decision| match decision {
                    Decision::Stop => Command::Stop,
                    Decision::Archive => Command::Archive,
                    Decision::Delete => Command::Delete,
                })
            })
            .await;
        match (outcome, decided) {
            (Ok(Some(_)), Some(decision)) => {
                tracing::info!(sandbox_id = %row.id, ?decision, "reaper acted");
                done.push((row.id.clone(), decision));
            }
            (Ok(_), _) => {}
            (Err(e), decision) => tracing::warn!(sandbox_id = %row.id, ?decision, error = %e, "reaper action failed"),
        }
    }
    done
}

/// Runs [`reap_once`] every `period` until the task is dropped.
pub async fn run(plane: std::sync::Arc<ControlPlane>, period: Duration) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        reap_once(&plane).await;
    }
}
