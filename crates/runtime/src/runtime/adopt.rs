//! Re-adoption after a restart: sandboxes an earlier runtime process left running are taken
//! over when their init is provably the same process; the rest are stopped, files kept.

use super::exec::merge_env;
use super::{Running, Runtime};
use crate::archive::recover_archive_state;
use crate::image::remove_tree;
use crate::net::{NetMarker, Reserved};
use crate::process;
use crate::spec::SandboxId;
use crate::sync::lock;
use crate::Error;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sandbar_init::Request;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What [`Runtime::recover_orphans`] did with sandboxes an earlier runtime process left running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Re-adopted: still running, with every process.
    pub adopted: usize,
    /// Could not be adopted, so stopped (files kept).
    pub stopped: usize,
}

/// File in a running sandbox's directory naming its init, so a later runtime process can find
/// sandboxes this one leaves running.
pub(crate) const RUNNING_MARKER: &str = "running.json";

/// Contents of [`RUNNING_MARKER`]: the init's host pid and its start time (clock ticks since
/// boot, from `/proc/<pid>/stat`), which together identify the process even if pids are reused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunningMarker {
    pub(crate) init_pid: i32,
    pub(crate) start_time: Option<u64>,
    /// The sandbox's cgroup, relative to each hierarchy's root (absent in markers of older
    /// versions: those sandboxes cannot be adopted and are stopped instead).
    #[serde(default)]
    pub(crate) cgroup: Option<PathBuf>,
    /// The sandbox's address slot, when it has outbound networking.
    #[serde(default)]
    pub(crate) network: Option<NetMarker>,
}

impl RunningMarker {
    /// The marker of a sandbox this runtime process just started.
    pub(crate) fn of(running: &Running) -> RunningMarker {
        RunningMarker {
            init_pid: running.init_pid,
            start_time: process_start_time(running.init_pid),
            cgroup: Some(running.cgroup.path().to_path_buf()),
            network: running.net.as_ref().map(|net| net.marker()),
        }
    }

    /// Writes the marker into sandbox directory `dir`.
    pub(crate) fn write(&self, id: &SandboxId, dir: &Path) -> Result<(), Error> {
        let path = dir.join(RUNNING_MARKER);
        let bytes = serde_json::to_vec(self).map_err(|source| Error::Record { path: path.clone(), source })?;
        std::fs::write(&path, bytes).map_err(Error::sandbox(id, format!("write {}", path.display())))
    }
}

/// The addresses that running markers under `sandboxes_dir` name, with the policies of their
/// records: sandboxes an earlier process left running may hold them, so no new sandbox gets
/// them before recovery decides, and the firewall keeps enforcing their policies meanwhile. A
/// record that cannot be read counts as block-all (such a sandbox is not adopted anyway).
pub(crate) fn networks_in_markers(sandboxes_dir: &Path) -> Vec<Reserved> {
    let Ok(entries) = std::fs::read_dir(sandboxes_dir) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let bytes = std::fs::read(entry.path().join(RUNNING_MARKER)).ok()?;
            let marker = serde_json::from_slice::<RunningMarker>(&bytes).ok()?.network?;
            let policy = SandboxId::new(entry.file_name().to_string_lossy().to_string())
                .ok()
                .and_then(|id| super::read_record(&id, &entry.path()).ok())
                .map(|record| record.spec.egress)
                .unwrap_or_else(|| crate::EgressPolicy { block_all: true, ..Default::default() });
            Some(Reserved { marker, policy })
        })
        .collect()
}

/// Field 22 of `/proc/<pid>/stat`.
pub(crate) fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(") ")?.1;
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

impl Runtime {
    /// Takes over what an earlier runtime process left (after a crash or kill -9): sandboxes it
    /// left running are re-adopted (they keep running, with every process, and this runtime can
    /// exec in, stop and delete them); one that cannot be adopted (its init or cgroup is not
    /// what its marker says, or init does not answer) is stopped with its files kept.
    /// Half-made directories and interrupted archives are cleaned up or completed, and leftover
    /// cgroups removed. Call once, before starting sandboxes.
    pub fn recover_orphans(&self) -> Result<Recovered, Error> {
        let mut recovered = Recovered::default();
        let entries = std::fs::read_dir(&self.sandboxes_dir)
            .map_err(Error::host(format!("list {}", self.sandboxes_dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(".creating-") || name.starts_with(".deleting-") {
                // A leftover that cannot go now (a busy mount, a read-only file) must not keep
                // the server from starting; the next start tries again.
                if let Err(e) = remove_tree(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove a half-made or half-deleted sandbox");
                }
                continue;
            }
            // What is not named like a sandbox (the data disk's `.snapshots/`) is none.
            let Ok(id) = SandboxId::new(name) else { continue };
            // One damaged sandbox directory must not keep the server from starting.
            if let Err(e) = recover_archive_state(&path) {
                tracing::error!(sandbox = %path.display(), error = %e, "could not recover an interrupted archive");
            }
            if let Err(e) = self.recover_snapshot(&id) {
                tracing::error!(sandbox = %path.display(), error = %e, "could not recover an interrupted snapshot");
            }
            let marker_path = path.join(RUNNING_MARKER);
            let Ok(bytes) = std::fs::read(&marker_path) else {
                let _ = std::fs::remove_file(path.join("init.sock"));
                continue;
            };
            if let Ok(marker) = serde_json::from_slice::<RunningMarker>(&bytes) {
                if self.running_entry(&id).is_some() {
                    continue;
                }
                match self.adopt(&id, &marker) {
                    Ok(()) => {
                        tracing::info!(sandbox_id = %id, init_pid = marker.init_pid, "re-adopted a running sandbox");
                        recovered.adopted += 1;
                        continue;
                    }
                    Err(e) => tracing::warn!(sandbox_id = %id, error = %e, "cannot re-adopt; stopping it, files kept"),
                }
                if kill_orphan(&marker) {
                    recovered.stopped += 1;
                }
                if let (Some(networking), Some(network)) = (&self.networking, &marker.network) {
                    networking.forget(network);
                }
            }
            let _ = std::fs::remove_file(&marker_path);
            let _ = std::fs::remove_file(path.join("init.sock"));
        }
        let adopted: Vec<SandboxId> = lock(&self.running).keys().cloned().collect();
        for id in &adopted {
            self.connect_links(id);
        }
        self.remove_dead_partial_layers();
        self.remove_orphan_snapshots();
        let adopted: Vec<PathBuf> = lock(&self.running).values().flat_map(|r| r.cgroup.dirs()).collect();
        for dir in self.cgroups.children().into_iter().filter(|dir| !adopted.contains(dir)) {
            if let Err(e) = std::fs::remove_dir(&dir) {
                tracing::warn!(cgroup = %dir.display(), error = %e, "could not remove a leftover cgroup");
            }
        }
        Ok(recovered)
    }

    /// Makes a sandbox an earlier runtime process started this runtime's own: its init must be
    /// the process the marker names, its cgroup must exist under this runtime's parent, and
    /// init must answer on its control socket.
    pub(crate) fn adopt(&self, id: &SandboxId, marker: &RunningMarker) -> Result<(), Error> {
        let refused = |reason: &str| Error::AdoptRefused { id: id.clone(), reason: reason.to_string() };
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", marker.init_pid)).unwrap_or_default();
        if comm.trim() != "sandbar-init" || !is_same_live_process(marker.init_pid, marker.start_time) {
            return Err(refused("its init is gone"));
        }
        // Opened after the check above and the identity checked again after it: the pidfd then
        // refers to that very process, not to a later one that reused its pid.
        let pidfd = crate::sys::pidfd_open(marker.init_pid).map_err(Error::sandbox(id, "open a pidfd on init"))?;
        if !is_same_live_process(marker.init_pid, marker.start_time) {
            return Err(refused("its init is gone"));
        }
        let path = marker.cgroup.as_ref().ok_or_else(|| refused("its marker names no cgroup"))?;
        let record = self.record(id)?;
        let socket = self.dir(id).join("init.sock");
        let cgroup = self.cgroups.adopt(id, path)?;
        // A paused sandbox's init is frozen and cannot answer; its cgroup vouches for it.
        if !cgroup.is_frozen() {
            process::request(id, &socket, &Request::Ping)?;
        }
        let env = Mutex::new(merge_env(record.image.env.clone(), &record.spec.env)?);
        let net = match (&self.networking, &marker.network) {
            (Some(networking), Some(network)) => {
                Some(networking.adopt(id, network, &record.spec.egress).map_err(|e| refused(&e))?)
            }
            _ => None,
        };
        let running = Running {
            init_pid: marker.init_pid,
            pidfd,
            adopted: Some(marker.start_time),
            paused: cgroup.is_frozen().into(),
            socket,
            cgroup,
            record,
            env,
            net,
        };
        lock(&self.running).insert(id.clone(), Arc::new(running));
        Ok(())
    }
}

/// SIGKILLs the init a marker names if it is still that process; waits until it is gone.
pub(crate) fn kill_orphan(marker: &RunningMarker) -> bool {
    let pid = marker.init_pid;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "sandbar-init" || process_start_time(pid) != marker.start_time {
        return false;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    wait_gone(pid, marker.start_time);
    true
}

/// Whether `pid` is still the process that started at `start_time` and has not exited.
pub(crate) fn is_same_live_process(pid: i32, start_time: Option<u64>) -> bool {
    process_start_time(pid) == start_time && !is_zombie(pid)
}

/// Waits (up to 10 s) until a process that is not our child has exited: its parent (the host's
/// init) reaps it, so the pid goes away, is reused, or shows a zombie.
pub(crate) fn wait_gone(pid: i32, start_time: Option<u64>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && is_same_live_process(pid, start_time) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A zombie has exited; only its parent's reaping is left.
pub(crate) fn is_zombie(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'))
}
