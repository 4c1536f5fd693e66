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
mod freeze;
mod limits;
mod snapshot;
mod start;
mod stop;
mod testing;

pub use adopt::Recovered;
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
    locks: Mutex<HashMap<SandboxId, Arc<OwnedLock>>>,
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

    pub(crate) fn write_record(&self, id: &SandboxId, record: &Record) -> Result<(), Error> {
        let path = self.dir(id).join("sandbox.json");
        let staging = self.dir(id).join("sandbox.json.new");
        serde_json::to_vec_pretty(record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&staging, bytes))
            .and_then(|()| std::fs::rename(&staging, &path))
            .map_err(Error::sandbox(id, format!("write {}", path.display())))
    }

    pub(crate) fn running_entry(&self, id: &SandboxId) -> Option<Arc<Running>> {
        let mut table = lock(&self.running);
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

    pub(crate) fn record(&self, id: &SandboxId) -> Result<Record, Error> {
        let path = self.dir(id).join("sandbox.json");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound { id: id.clone() }),
            Err(e) => return Err(Error::sandbox(id, format!("read {}", path.display()))(e)),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::sandbox(id, format!("parse {}", path.display()))(std::io::Error::other(e)))
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

pub(crate) fn validate(spec: &SandboxSpec) -> Result<(), Error> {
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

pub(crate) fn validate_env_key(key: &str) -> Result<(), Error> {
    let valid = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidSpec { what: format!("environment variable name {key:?} must match [A-Za-z_][A-Za-z0-9_]*") })
    }
}

/// Syncs the file system holding `dir` (entries, renames and file data alike).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let handle = std::fs::File::open(dir)?;
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&handle)).map_err(std::io::Error::from)
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
