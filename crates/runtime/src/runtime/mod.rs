//! The sandbox lifecycle: create, start, stop, delete, and the table of running sandboxes.
//!
//! Invariants:
//! * A sandbox directory under `sandboxes/` is complete: it appears by `rename` after its spec
//!   and layer directories exist, and disappears by `rename` to a `.deleting-` name first.
//! * A running sandbox is exactly one live init process, its cgroup, and its control socket.
//!   Every failure during `start` kills the init, removes the cgroup and the socket before it
//!   returns, so there is never a half-started sandbox.
//! * Operations on one sandbox are serialized by a per-sandbox lock; different sandboxes never
//!   wait for each other.

mod adopt;
mod create;
mod exec;
mod exits;
mod freeze;
mod limits;
mod network;
mod snapshot;
mod start;
mod stop;
mod testing;

pub use adopt::Recovered;
pub use exits::{InitExit, InitWatch};
pub use network::NetworkInfo;
pub use testing::Leftovers;

use crate::cgroup::{CgroupTree, SandboxCgroup};
use crate::image::ImageStore;
use crate::pool::Pool;
use crate::spec::{SandboxId, SandboxSpec};
use crate::sync::{lock, OwnedGuard, OwnedLock};
use crate::sys;
use crate::{Error, ImageManifest};
use adopt::is_same_live_process;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where a runtime keeps its state.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Sandbox directories live in `<data_dir>/sandboxes`.
    pub data_dir: PathBuf,
    /// The image store.
    pub images: ImageStore,
    /// Name of the cgroup (under the runtime's own) that holds this runtime's sandboxes.
    pub cgroup_parent: String,
    /// The btrfs image sandbox directories live on, for per-sandbox disk limits; without one
    /// they live on the data directory's file system and disk limits are not enforced.
    pub disk: Option<crate::DataDisk>,
    /// Bounds on all sandboxes together; `None` derives them from the host
    /// ([`crate::HostBounds::for_host`]).
    pub host_bounds: Option<crate::HostBounds>,
    /// Outbound networking for sandboxes with [`crate::NetworkMode::Outbound`]; `None`: every
    /// sandbox has loopback only.
    pub network: Option<crate::NetConfig>,
}

impl RuntimeConfig {
    /// A config with the default cgroup parent name `sandbar`.
    pub fn new(data_dir: impl Into<PathBuf>, images: ImageStore) -> RuntimeConfig {
        RuntimeConfig {
            data_dir: data_dir.into(),
            images,
            cgroup_parent: "sandbar".to_string(),
            disk: None,
            host_bounds: None,
            network: None,
        }
    }
}

/// Whether a sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxState {
    /// Created or stopped: files exist, no process runs.
    Stopped,
    /// Its init and processes run.
    Running,
    /// Its processes exist but are frozen (no CPU); `resume` thaws them.
    Paused,
}

impl Running {
    fn is_paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The on-disk record of a sandbox: its spec and the image it was created from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) spec: SandboxSpec,
    pub(crate) image: ImageManifest,
}

/// A running sandbox.
pub(crate) struct Running {
    pub(crate) init_pid: i32,
    /// A pidfd on init, readable once it exits (see `exits.rs`).
    pub(crate) pidfd: OwnedFd,
    /// Set when this runtime process adopted the sandbox from an earlier one (after a restart):
    /// init is then not its child, so it is watched through `/proc` (its start time, in clock
    /// ticks) instead of `waitpid`.
    adopted: Option<Option<u64>>,
    paused: std::sync::atomic::AtomicBool,
    pub(crate) socket: PathBuf,
    cgroup: SandboxCgroup,
    record: Record,
    /// The environment new processes start with (`KEY=value`): the image's, then the spec's, then
    /// whatever `update_env` changed since this start. A stop forgets the changes, as a restarted
    /// Daytona daemon does.
    env: Mutex<Vec<String>>,
    /// The sandbox's address and host link, when it has outbound networking.
    net: Option<crate::net::Attached>,
}

/// The sandbox runtime. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Runtime {
    sandboxes_dir: PathBuf,
    images: ImageStore,
    cgroups: CgroupTree,
    networks: Pool<OwnedFd>,
    networking: Option<crate::net::Networking>,
    init_memfd: OwnedFd,
    null: OwnedFd,
    running: Mutex<HashMap<SandboxId, Arc<Running>>>,
    /// Inits that exited on their own (not stopped), with their pid, until someone asks
    /// (`init_exit`) or the sandbox starts again.
    exits: Mutex<HashMap<SandboxId, (i32, InitExit)>>,
    locks: Mutex<HashMap<SandboxId, Arc<OwnedLock>>>,
    disk: Option<DiskState>,
    facts: crate::HostFacts,
    bounds: crate::HostBounds,
}

/// The runtime has a data disk: it mounted it, or found it mounted by an earlier process (after
/// a crash), and unmounts it when dropped.
struct DiskState {
    size_bytes: u64,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(networking) = &self.networking {
            // A sandbox still running keeps its link, and the table keeps guarding it.
            networking.shut_down(lock(&self.running).is_empty());
        }
        if self.disk.is_some() {
            // Busy while sandboxes run (their overlays use it); it then stays for the next start.
            if let Err(e) = crate::disk::unmount(&self.sandboxes_dir) {
                tracing::warn!(error = %e, "data disk stays mounted");
            }
        }
    }
}

impl Runtime {
    /// Opens a runtime over `config.data_dir`. Needs root.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, Error> {
        let sandboxes_dir = config.data_dir.join("sandboxes");
        std::fs::create_dir_all(&sandboxes_dir).map_err(Error::host(format!("create {}", sandboxes_dir.display())))?;
        // Nothing under the data directory is for other local users: a sandbox's root controls
        // the files in its layer (setuid binaries included), so no path may lead there.
        for dir in [&config.data_dir, &sandboxes_dir] {
            crate::image::make_private(dir).map_err(Error::host(format!("make {} private (0700)", dir.display())))?;
        }
        let disk = match &config.disk {
            Some(disk) => {
                crate::disk::ensure_mounted(disk, &sandboxes_dir)?;
                // The disk's root is a directory of its own (0755 when made by mkfs).
                crate::image::make_private(&sandboxes_dir)
                    .map_err(Error::host(format!("make {} private (0700)", sandboxes_dir.display())))?;
                // An image made earlier keeps its size whatever the flag says now.
                let size_bytes = std::fs::metadata(&disk.image).map_or(disk.size_bytes, |m| m.len());
                Some(DiskState { size_bytes })
            }
            None => None,
        };
        let cgroups = CgroupTree::detect(&config.cgroup_parent).map_err(|what| Error::CgroupSetup { what })?;
        let facts = crate::HostFacts::read().map_err(Error::host("read the host's cpus, memory and pid_max"))?;
        let bounds = config.host_bounds.unwrap_or_else(|| crate::HostBounds::for_host(&facts));
        cgroups.limit_parent(&bounds).map_err(|what| Error::CgroupSetup { what })?;
        let init_memfd = sys::sealed_init_memfd().map_err(Error::host("seal the init binary in a memfd"))?;
        let null = std::fs::File::open("/dev/null").map_err(Error::host("open /dev/null"))?.into();
        let networks = Pool::new("network namespace", 2, 2, || Ok(sys::new_network_namespace()?));
        let networking = match &config.network {
            Some(net) => match crate::net::Networking::new(net, &adopt::networks_in_markers(&sandboxes_dir)) {
                Ok(networking) => Some(networking),
                Err(e) => {
                    // No runtime comes of this; the parent cgroup made above must not stay.
                    cgroups.remove_parent();
                    return Err(e);
                }
            },
            None => None,
        };
        Ok(Runtime {
            sandboxes_dir,
            images: config.images,
            cgroups,
            networks,
            networking,
            init_memfd,
            null,
            running: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            disk,
            facts,
            bounds,
        })
    }

    /// What this host offers sandboxes: its cpus, the memory all sandboxes may use together (the
    /// parent cgroup's limit) and the data disk's size.
    pub fn capacity(&self) -> crate::Capacity {
        crate::Capacity {
            cpus: self.facts.cpus,
            memory_bytes: self.bounds.memory_bytes,
            disk_bytes: self.disk.as_ref().map(|disk| disk.size_bytes),
        }
    }

    /// The bounds on all sandboxes together, as set on the parent cgroup.
    pub fn host_bounds(&self) -> crate::HostBounds {
        self.bounds
    }

    /// Whether per-sandbox disk limits are enforced (the runtime has a data disk).
    pub fn enforces_disk_limits(&self) -> bool {
        self.disk.is_some()
    }

    /// The image store this runtime creates sandboxes from.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// `hybrid`, `legacy` or `unified`: the cgroup layout in use.
    pub fn cgroup_layout(&self) -> String {
        self.cgroups.layout()
    }

    /// Whether the sandbox runs; [`Error::NotFound`] when it does not exist.
    pub fn state(&self, id: &SandboxId) -> Result<SandboxState, Error> {
        if let Some(running) = self.running_entry(id) {
            return Ok(if running.is_paused() { SandboxState::Paused } else { SandboxState::Running });
        }
        if self.dir(id).join(RECORD).is_file() {
            Ok(SandboxState::Stopped)
        } else {
            Err(Error::NotFound { id: id.clone() })
        }
    }

    /// Every sandbox on disk, sorted by id.
    pub fn list(&self) -> Result<Vec<(SandboxId, SandboxState)>, Error> {
        let mut sandboxes = Vec::new();
        let entries = std::fs::read_dir(&self.sandboxes_dir)
            .map_err(Error::host(format!("list {}", self.sandboxes_dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(id) = SandboxId::new(name) else { continue };
            if let Ok(state) = self.state(&id) {
                sandboxes.push((id, state));
            }
        }
        sandboxes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(sandboxes)
    }

    /// The spec a sandbox was created with.
    pub fn spec(&self, id: &SandboxId) -> Result<SandboxSpec, Error> {
        Ok(self.record(id)?.spec)
    }

    pub(crate) fn running_entry(&self, id: &SandboxId) -> Option<Arc<Running>> {
        let mut table = lock(&self.running);
        let running = table.get(id)?.clone();
        // An init that died on its own (killed from outside, OOM-killed) leaves a zombie: reap
        // it and clean up, so the sandbox reads as stopped instead of hanging every request,
        // and keep how it ended for `init_exit`.
        let status = match running.adopted {
            None => match waitpid(Pid::from_raw(running.init_pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return Some(running),
                Ok(WaitStatus::Exited(_, code)) => Some(crate::ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => Some(crate::ExitStatus::Signal(signal as i32)),
                _ => None,
            },
            Some(start_time) if is_same_live_process(running.init_pid, start_time) => return Some(running),
            Some(_) => None,
        };
        table.remove(id);
        let exit = InitExit { status, oom_kills: running.cgroup.oom_kills() };
        // Recorded before the table lock goes, so whoever finds the entry gone finds this.
        lock(&self.exits).insert(id.clone(), (running.init_pid, exit.clone()));
        drop(table);
        tracing::warn!(sandbox_id = %id, %exit, "init exited on its own; sandbox is stopped");
        let _ = running.cgroup.remove(id);
        let _ = std::fs::remove_file(&running.socket);
        let _ = std::fs::remove_file(self.dir(id).join(adopt::RUNNING_MARKER));
        None
    }

    /// The running entry of sandbox `id`; [`Error::NotRunning`] when it does not run.
    pub(crate) fn running(&self, id: &SandboxId) -> Result<Arc<Running>, Error> {
        self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })
    }

    /// The record of sandbox `id`; [`Error::NotFound`] when it has none.
    pub(crate) fn record(&self, id: &SandboxId) -> Result<Record, Error> {
        read_record(id, &self.dir(id))
    }

    pub(crate) fn dir(&self, id: &SandboxId) -> PathBuf {
        self.sandboxes_dir.join(id.as_str())
    }

    /// Takes the per-sandbox lock; hold the guard for the whole operation.
    pub(crate) fn locked(&self, id: &SandboxId) -> OwnedGuard {
        let sandbox = lock(&self.locks).entry(id.clone()).or_default().clone();
        sandbox.acquire()
    }
}

/// The record file in a sandbox directory.
const RECORD: &str = "sandbox.json";
/// A record being written; renamed over [`RECORD`] once complete and synced.
const RECORD_NEW: &str = "sandbox.json.new";

/// Writes the record of sandbox `id` into its directory `dir` (or the staging directory that
/// becomes it) atomically: a temporary file is written and synced, then renamed over
/// `sandbox.json`, so a reader, or a crash, sees the old record or the new one, never a part.
pub(crate) fn write_record(id: &SandboxId, dir: &Path, record: &Record) -> Result<(), Error> {
    let (path, new) = (dir.join(RECORD), dir.join(RECORD_NEW));
    let bytes = serde_json::to_vec_pretty(record).map_err(|source| Error::Record { path: path.clone(), source })?;
    let written = std::fs::File::create(&new)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&new, &path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&new);
        Error::sandbox(id, format!("write {}", path.display()))(e)
    })
}

/// Writes the first record of sandbox `id` into a staging directory that nobody reads yet and
/// whose rename into place is the commit (create, fork): no temporary file and no sync needed,
/// since a crash before the rename leaves a staging directory that startup removes.
pub(crate) fn write_staged_record(id: &SandboxId, staging: &Path, record: &Record) -> Result<(), Error> {
    let path = staging.join(RECORD);
    let bytes = serde_json::to_vec_pretty(record).map_err(|source| Error::Record { path: path.clone(), source })?;
    std::fs::write(&path, bytes).map_err(Error::sandbox(id, format!("write {}", path.display())))
}

/// Reads the record of sandbox `id` from its directory `dir`; [`Error::NotFound`] without one.
pub(crate) fn read_record(id: &SandboxId, dir: &Path) -> Result<Record, Error> {
    let path = dir.join(RECORD);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound { id: id.clone() }),
        Err(e) => return Err(Error::sandbox(id, format!("read {}", path.display()))(e)),
    };
    serde_json::from_slice(&bytes).map_err(|source| Error::Record { path, source })
}

/// Syncs the file system holding `dir` (entries, renames and file data alike).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let handle = std::fs::File::open(dir)?;
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&handle)).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(image: &str) -> Record {
        let manifest = ImageManifest {
            name: image.to_string(),
            layers: vec!["base".to_string()],
            env: vec!["PATH=/bin".to_string()],
            user: "root".to_string(),
            workdir: "/".to_string(),
            recipe: 0,
        };
        Record { spec: SandboxSpec::new(image), image: manifest }
    }

    #[test]
    fn a_written_record_reads_back_and_replaces_the_old_one() {
        let (id, scratch) = (SandboxId::new("rec").unwrap(), tempfile::tempdir().unwrap());
        let dir = scratch.path();
        assert!(matches!(read_record(&id, dir), Err(Error::NotFound { .. })));
        write_record(&id, dir, &record("first")).unwrap();
        write_record(&id, dir, &record("second")).unwrap();
        let read = read_record(&id, dir).unwrap();
        assert_eq!(read.spec, SandboxSpec::new("second"));
        assert_eq!(read.image.name, "second");
        assert!(!dir.join(RECORD_NEW).exists(), "the temporary file stays behind");
    }

    #[test]
    fn a_leftover_temporary_record_does_not_break_reading_or_writing() {
        let (id, scratch) = (SandboxId::new("rec").unwrap(), tempfile::tempdir().unwrap());
        let dir = scratch.path();
        write_record(&id, dir, &record("kept")).unwrap();
        // What a crash in the middle of a write leaves: a half-written temporary file.
        std::fs::write(dir.join(RECORD_NEW), b"{\"spec\": {\"ima").unwrap();
        assert_eq!(read_record(&id, dir).unwrap().image.name, "kept");
        write_record(&id, dir, &record("next")).unwrap();
        assert_eq!(read_record(&id, dir).unwrap().image.name, "next");
    }

    #[test]
    fn a_damaged_record_is_a_record_error_naming_the_file() {
        let (id, scratch) = (SandboxId::new("rec").unwrap(), tempfile::tempdir().unwrap());
        let dir = scratch.path();
        std::fs::write(dir.join(RECORD), b"not json").unwrap();
        match read_record(&id, dir) {
            Err(Error::Record { path, .. }) => assert_eq!(path, dir.join(RECORD)),
            other => panic!("expected a record error, got {other:?}"),
        }
    }
}
