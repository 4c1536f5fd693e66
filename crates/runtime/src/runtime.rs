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

use crate::cgroup::{CgroupTree, SandboxCgroup};
use crate::image::{remove_tree, ImageStore};
use crate::pool::Pool;
use crate::process::{self, Process};
use crate::spec::{ExecSpec, Limits, NetworkMode, SandboxId, SandboxSpec};
use crate::sys::{self, InitLaunch};
use crate::{Error, ImageManifest};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{bind, listen, socket, socketpair, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use sandbar_init::{channel, Placed, Request, Setup, SetupReply};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long start waits for init to build the sandbox's root.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default size limit of `/tmp` and `/dev/shm` when the sandbox has no memory limit.
const DEFAULT_TMPFS_BYTES: u64 = 1 << 30;

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
}

impl RuntimeConfig {
    /// A config with the default cgroup parent name `sandbar`.
    pub fn new(data_dir: impl Into<PathBuf>, images: ImageStore) -> RuntimeConfig {
        RuntimeConfig { data_dir: data_dir.into(), images, cgroup_parent: "sandbar".to_string(), disk: None }
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

/// What one sandbox left on the host, for leak checks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Entries under the sandboxes directory.
    pub directories: Vec<PathBuf>,
    /// Init processes still alive or unreaped.
    pub inits: Vec<i32>,
}

impl Running {
    fn is_paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What [`Runtime::recover_orphans`] did with sandboxes an earlier runtime process left running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Re-adopted: still running, with every process.
    pub adopted: usize,
    /// Could not be adopted, so stopped (files kept).
    pub stopped: usize,
}

impl Leftovers {
    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.directories.is_empty() && self.inits.is_empty()
    }
}

/// File in a running sandbox's directory naming its init, so a later runtime process can find
/// sandboxes this one leaves running.
const RUNNING_MARKER: &str = "running.json";
/// An archived sandbox's writable layer; while it exists it is the truth and `upper/` is not.
const ARCHIVE: &str = "upper.tar.zst";
/// An archive being written (deleted by recovery: `upper/` is still whole).
const ARCHIVE_PARTIAL: &str = "upper.tar.zst.partial";
/// The writable layer being unpacked from the archive (deleted by recovery until committed).
const RESTORING: &str = "upper.restoring";
/// The archive after a restore committed: `upper.restoring/` (or `upper/`) is the truth now.
const ARCHIVE_RESTORED: &str = "upper.tar.zst.restored";
/// With a data disk, snapshots of sandboxes are subvolume snapshots kept here (in the sandboxes
/// directory); the image store's layer is a symlink to the snapshot's `upper/`.
const SNAPSHOTS_DIR: &str = ".snapshots";
/// Names the layer a stopped sandbox's `upper/` is being turned into; see `recover_snapshot`.
const SNAPSHOT_INTENT: &str = "snapshot-intent.json";

/// Contents of [`RUNNING_MARKER`]: the init's host pid and its start time (clock ticks since
/// boot, from `/proc/<pid>/stat`), which together identify the process even if pids are reused.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunningMarker {
    init_pid: i32,
    start_time: Option<u64>,
    /// The sandbox's cgroup, relative to each hierarchy's root (absent in markers of older
    /// versions: those sandboxes cannot be adopted and are stopped instead).
    #[serde(default)]
    cgroup: Option<PathBuf>,
}

/// Field 22 of `/proc/<pid>/stat`.
fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(") ")?.1;
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// The on-disk record of a sandbox: its spec and the image it was created from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    spec: SandboxSpec,
    image: ImageManifest,
}

/// A running sandbox.
pub(crate) struct Running {
    pub(crate) init_pid: i32,
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
}

/// The sandbox runtime. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Runtime {
    sandboxes_dir: PathBuf,
    images: ImageStore,
    cgroups: CgroupTree,
    networks: Pool<OwnedFd>,
    init_memfd: OwnedFd,
    null: OwnedFd,
    running: Mutex<HashMap<SandboxId, Arc<Running>>>,
    locks: Mutex<HashMap<SandboxId, Arc<Mutex<()>>>>,
    disk: Option<DiskState>,
}

/// The runtime has a data disk: it mounted it, or found it mounted by an earlier process (after
/// a crash), and unmounts it when dropped.
struct DiskState;

impl Drop for Runtime {
    fn drop(&mut self) {
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
        std::fs::create_dir_all(&sandboxes_dir).map_err(Error::image(format!("create {}", sandboxes_dir.display())))?;
        let disk = match &config.disk {
            Some(disk) => {
                crate::disk::ensure_mounted(disk, &sandboxes_dir)?;
                Some(DiskState)
            }
            None => None,
        };
        let cgroups = CgroupTree::detect(&config.cgroup_parent).map_err(|what| Error::InvalidSpec { what })?;
        let init_memfd = sys::sealed_init_memfd().map_err(Error::image("seal the init binary in a memfd"))?;
        let null = std::fs::File::open("/dev/null").map_err(Error::image("open /dev/null"))?.into();
        let networks = Pool::new("network namespace", 2, 2, || Ok(sys::new_network_namespace()?));
        Ok(Runtime {
            sandboxes_dir,
            images: config.images,
            cgroups,
            networks,
            init_memfd,
            null,
            running: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            disk,
        })
    }

    /// Whether per-sandbox disk limits are enforced (the runtime has a data disk).
    pub fn enforces_disk_limits(&self) -> bool {
        self.disk.is_some()
    }

    /// Creates a sandbox directory: a subvolume with the disk limit on a data disk, a plain
    /// directory otherwise.
    fn make_sandbox_dir(&self, id: &SandboxId, path: &Path, disk_bytes: Option<u64>) -> Result<(), Error> {
        if self.disk.is_none() {
            return std::fs::create_dir_all(path).map_err(Error::sandbox(id, format!("create {}", path.display())));
        }
        crate::disk::create_subvolume(path)
            .map_err(Error::sandbox(id, format!("create subvolume {}", path.display())))?;
        self.apply_disk_limit(id, path, disk_bytes)
    }

    /// Sets the disk limit of the sandbox directory `path` (nothing without a data disk).
    fn apply_disk_limit(&self, id: &SandboxId, path: &Path, disk_bytes: Option<u64>) -> Result<(), Error> {
        if self.disk.is_none() {
            return Ok(());
        }
        crate::disk::set_limit(path, disk_bytes)
            .map_err(Error::sandbox(id, format!("set the disk limit of {}", path.display())))
    }

    /// Runs `work` with the sandbox's disk limit lifted, then puts the limit back: the runtime's
    /// own bookkeeping (overlay's work directory at start, an archive beside the files it packs,
    /// unpacking) must not fail because the sandbox filled its disk.
    fn with_disk_limit_lifted<T>(
        &self,
        id: &SandboxId,
        limit: Option<u64>,
        work: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.disk.is_none() || limit.is_none() {
            return work();
        }
        let dir = self.dir(id);
        self.apply_disk_limit(id, &dir, None)?;
        let result = work();
        // The work is done (a sandbox may be running now): failing here would lose track of it.
        if let Err(e) = self.apply_disk_limit(id, &dir, limit) {
            tracing::error!(sandbox_id = %id, error = %e, "could not set the disk limit again; it stays lifted");
        }
        result
    }

    /// The image store this runtime creates sandboxes from.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// `hybrid`, `legacy` or `unified`: the cgroup layout in use.
    pub fn cgroup_layout(&self) -> String {
        self.cgroups.layout()
    }

    /// Creates a stopped sandbox from `spec`. Fails with [`Error::AlreadyExists`] for a used id.
    pub fn create(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        validate(spec)?;
        let image = self.images.require(&spec.image)?;
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = self.dir(id);
        if dir.exists() {
            return Err(Error::AlreadyExists { id: id.clone() });
        }
        let staging = self.sandboxes_dir.join(format!(".creating-{id}"));
        let result = (|| {
            remove_tree(&staging)?;
            self.make_sandbox_dir(id, &staging, spec.limits.disk_bytes)?;
            for sub in ["upper", "work", "rootfs"] {
                let path = staging.join(sub);
                std::fs::create_dir_all(&path).map_err(Error::sandbox(id, format!("create {}", path.display())))?;
            }
            let record = Record { spec: spec.clone(), image };
            let bytes = serde_json::to_vec_pretty(&record)
                .map_err(|e| Error::sandbox(id, "encode record")(std::io::Error::other(e)))?;
            let path = staging.join("sandbox.json");
            std::fs::write(&path, bytes).map_err(Error::sandbox(id, format!("write {}", path.display())))?;
            std::fs::rename(&staging, &dir)
                .map_err(Error::sandbox(id, format!("move {} to {}", staging.display(), dir.display())))
        })();
        if result.is_err() {
            let _ = remove_tree(&staging);
        }
        result
    }

    /// Starts a created or stopped sandbox. Starting a running sandbox does nothing.
    pub fn start(&self, id: &SandboxId) -> Result<(), Error> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.running_entry(id).is_some() {
            return Ok(());
        }
        let record = self.record(id)?;
        let limit = record.spec.limits.disk_bytes;
        let running = self.with_disk_limit_lifted(id, limit, || {
            self.restore_locked(id)?;
            let running = self.launch(id, record)?;
            let marker = RunningMarker {
                init_pid: running.init_pid,
                start_time: process_start_time(running.init_pid),
                cgroup: Some(running.cgroup.path().to_path_buf()),
            };
            let path = self.dir(id).join(RUNNING_MARKER);
            let written = serde_json::to_vec(&marker)
                .map_err(std::io::Error::other)
                .and_then(|bytes| std::fs::write(&path, bytes))
                .map_err(Error::sandbox(id, format!("write {}", path.display())));
            match written {
                Ok(()) => Ok(running),
                Err(error) => {
                    let _ = teardown(id, &running);
                    Err(error)
                }
            }
        })?;
        self.running.lock().expect("running table lock").insert(id.clone(), Arc::new(running));
        Ok(())
    }

    /// Packs a stopped sandbox's writable layer into one compressed file (see [`crate::archive`])
    /// and frees its directory; the next [`start`](Self::start) (or snapshot or fork) unpacks it.
    /// Returns what was packed, or `None` when the sandbox was archived already.
    ///
    /// Crash safety: the archive is written under a temporary name, synced and renamed; only
    /// then is the writable layer removed. [`recover_orphans`](Self::recover_orphans) finishes or
    /// rolls back whatever a crash interrupted.
    pub fn archive(&self, id: &SandboxId) -> Result<Option<crate::archive::Packed>, Error> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.record(id)?;
        if self.running_entry(id).is_some() {
            return Err(Error::Running { id: id.clone() });
        }
        let dir = self.dir(id);
        if dir.join(ARCHIVE).exists() {
            return Ok(None);
        }
        let (upper, partial) = (dir.join("upper"), dir.join(ARCHIVE_PARTIAL));
        let limit = self.record(id)?.spec.limits.disk_bytes;
        let packed = self.with_disk_limit_lifted(id, limit, || {
            let packed = crate::archive::pack(&upper, &partial).map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                Error::sandbox(id, format!("pack {} into {}", upper.display(), partial.display()))(e)
            })?;
            std::fs::rename(&partial, dir.join(ARCHIVE))
                .and_then(|()| sync_dir(&dir))
                .map_err(Error::sandbox(id, format!("commit {}", dir.join(ARCHIVE).display())))?;
            remove_tree(&upper)?;
            remove_tree(&dir.join("work"))?;
            Ok(packed)
        })?;
        Ok(Some(packed))
    }

    /// Whether the sandbox's writable layer is packed away by [`archive`](Self::archive).
    pub fn is_archived(&self, id: &SandboxId) -> bool {
        self.dir(id).join(ARCHIVE).exists()
    }

    /// Unpacks an archived sandbox's writable layer (no-op otherwise). Call under its lock.
    fn restore_locked(&self, id: &SandboxId) -> Result<(), Error> {
        let dir = self.dir(id);
        let archive = dir.join(ARCHIVE);
        if !archive.exists() {
            return Ok(());
        }
        let restoring = dir.join(RESTORING);
        remove_tree(&restoring)?;
        crate::archive::unpack(&archive, &restoring).and_then(|()| sync_dir(&restoring)).map_err(|e| {
            let _ = remove_tree(&restoring);
            Error::sandbox(id, format!("unpack {}", archive.display()))(e)
        })?;
        // The commit point: from this rename on, the unpacked tree is the truth.
        std::fs::rename(&archive, dir.join(ARCHIVE_RESTORED))
            .and_then(|()| sync_dir(&dir))
            .map_err(Error::sandbox(id, "commit the restore"))?;
        finish_restore(&dir).map_err(Error::sandbox(id, "move the restored layer into place"))
    }

    /// Stops a sandbox: SIGTERM to every process, SIGKILL after `grace`, files kept.
    /// Stopping a stopped sandbox does nothing.
    pub fn stop(&self, id: &SandboxId, grace: Duration) -> Result<(), Error> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.stop_locked(id, grace)
    }

    /// Deletes a sandbox: stops it, then removes its cgroup and directory. Deleting an unknown
    /// sandbox succeeds, so a retried delete never fails.
    pub fn delete(&self, id: &SandboxId) -> Result<(), Error> {
        {
            let lock = self.lock_of(id);
            let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.stop_locked(id, Duration::ZERO)?;
            let dir = self.dir(id);
            if dir.exists() {
                let doomed = self.sandboxes_dir.join(format!(".deleting-{id}"));
                remove_tree(&doomed)?;
                std::fs::rename(&dir, &doomed).map_err(Error::sandbox(id, format!("move {} aside", dir.display())))?;
                remove_tree(&doomed)?;
            }
        }
        self.locks.lock().expect("lock table lock").remove(id);
        Ok(())
    }

    /// Whether the sandbox runs; [`Error::NotFound`] when it does not exist.
    pub fn state(&self, id: &SandboxId) -> Result<SandboxState, Error> {
        if let Some(running) = self.running_entry(id) {
            return Ok(if running.is_paused() { SandboxState::Paused } else { SandboxState::Running });
        }
        if self.dir(id).join("sandbox.json").is_file() {
            Ok(SandboxState::Stopped)
        } else {
            Err(Error::NotFound { id: id.clone() })
        }
    }

    /// Every sandbox on disk, sorted by id.
    pub fn list(&self) -> Result<Vec<(SandboxId, SandboxState)>, Error> {
        let mut sandboxes = Vec::new();
        let entries = std::fs::read_dir(&self.sandboxes_dir)
            .map_err(Error::image(format!("list {}", self.sandboxes_dir.display())))?;
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

    /// Starts a process in a running sandbox.
    pub fn exec(&self, id: &SandboxId, exec: &ExecSpec) -> Result<Process, Error> {
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        if running.is_paused() {
            return Err(Error::Paused { id: id.clone() });
        }
        let spec = &running.record.spec;
        let image = &running.record.image;
        let base = match &exec.base_env {
            Some(base) => merge_env(Vec::new(), base)?,
            None => running.env.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        };
        let env = merge_env(base, &exec.env)?;
        let user = exec.user.clone().or_else(|| spec.user.clone()).unwrap_or_else(|| image.user.clone());
        let cwd = exec.cwd.clone().or_else(|| spec.workdir.clone()).or_else(|| Some(image.workdir.clone()));
        process::spawn(id, &running.socket, exec, env, user, cwd)
    }

    /// The environment processes started now get (before their own additions).
    pub fn env(&self, id: &SandboxId) -> Result<Vec<(String, String)>, Error> {
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        let env = running.env.lock().unwrap_or_else(|p| p.into_inner());
        Ok(env
            .iter()
            .map(|kv| kv.split_once('=').unwrap_or((kv.as_str(), "")))
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    /// Changes the environment of processes started from now on in a running sandbox: first every
    /// name in `unset` is removed, then every variable whose value starts with
    /// `unset_value_prefix` and whose name is not in `set`, then `set` is applied. Processes
    /// already running keep theirs; a stop forgets the change. Returns the resulting environment.
    pub fn update_env(
        &self,
        id: &SandboxId,
        set: &[(String, String)],
        unset: &[String],
        unset_value_prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>, Error> {
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        for key in unset {
            validate_env_key(key)?;
        }
        let mut env = running.env.lock().unwrap_or_else(|p| p.into_inner());
        let mut next: Vec<String> = env
            .iter()
            .filter(|kv| {
                let (key, value) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                let unset_by_name = unset.iter().any(|u| u == key);
                let unset_by_value = unset_value_prefix
                    .is_some_and(|prefix| value.starts_with(prefix) && !set.iter().any(|(k, _)| k == key));
                !unset_by_name && !unset_by_value
            })
            .cloned()
            .collect();
        next = merge_env(next, set)?;
        *env = next;
        drop(env);
        self.env(id)
    }

    /// CPU time a running sandbox's processes used since it started, in nanoseconds (the cheap
    /// first reading of a CPU-use sample; [`usage`](Self::usage) takes the second).
    pub fn cpu_time_ns(&self, id: &SandboxId) -> Result<u64, Error> {
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        Ok(running.cgroup.stats(id)?.cpu.usage.usage_total)
    }

    /// What a running sandbox uses right now. CPU use is cumulative: callers sample twice.
    pub fn usage(&self, id: &SandboxId) -> Result<crate::Usage, Error> {
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        let limits = self.record(id)?.spec.limits;
        let stats = running.cgroup.stats(id)?;
        let host_memory = crate::usage::host_memory().unwrap_or(u64::MAX);
        let memory_cache = crate::usage::page_cache(&stats.memory);
        let upper = self.upper_dir(id);
        let (mut disk_total, mut disk_used, mut disk_free) =
            crate::usage::disk(&upper).map_err(Error::sandbox(id, format!("statvfs {}", upper.display())))?;
        // With a data disk the sandbox's share is its limit and what its subvolume references.
        if let (Some(_), Some(limit)) = (&self.disk, limits.disk_bytes) {
            // qgroup numbers are brought up to date when btrfs commits a transaction.
            let _ = sync_dir(&self.dir(id));
            if let Some(referenced) = crate::disk::referenced_bytes(&self.dir(id)) {
                disk_total = limit.min(disk_total);
                disk_used = referenced.min(disk_total);
                disk_free = (disk_total - disk_used).min(disk_free);
            }
        }
        Ok(crate::Usage {
            cpus: limits.cpu_millis.map(|m| m as f64 / 1000.0).unwrap_or_else(crate::usage::host_cpus),
            cpu_time_ns: stats.cpu.usage.usage_total,
            memory_limit: limits.memory_bytes.unwrap_or(host_memory).min(host_memory),
            memory_used: stats.memory.memory.usage.saturating_sub(memory_cache),
            memory_cache,
            disk_total,
            disk_used,
            disk_free,
        })
    }

    /// Makes the sandbox's files a new image named `image_name` and returns it.
    ///
    /// A stopped sandbox's writable layer *becomes* the image's top layer (a rename, O(1)) and the
    /// sandbox continues on top of it with an empty writable layer, so its files do not change.
    /// A running sandbox is frozen while its writable layer is copied, then thawed.
    pub fn snapshot(&self, id: &SandboxId, image_name: &str) -> Result<ImageManifest, Error> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let limit = self.record(id)?.spec.limits.disk_bytes;
        // Its bookkeeping (intent, record, a fresh writable layer) must work at the limit too.
        self.with_disk_limit_lifted(id, limit, || self.snapshot_locked(id, image_name))
    }

    fn snapshot_locked(&self, id: &SandboxId, image_name: &str) -> Result<ImageManifest, Error> {
        let mut record = self.record(id)?;
        self.restore_locked(id)?;
        let layer_id = format!("snap-{}", random_hex());
        let layer = self.images.layer_path(&layer_id);
        let dir = self.dir(id);
        let mut layers = record.image.layers.clone();
        match self.running_entry(id) {
            // On a data disk the sandbox directory is a subvolume: a btrfs snapshot of it is an
            // O(1) copy whether the sandbox runs (frozen for the moment) or not, and the sandbox
            // keeps its own writable layer.
            running if self.disk.is_some() => {
                let snapshots = self.sandboxes_dir.join(SNAPSHOTS_DIR);
                std::fs::create_dir_all(&snapshots)
                    .map_err(Error::sandbox(id, format!("create {}", snapshots.display())))?;
                let target = snapshots.join(&layer_id);
                let was_paused = running.as_ref().is_some_and(|r| r.is_paused());
                if let Some(running) = &running {
                    running.cgroup.freeze(id, true)?;
                }
                let made = crate::disk::snapshot_subvolume(&dir, &target);
                if let (Some(running), false) = (&running, was_paused) {
                    running.cgroup.freeze(id, false)?;
                }
                made.map_err(Error::sandbox(id, format!("snapshot {} to {}", dir.display(), target.display())))?;
                std::os::unix::fs::symlink(target.join("upper"), &layer).map_err(|e| {
                    let _ = remove_tree(&target);
                    Error::sandbox(id, format!("link {} to the snapshot", layer.display()))(e)
                })?;
            }
            None => {
                let upper = dir.join("upper");
                // Written (and synced) before the rename, so a crash in between can be undone.
                let intent = dir.join(SNAPSHOT_INTENT);
                std::fs::write(&intent, &layer_id)
                    .and_then(|()| sync_dir(&dir))
                    .map_err(Error::sandbox(id, format!("write {}", intent.display())))?;
                if let Err(e) = std::fs::rename(&upper, &layer) {
                    let _ = std::fs::remove_file(&intent);
                    // Another file system (EXDEV): copy, then keep the sandbox as it was.
                    copy_tree(&upper, &layer)
                        .map_err(|copy| Error::sandbox(id, format!("copy {} ({e})", upper.display()))(copy))?;
                } else {
                    // The sandbox goes on over the new layer with a fresh writable layer.
                    let work = dir.join("work");
                    remove_tree(&work)?;
                    for fresh in [&upper, &work] {
                        std::fs::create_dir(fresh)
                            .map_err(Error::sandbox(id, format!("create {}", fresh.display())))?;
                    }
                    record.image.layers.push(layer_id.clone());
                    // The commit point: the record names the layer from here on.
                    self.write_record(id, &record)?;
                    let _ = std::fs::remove_file(&intent);
                }
            }
            Some(running) => {
                let was_paused = running.is_paused();
                running.cgroup.freeze(id, true)?;
                // Copied beside the layer and renamed when complete: a crash leaves only a
                // `.partial-` directory, which recovery removes.
                let partial = self.images.layer_path(&format!(".partial-{}-{layer_id}", std::process::id()));
                let copied = copy_tree(&dir.join("upper"), &partial);
                if !was_paused {
                    running.cgroup.freeze(id, false)?;
                }
                copied.and_then(|()| std::fs::rename(&partial, &layer)).map_err(|e| {
                    let _ = remove_tree(&partial);
                    Error::sandbox(id, format!("copy {} into a layer", dir.join("upper").display()))(e)
                })?;
            }
        }
        layers.push(layer_id);
        let manifest = ImageManifest {
            name: image_name.to_string(),
            layers,
            env: record.image.env.clone(),
            user: record.image.user.clone(),
            workdir: record.image.workdir.clone(),
            recipe: 0,
        };
        self.images.put_manifest(&manifest)?;
        Ok(manifest)
    }

    /// Creates `target` as a copy of `source`: the same read-only layers and a copy of its
    /// writable layer (a running source is frozen while it is copied). The two never see each
    /// other's later writes. The fork is created stopped.
    pub fn fork(&self, source: &SandboxId, target: &SandboxId) -> Result<(), Error> {
        let lock = self.lock_of(source);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let record = self.record(source)?;
        self.with_disk_limit_lifted(source, record.spec.limits.disk_bytes, || self.restore_locked(source))?;
        if self.dir(target).exists() {
            return Err(Error::AlreadyExists { id: target.clone() });
        }
        let staging = self.sandboxes_dir.join(format!(".creating-{target}"));
        remove_tree(&staging)?;
        let result = (|| {
            let upper = self.dir(source).join("upper");
            let running = self.running_entry(source);
            let was_paused = running.as_ref().is_some_and(|r| r.is_paused());
            if let Some(running) = &running {
                running.cgroup.freeze(source, true)?;
            }
            let copied = if self.disk.is_some() {
                // On a data disk the whole sandbox directory is a subvolume: its snapshot is an
                // O(1) copy; what belongs to the source's run is dropped from it below.
                crate::disk::snapshot_subvolume(&self.dir(source), &staging)
            } else {
                self.make_sandbox_dir(target, &staging, None)
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .and_then(|()| copy_tree(&upper, &staging.join("upper")))
            };
            if let (Some(running), false) = (&running, was_paused) {
                running.cgroup.freeze(source, false)?;
            }
            copied.map_err(Error::sandbox(target, format!("copy {}", upper.display())))?;
            for leftover in [RUNNING_MARKER, "init.sock", SNAPSHOT_INTENT, "work", "rootfs"] {
                remove_tree(&staging.join(leftover))?;
            }
            for sub in ["work", "rootfs"] {
                let path = staging.join(sub);
                std::fs::create_dir_all(&path).map_err(Error::sandbox(target, format!("create {}", path.display())))?;
            }
            self.apply_disk_limit(target, &staging, record.spec.limits.disk_bytes)?;
            let mut record = record.clone();
            record.spec.hostname = None;
            let bytes = serde_json::to_vec_pretty(&record)
                .map_err(|e| Error::sandbox(target, "encode record")(std::io::Error::other(e)))?;
            std::fs::write(staging.join("sandbox.json"), bytes)
                .map_err(Error::sandbox(target, "write sandbox.json"))?;
            std::fs::rename(&staging, self.dir(target)).map_err(Error::sandbox(target, "move the fork into place"))
        })();
        if result.is_err() {
            let _ = remove_tree(&staging);
        }
        result
    }

    /// Deletes an image made by [`snapshot`](Self::snapshot) and every snapshot layer of it that
    /// no other image and no sandbox uses. Base layers (content-addressed) are never removed here.
    /// Refuses (and changes nothing) while a sandbox was created from the image.
    pub fn delete_image(&self, name: &str) -> Result<(), Error> {
        let manifest = self.images.require(name)?;
        let mut used = std::collections::HashSet::new();
        for (id, _) in self.list()? {
            let record = self.record(&id)?;
            if record.image.name == name {
                return Err(Error::InvalidSpec { what: format!("image {name:?} is used by sandbox {id}") });
            }
            used.extend(record.image.layers);
        }
        for other in self.images.list()? {
            if other.name != name {
                used.extend(other.layers);
            }
        }
        self.images.remove_manifest(name)?;
        for layer in manifest.layers.iter().filter(|l| l.starts_with("snap-") && !used.contains(*l)) {
            let path = self.images.layer_path(layer);
            // A layer on the data disk is a link to a snapshot subvolume's upper/: both go.
            let snapshot = std::fs::read_link(&path).ok().and_then(|upper| upper.parent().map(Path::to_path_buf));
            remove_tree(&path)?;
            if let Some(snapshot) = snapshot {
                remove_tree(&snapshot)?;
            }
        }
        Ok(())
    }

    fn write_record(&self, id: &SandboxId, record: &Record) -> Result<(), Error> {
        let path = self.dir(id).join("sandbox.json");
        let staging = self.dir(id).join("sandbox.json.new");
        serde_json::to_vec_pretty(record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&staging, bytes))
            .and_then(|()| std::fs::rename(&staging, &path))
            .map_err(Error::sandbox(id, format!("write {}", path.display())))
    }

    /// Changes a sandbox's cgroup limits: recorded for later starts and, when it runs, applied
    /// to its cgroup at once. Memory below what the sandbox uses now is refused by the kernel.
    pub fn update_limits(&self, id: &SandboxId, limits: &Limits) -> Result<(), Error> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut record = self.record(id)?;
        let mut candidate = record.spec.clone();
        candidate.limits = limits.clone();
        validate(&candidate)?;
        if let Some(running) = self.running_entry(id) {
            running.cgroup.apply(id, limits)?;
        }
        if !self.is_archived(id) {
            self.apply_disk_limit(id, &self.dir(id), limits.disk_bytes)?;
        }
        record.spec = candidate;
        let path = self.dir(id).join("sandbox.json");
        let staging = self.dir(id).join("sandbox.json.new");
        serde_json::to_vec_pretty(&record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&staging, bytes))
            .and_then(|()| std::fs::rename(&staging, &path))
            .map_err(Error::sandbox(id, format!("write {}", path.display())))
    }

    /// Freezes every process of a running sandbox (cgroup freezer): they keep their memory, open
    /// files and connections but get no CPU. Pausing a paused sandbox does nothing.
    pub fn pause(&self, id: &SandboxId) -> Result<(), Error> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        if !running.is_paused() {
            running.cgroup.freeze(id, true)?;
            running.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// Thaws a paused sandbox; resuming a running one does nothing.
    pub fn resume(&self, id: &SandboxId) -> Result<(), Error> {
        let lock = self.lock_of(id);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        if running.is_paused() {
            running.cgroup.freeze(id, false)?;
            running.paused.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// Sends `signal` to process `pid` (or its process group) in a running sandbox.
    pub fn kill(&self, id: &SandboxId, pid: i32, signal: i32, group: bool) -> Result<(), Error> {
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        process::request(id, &running.socket, &Request::Signal { pid, signal, group })
    }

    /// Host pids of every process in a running sandbox's cgroup (init included).
    pub fn pids(&self, id: &SandboxId) -> Result<Vec<i32>, Error> {
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        running.cgroup.pids(id)
    }

    /// Host pid of a running sandbox's init.
    pub fn init_pid(&self, id: &SandboxId) -> Result<i32, Error> {
        Ok(self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?.init_pid)
    }

    /// The sandbox's writable layer on the host (read it only while the sandbox is stopped).
    pub fn upper_dir(&self, id: &SandboxId) -> PathBuf {
        self.dir(id).join("upper")
    }

    /// Absolute cgroup directories of a sandbox (empty when it does not run).
    pub fn cgroup_dirs(&self, id: &SandboxId) -> Vec<PathBuf> {
        self.running_entry(id).map(|running| running.cgroup.dirs()).unwrap_or_default()
    }

    /// Every sandbox cgroup directory under this runtime's parent cgroup, running or leaked.
    pub fn cgroup_children(&self) -> Vec<PathBuf> {
        self.cgroups.children()
    }

    /// What `id` left on the host; all empty once it is deleted.
    pub fn leftovers(&self, id: &SandboxId) -> Leftovers {
        let mut leftovers = Leftovers::default();
        for name in [id.to_string(), format!(".creating-{id}"), format!(".deleting-{id}")] {
            let path = self.sandboxes_dir.join(name);
            if path.exists() {
                leftovers.directories.push(path);
            }
        }
        if let Some(running) = self.running_entry(id) {
            leftovers.inits.push(running.init_pid);
        }
        leftovers
    }

    /// Takes over what an earlier runtime process left (after a crash or kill -9): sandboxes it
    /// left running are re-adopted (they keep running, with every process, and this runtime can
    /// exec in, stop and delete them); one that cannot be adopted (its init or cgroup is not
    /// what its marker says, or init does not answer) is stopped with its files kept.
    /// Half-made directories and interrupted archives are cleaned up or completed, and leftover
    /// cgroups removed. Call once, before starting sandboxes.
    pub fn recover_orphans(&self) -> Result<Recovered, Error> {
        let mut recovered = Recovered::default();
        let entries = std::fs::read_dir(&self.sandboxes_dir)
            .map_err(Error::image(format!("list {}", self.sandboxes_dir.display())))?;
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
            // One damaged sandbox directory must not keep the server from starting.
            if let Err(e) = recover_archive_state(&path) {
                tracing::error!(sandbox = %path.display(), error = %e, "could not recover an interrupted archive");
            }
            if let Err(e) = self.recover_snapshot(&path) {
                tracing::error!(sandbox = %path.display(), error = %e, "could not recover an interrupted snapshot");
            }
            let marker_path = path.join(RUNNING_MARKER);
            let Ok(bytes) = std::fs::read(&marker_path) else {
                let _ = std::fs::remove_file(path.join("init.sock"));
                continue;
            };
            let marker = serde_json::from_slice::<RunningMarker>(&bytes).ok();
            let id = SandboxId::new(name.clone()).ok();
            if let (Some(marker), Some(id)) = (&marker, &id) {
                if self.running_entry(id).is_some() {
                    continue;
                }
                match self.adopt(id, marker) {
                    Ok(()) => {
                        tracing::info!(sandbox_id = %id, init_pid = marker.init_pid, "re-adopted a running sandbox");
                        recovered.adopted += 1;
                        continue;
                    }
                    Err(e) => tracing::warn!(sandbox_id = %id, error = %e, "cannot re-adopt; stopping it, files kept"),
                }
                if kill_orphan(marker) {
                    recovered.stopped += 1;
                }
            }
            let _ = std::fs::remove_file(&marker_path);
            let _ = std::fs::remove_file(path.join("init.sock"));
        }
        self.remove_dead_partial_layers();
        self.remove_orphan_snapshots();
        let adopted: Vec<PathBuf> =
            self.running.lock().expect("running table lock").values().flat_map(|r| r.cgroup.dirs()).collect();
        for dir in self.cgroups.children().into_iter().filter(|dir| !adopted.contains(dir)) {
            if let Err(e) = std::fs::remove_dir(&dir) {
                tracing::warn!(cgroup = %dir.display(), error = %e, "could not remove a leftover cgroup");
            }
        }
        Ok(recovered)
    }

    /// Undoes a snapshot of a stopped sandbox that a crash interrupted before its record named
    /// the new layer: the layer goes back to being the sandbox's `upper/`. One that committed only
    /// loses its intent file. Also removes partial layer copies of runtime processes that died.
    fn recover_snapshot(&self, dir: &Path) -> Result<(), Error> {
        let intent = dir.join(SNAPSHOT_INTENT);
        let Ok(layer_id) = std::fs::read_to_string(&intent) else { return Ok(()) };
        let step = |what: &str| Error::image(format!("recover the snapshot in {}: {what}", dir.display()));
        let record: Record = std::fs::read(dir.join("sandbox.json"))
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(std::io::Error::other))
            .map_err(step("read sandbox.json"))?;
        let layer = self.images.layer_path(layer_id.trim());
        if !record.image.layers.iter().any(|l| l == layer_id.trim()) && layer.is_dir() {
            tracing::warn!(sandbox = %dir.display(), "rolling back a snapshot a crash interrupted");
            for fresh in ["upper", "work"] {
                remove_tree(&dir.join(fresh))?;
            }
            std::fs::rename(&layer, dir.join("upper")).map_err(step("move the layer back"))?;
            std::fs::create_dir(dir.join("work")).map_err(step("create work"))?;
        }
        std::fs::remove_file(&intent).map_err(step("remove the intent"))
    }

    /// Makes a sandbox an earlier runtime process started this runtime's own: its init must be
    /// the process the marker names, its cgroup must exist under this runtime's parent, and
    /// init must answer on its control socket.
    fn adopt(&self, id: &SandboxId, marker: &RunningMarker) -> Result<(), Error> {
        let refused = |why: &str| Error::sandbox(id, format!("adopt: {why}"))(std::io::ErrorKind::NotFound.into());
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", marker.init_pid)).unwrap_or_default();
        if comm.trim() != "sandbar-init" || !is_same_live_process(marker.init_pid, marker.start_time) {
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
        let running = Running {
            init_pid: marker.init_pid,
            adopted: Some(marker.start_time),
            paused: cgroup.is_frozen().into(),
            socket,
            cgroup,
            record,
            env,
        };
        self.running.lock().expect("running table lock").insert(id.clone(), Arc::new(running));
        Ok(())
    }

    /// Stops and deletes every sandbox, then removes this runtime's (now empty) parent cgroup.
    pub fn delete_all(&self) -> Result<(), Error> {
        for (id, _) in self.list()? {
            self.delete(&id)?;
        }
        self.remove_cgroup_parent();
        Ok(())
    }

    /// Removes this runtime's parent cgroup where it has no sandbox left; call when done with the
    /// runtime. Parents that still hold sandboxes stay.
    pub fn remove_cgroup_parent(&self) {
        for dir in self.cgroups.parent_dirs() {
            // ENOTEMPTY/EBUSY mean a sandbox still runs there, which is fine.
            let _ = std::fs::remove_dir(dir);
        }
    }

    fn stop_locked(&self, id: &SandboxId, grace: Duration) -> Result<(), Error> {
        let Some(running) = self.running.lock().expect("running table lock").remove(id) else {
            return Ok(());
        };
        if running.is_paused() {
            // Frozen processes cannot act on signals, not even SIGKILL, until thawed.
            running.cgroup.freeze(id, false)?;
        }
        if !grace.is_zero() {
            // Ask politely; whatever still runs after the grace period is killed with init.
            if process::request(id, &running.socket, &Request::SignalAll { signal: libc::SIGTERM }).is_ok() {
                let deadline = Instant::now() + grace;
                let mut pause = Duration::from_millis(1);
                while Instant::now() < deadline && running.cgroup.pids(id).map(|p| p.len() > 1).unwrap_or(false) {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
        teardown(id, &running)?;
        // Nobody else holds the entry once it left the table, except a racing exec for a moment.
        if let Ok(running) = Arc::try_unwrap(running) {
            self.cgroups.give_back(running.cgroup);
        }
        Ok(())
    }

    /// Clones init, puts it in its cgroup and has it build the sandbox. Undoes everything on failure.
    fn launch(&self, id: &SandboxId, record: Record) -> Result<Running, Error> {
        let env = Mutex::new(merge_env(record.image.env.clone(), &record.spec.env)?);
        let dir = self.dir(id);
        for layer in &record.image.layers {
            let path = self.images.layer_path(layer);
            if !path.is_dir() {
                return Err(Error::sandbox(id, format!("find image layer {}", path.display()))(
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
        }
        let socket_path = dir.join("init.sock");
        let _ = std::fs::remove_file(&socket_path);
        let listener = control_listener(&socket_path)
            .map_err(Error::sandbox(id, format!("listen on {}", socket_path.display())))?;
        let (host_end, init_end) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|e| Error::sandbox(id, "create setup channel")(e.into()))?;
        let network = match record.spec.network {
            NetworkMode::Loopback => Some(
                self.networks
                    .take()
                    .map_err(|e| Error::sandbox(id, "create network namespace")(std::io::Error::other(e)))?,
            ),
        };
        // The pool usually has a manager ready; when it does not, open one while cloning.
        let (cgroup, cloned) = std::thread::scope(|scope| {
            let opening = scope.spawn(|| self.cgroups.take(id));
            let launch = InitLaunch {
                memfd: &self.init_memfd,
                setup_channel: &init_end,
                listener: &listener,
                null: &self.null,
                network: network.as_ref(),
            };
            let cloned = sys::clone_init(&launch);
            (opening.join().expect("cgroup open does not panic"), cloned)
        });
        // Init holds its namespace now; the host needs no handle on it.
        drop(network);
        drop(init_end);
        drop(listener);
        let init_pid = match (cloned, &cgroup) {
            (Ok(pid), Ok(_)) => pid,
            (Ok(pid), Err(_)) => {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(pid), None);
                let _ = std::fs::remove_file(&socket_path);
                return Err(cgroup.err().expect("matched Err"));
            }
            (Err(e), _) => {
                let _ = std::fs::remove_file(&socket_path);
                return Err(Error::sandbox(id, "clone init into new namespaces")(e));
            }
        };
        let cgroup = cgroup.expect("matched Ok");
        tracing::debug!(sandbox_id = %id, init_pid, "init cloned");

        let setup = Setup {
            hostname: record.spec.hostname.clone().unwrap_or_else(|| id.to_string()),
            rootfs: dir.join("rootfs"),
            lower_dirs: self.images.lower_dirs(&record.image),
            upper_dir: dir.join("upper"),
            work_dir: dir.join("work"),
            binds: record
                .spec
                .mounts
                .iter()
                .map(|m| sandbar_init::Bind {
                    source: m.source.clone(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                })
                .collect(),
            tmpfs_bytes: record.spec.limits.memory_bytes.unwrap_or(DEFAULT_TMPFS_BYTES),
        };
        let placed = handshake(id, &host_end, &setup, || cgroup.enter(id, init_pid, &record.spec.limits));
        let running =
            Running { init_pid, adopted: None, paused: false.into(), socket: socket_path, cgroup, record, env };
        match placed {
            Ok(()) => Ok(running),
            Err(error) => {
                if let Err(cleanup) = teardown(id, &running) {
                    tracing::warn!(sandbox_id = %id, error = %cleanup, "cleanup after failed start");
                }
                Err(error)
            }
        }
    }

    fn running_entry(&self, id: &SandboxId) -> Option<Arc<Running>> {
        let mut table = self.running.lock().expect("running table lock");
        let running = table.get(id)?.clone();
        // An init that died on its own (killed from outside) leaves a zombie: reap it and
        // clean up, so the sandbox reads as stopped instead of hanging every request.
        let alive = match running.adopted {
            None => matches!(
                waitpid(Pid::from_raw(running.init_pid), Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive)
            ),
            Some(start_time) => is_same_live_process(running.init_pid, start_time),
        };
        match alive {
            true => Some(running),
            false => {
                table.remove(id);
                drop(table);
                tracing::warn!(sandbox_id = %id, "init exited on its own; sandbox is stopped");
                let _ = running.cgroup.remove(id);
                let _ = std::fs::remove_file(&running.socket);
                None
            }
        }
    }

    fn record(&self, id: &SandboxId) -> Result<Record, Error> {
        let path = self.dir(id).join("sandbox.json");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound { id: id.clone() }),
            Err(e) => return Err(Error::sandbox(id, format!("read {}", path.display()))(e)),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::sandbox(id, format!("parse {}", path.display()))(std::io::Error::other(e)))
    }

    fn dir(&self, id: &SandboxId) -> PathBuf {
        self.sandboxes_dir.join(id.as_str())
    }

    /// The per-sandbox lock; hold `lock_of(id).lock()` for the whole operation.
    fn lock_of(&self, id: &SandboxId) -> Arc<Mutex<()>> {
        self.locks.lock().expect("lock table lock").entry(id.clone()).or_default().clone()
    }
}

/// Kills init (and with it every process in its pid namespace), reaps it, removes the cgroup
/// and the control socket.
fn teardown(id: &SandboxId, running: &Running) -> Result<(), Error> {
    let (cgroup, socket) = (&running.cgroup, &running.socket);
    let pid = Pid::from_raw(running.init_pid);
    // An adopted init is not our child: its pid is only ours while it is the same process.
    let ours = running.adopted.is_none_or(|start_time| is_same_live_process(running.init_pid, start_time));
    if ours {
        let _ = kill(pid, Signal::SIGKILL);
    }
    // When PID 1 of a namespace dies, the kernel kills the rest and waits for them before the
    // init's own exit completes, so after this wait the sandbox's processes are gone.
    match running.adopted {
        None => while let Err(nix::errno::Errno::EINTR) = waitpid(pid, None) {},
        Some(start_time) => wait_gone(running.init_pid, start_time),
    }
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent() {
        let _ = std::fs::remove_file(dir.join(RUNNING_MARKER));
    }
    cgroup.remove(id).map_err(|e| {
        tracing::warn!(sandbox_id = %id, error = %e, "cgroup removal");
        e
    })
}

/// Sends the setup, places init in its cgroups (`place`) while init builds the root, then
/// waits for init's verdict.
fn handshake(
    id: &SandboxId,
    channel_fd: &OwnedFd,
    setup: &Setup,
    place: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    channel::send(channel_fd.as_fd(), setup, &[]).map_err(Error::sandbox(id, "send setup to init"))?;
    place()?;
    // If init already failed, this send may hit a closed socket; its reply below says why.
    let placed = channel::send(channel_fd.as_fd(), &Placed, &[]);
    let timeout = nix::sys::time::TimeVal::new(SETUP_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(channel_fd, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
        .map_err(|e| Error::sandbox(id, "set setup timeout")(e.into()))?;
    match channel::recv::<SetupReply>(channel_fd.as_fd()) {
        Ok(Some((SetupReply::Ready { root_us, placement_us, lockdown_us }, _))) => {
            tracing::debug!(sandbox_id = %id, root_us, placement_us, lockdown_us, "init ready");
            placed.map_err(Error::sandbox(id, "tell init it is placed"))
        }
        Ok(Some((SetupReply::Failed { step, error }, _))) => Err(Error::InitSetup { id: id.clone(), step, error }),
        Ok(None) => {
            Err(Error::InitSetup { id: id.clone(), step: "start".into(), error: "init exited before reporting".into() })
        }
        Err(e) => Err(Error::sandbox(id, "read init's setup reply")(e)),
    }
}

fn control_listener(path: &Path) -> std::io::Result<OwnedFd> {
    let fd = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    let address = UnixAddr::new(path)?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &address)?;
    listen(&fd, Backlog::new(128).expect("128 is a valid backlog"))?;
    Ok(fd)
}

fn validate(spec: &SandboxSpec) -> Result<(), Error> {
    let invalid = |what: String| Err(Error::InvalidSpec { what });
    for (key, _) in &spec.env {
        validate_env_key(key)?;
    }
    for mount in &spec.mounts {
        if !mount.source.is_absolute() || !mount.source.exists() {
            return invalid(format!("mount source {} must be an existing absolute path", mount.source.display()));
        }
        let clean = mount
            .target
            .components()
            .all(|c| matches!(c, std::path::Component::RootDir | std::path::Component::Normal(_)));
        if !mount.target.is_absolute() || !clean || mount.target == Path::new("/") {
            return invalid(format!(
                "mount target {} must be an absolute path below / without '..'",
                mount.target.display()
            ));
        }
    }
    if let Some(bytes) = spec.limits.memory_bytes {
        if bytes < 8 << 20 {
            return invalid(format!("memory limit {bytes} bytes is below the 8 MiB minimum"));
        }
    }
    if spec.limits.cpu_millis == Some(0) {
        return invalid("cpu limit must be above 0".to_string());
    }
    if let Some(pids) = spec.limits.pids {
        if pids < 2 {
            return invalid(format!("pids limit {pids} leaves no room for a process beside init"));
        }
    }
    if let Some(hostname) = &spec.hostname {
        if hostname.is_empty() || hostname.len() > 64 {
            return invalid(format!("hostname {hostname:?} must be 1-64 bytes"));
        }
    }
    Ok(())
}

/// `base` (`KEY=value` strings) with each of `extra` set, replacing an earlier value of the name.
fn merge_env(mut base: Vec<String>, extra: &[(String, String)]) -> Result<Vec<String>, Error> {
    for (key, value) in extra {
        validate_env_key(key)?;
        if value.contains('\0') {
            return Err(Error::InvalidSpec { what: format!("the value of {key} contains a NUL byte") });
        }
        base.retain(|kv| kv.split('=').next() != Some(key.as_str()));
        base.push(format!("{key}={value}"));
    }
    Ok(base)
}

fn validate_env_key(key: &str) -> Result<(), Error> {
    let valid = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidSpec { what: format!("environment variable name {key:?} must match [A-Za-z_][A-Za-z0-9_]*") })
    }
}

/// Copies a writable layer with everything overlayfs keeps in it (owners, modes, xattrs such as
/// `trusted.overlay.*`, whiteout device nodes, hard links), sharing blocks where the file system
/// can (`--reflink=auto`).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let output = std::process::Command::new("cp").args(["-a", "--reflink=auto", "--"]).arg(from).arg(to).output()?;
    if output.status.success() {
        Ok(())
    } else {
        let _ = std::fs::remove_dir_all(to);
        Err(std::io::Error::other(format!("cp failed: {}", String::from_utf8_lossy(&output.stderr).trim())))
    }
}

impl Runtime {
    /// Removes snapshot subvolumes no layer of the image store links to (a crash between the
    /// snapshot and the link, or an image deleted while its link could not be read).
    fn remove_orphan_snapshots(&self) {
        let snapshots = self.sandboxes_dir.join(SNAPSHOTS_DIR);
        for entry in std::fs::read_dir(&snapshots).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if std::fs::symlink_metadata(self.images.layer_path(&name)).is_err() {
                if let Err(e) = remove_tree(&entry.path()) {
                    tracing::warn!(snapshot = %entry.path().display(), error = %e, "could not remove an orphan snapshot");
                }
            }
        }
    }

    /// Removes `.partial-<pid>-*` layer copies whose runtime process is gone (the image store is
    /// shared: a live process's copy may be in progress).
    fn remove_dead_partial_layers(&self) {
        let layers = self.images.layer_path("");
        for entry in std::fs::read_dir(&layers).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(".partial-").and_then(|rest| rest.split('-').next()) else { continue };
            let alive = pid.parse::<i32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                if let Err(e) = remove_tree(&entry.path()) {
                    tracing::warn!(layer = %entry.path().display(), error = %e, "could not remove a partial layer");
                }
            }
        }
    }
}

/// Syncs the file system holding `dir` (entries, renames and file data alike).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let handle = std::fs::File::open(dir)?;
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&handle)).map_err(std::io::Error::from)
}

/// After a committed restore: the unpacked tree becomes `upper/` with a fresh `work/`, and the
/// spent archive goes.
fn finish_restore(dir: &Path) -> std::io::Result<()> {
    let (restoring, upper) = (dir.join(RESTORING), dir.join("upper"));
    if restoring.exists() {
        if upper.exists() {
            std::fs::remove_dir_all(&upper)?;
        }
        std::fs::rename(&restoring, &upper)?;
    }
    let work = dir.join("work");
    if !work.exists() {
        std::fs::create_dir(&work)?;
    }
    match std::fs::remove_file(dir.join(ARCHIVE_RESTORED)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Finishes or rolls back an archive or restore that a crash interrupted in sandbox `dir`, so
/// that exactly one of `upper/` and the archive holds its files afterwards:
/// * a partial archive is deleted (the writable layer is still whole);
/// * with a committed archive, a leftover `upper/`, `work/` or half-unpacked tree is deleted;
/// * a committed restore is completed.
pub(crate) fn recover_archive_state(dir: &Path) -> std::io::Result<()> {
    let remove = |path: PathBuf| -> std::io::Result<()> {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => Ok(()),
        }
    };
    remove(dir.join(ARCHIVE_PARTIAL))?;
    if dir.join(ARCHIVE_RESTORED).exists() {
        return finish_restore(dir);
    }
    if dir.join(ARCHIVE).exists() {
        for leftover in ["upper", "work", RESTORING] {
            remove(dir.join(leftover))?;
        }
    }
    Ok(())
}

fn random_hex() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

/// SIGKILLs the init a marker names if it is still that process; waits until it is gone.
fn kill_orphan(marker: &RunningMarker) -> bool {
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
fn is_same_live_process(pid: i32, start_time: Option<u64>) -> bool {
    process_start_time(pid) == start_time && !is_zombie(pid)
}

/// Waits (up to 10 s) until a process that is not our child has exited: its parent (the host's
/// init) reaps it, so the pid goes away, is reused, or shows a zombie.
fn wait_gone(pid: i32, start_time: Option<u64>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && is_same_live_process(pid, start_time) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A zombie has exited; only its parent's reaping is left.
fn is_zombie(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BindMount;

    #[test]
    fn env_names_are_checked() {
        assert!(validate_env_key("PATH").is_ok());
        assert!(validate_env_key("_x1").is_ok());
        for bad in ["", "1A", "A-B", "A=B", "A B"] {
            assert!(matches!(validate_env_key(bad), Err(Error::InvalidSpec { .. })), "{bad:?} accepted");
        }
    }

    #[test]
    fn mounts_must_stay_below_root() {
        let mut spec = SandboxSpec::new("default");
        spec.mounts.push(BindMount { source: "/tmp".into(), target: "/work/../etc".into(), read_only: false });
        assert!(matches!(validate(&spec), Err(Error::InvalidSpec { .. })));
        spec.mounts[0].target = "relative".into();
        assert!(matches!(validate(&spec), Err(Error::InvalidSpec { .. })));
        spec.mounts[0].target = "/work".into();
        assert!(validate(&spec).is_ok());
    }

    #[test]
    fn limits_below_usable_are_rejected() {
        let mut spec = SandboxSpec::new("default");
        spec.limits.memory_bytes = Some(1024);
        assert!(matches!(validate(&spec), Err(Error::InvalidSpec { .. })));
        spec.limits.memory_bytes = None;
        spec.limits.pids = Some(1);
        assert!(matches!(validate(&spec), Err(Error::InvalidSpec { .. })));
    }
}
