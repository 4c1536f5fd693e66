//! cgroups for sandboxes, through youki's `libcgroups`: v1 controllers on hybrid and legacy
//! hosts (this machine kind), the unified hierarchy on pure v2 hosts.
//!
//! Every sandbox cgroup sits under the runtime's own cgroup, at `<own>/<parent>/<slot>`, where
//! `<own>` is the cgroup this process runs in (its memory cgroup on v1, so host-level memory
//! accounting and limits still cover the sandboxes), `<parent>` names this runtime instance, and
//! `<slot>` is `<runtime pid>-<counter>`. The runtime's parent cgroup carries the bounds on all
//! its sandboxes together ([`crate::HostBounds`]: pids and memory); it has no cpu quota, as v1
//! refuses a child quota above its parent's.
//!
//! Slots rather than sandbox ids name the cgroups so that managers can be opened ahead of time:
//! opening a libcgroups manager reads mountinfo and procfs once per controller (over a
//! millisecond), which would otherwise sit on every start's critical path. A small pool of opened
//! managers is refilled in the background; opening creates no directory, so an unused pool entry
//! leaves nothing on the host.

use crate::error::BoxError;
use crate::pool::Pool;
use crate::{Error, Limits, SandboxId};
use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager, CgroupSetup, ControllerOpt, FreezerState};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// CFS period for cpu quotas: 100 ms, the kernel default.
const CPU_PERIOD_US: u64 = 100_000;
/// Opened managers kept ready for the next starts (refilled in the background below this).
const POOL_SIZE: usize = 2;
/// Most managers the pool keeps when deleted sandboxes hand theirs back.
const POOL_MAX: usize = 32;

/// Where this runtime's sandbox cgroups live.
pub(crate) struct CgroupTree {
    setup: CgroupSetup,
    /// `<own>/<parent>`, relative to each hierarchy's root.
    base: PathBuf,
    pool: Pool<SandboxCgroup>,
}

/// One sandbox's cgroup, in every hierarchy.
pub(crate) struct SandboxCgroup {
    /// `<own>/<parent>/<slot>`, relative to each hierarchy's root.
    path: PathBuf,
    manager: AnyCgroupManager,
}

impl CgroupTree {
    /// Detects the host's cgroup layout and the runtime's own place in it.
    pub(crate) fn detect(parent: &str) -> Result<CgroupTree, String> {
        let setup = libcgroups::common::get_cgroup_setup().map_err(|e| format!("detect cgroup layout: {e}"))?;
        let own_cgroups =
            std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("read /proc/self/cgroup: {e}"))?;
        let own = match setup {
            CgroupSetup::Unified => {
                let own = own_path(&own_cgroups, |controllers, hierarchy| hierarchy == "0" && controllers.is_empty())
                    .ok_or("no unified entry in /proc/self/cgroup")?;
                move_to_leaf(&own)?;
                own
            }
            CgroupSetup::Hybrid | CgroupSetup::Legacy => {
                own_path(&own_cgroups, |controllers, _| controllers.split(',').any(|c| c == "memory"))
                    .ok_or("no memory controller entry in /proc/self/cgroup")?
            }
        };
        let base = Path::new(&own).join(parent);
        tracing::debug!(layout = %setup, base = %base.display(), "cgroup tree");
        let slots = AtomicU64::new(0);
        let slot_base = base.clone();
        let pool = Pool::new("cgroup manager", POOL_SIZE, POOL_MAX, move || open_slot(&slot_base, &slots));
        Ok(CgroupTree { setup, base, pool })
    }

    /// `hybrid`, `legacy` or `unified`.
    pub(crate) fn layout(&self) -> String {
        self.setup.to_string()
    }

    /// Absolute directories of the runtime's parent cgroup, in every hierarchy.
    pub(crate) fn parent_dirs(&self) -> Vec<PathBuf> {
        absolute_dirs(&self.base)
    }

    /// Removes the parent's directories where no sandbox cgroup is left in them (a parent that
    /// still holds sandboxes stays: ENOTEMPTY/EBUSY are expected then).
    pub(crate) fn remove_parent(&self) {
        for dir in self.parent_dirs() {
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// Every sandbox cgroup directory under this runtime's parent (for leak checks).
    pub(crate) fn children(&self) -> Vec<PathBuf> {
        let mut children = Vec::new();
        for parent in self.parent_dirs() {
            for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    children.push(entry.path());
                }
            }
        }
        children
    }

    /// Sets the bounds on all sandboxes together on the parent cgroup (creating it): `pids.max`
    /// and the memory limit, in the pids and memory hierarchies (v1) or the unified one.
    pub(crate) fn limit_parent(&self, bounds: &crate::HostBounds) -> Result<(), String> {
        let relative = self.base.strip_prefix("/").unwrap_or(&self.base);
        let writes: Vec<(PathBuf, &str, u64)> = match self.setup {
            CgroupSetup::Unified => {
                let dir = Path::new(CGROUP_ROOT).join(relative);
                // The controllers must be on for the parent's own directory to have the files.
                if let Some(own) = dir.parent() {
                    std::fs::write(own.join("cgroup.subtree_control"), "+pids +memory")
                        .map_err(|e| format!("enable pids and memory in {}: {e}", own.display()))?;
                }
                vec![(dir.clone(), "pids.max", bounds.pids), (dir, "memory.max", bounds.memory_bytes)]
            }
            CgroupSetup::Hybrid | CgroupSetup::Legacy => {
                let pids = v1_hierarchy("pids").ok_or("no pids cgroup hierarchy is mounted")?;
                let memory = v1_hierarchy("memory").ok_or("no memory cgroup hierarchy is mounted")?;
                vec![
                    (pids.join(relative), "pids.max", bounds.pids),
                    (memory.join(relative), "memory.limit_in_bytes", bounds.memory_bytes),
                ]
            }
        };
        for (dir, file, value) in writes {
            std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
            let path = dir.join(file);
            std::fs::write(&path, value.to_string())
                .map_err(|e| format!("write {value} to {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// A manager for a fresh slot: from the pool when one is ready, else opened now.
    pub(crate) fn take(&self, id: &SandboxId) -> Result<SandboxCgroup, Error> {
        self.pool.take().map_err(|source| Error::Cgroup { id: id.clone(), step: "open manager".into(), source })
    }

    /// A manager for the existing cgroup at `path` (relative to each hierarchy's root), which an
    /// earlier runtime process made for a sandbox that still runs. It must lie under this
    /// runtime's parent cgroup.
    pub(crate) fn adopt(&self, id: &SandboxId, path: &Path) -> Result<SandboxCgroup, Error> {
        let error = |step: String| Error::Cgroup { id: id.clone(), step, source: "refused".into() };
        if path.parent() != Some(self.base.as_path()) {
            return Err(error(format!("adopt {}: not under {}", path.display(), self.base.display())));
        }
        if absolute_dirs(path).is_empty() {
            return Err(error(format!("adopt {}: no such cgroup", path.display())));
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let config = CgroupConfig { cgroup_path: path.to_path_buf(), systemd_cgroup: false, container_name: name };
        let manager = libcgroups::common::create_cgroup_manager(config).map_err(|source| Error::Cgroup {
            id: id.clone(),
            step: format!("adopt {}", path.display()),
            source: Box::new(source),
        })?;
        Ok(SandboxCgroup { path: path.to_path_buf(), manager })
    }

    /// Returns the manager of a sandbox whose cgroup was removed, so the next start reuses its
    /// slot without opening a manager at all.
    pub(crate) fn give_back(&self, cgroup: SandboxCgroup) {
        if cgroup.dirs().is_empty() {
            self.pool.give_back(cgroup);
        }
    }
}

fn open_slot(base: &Path, next_slot: &AtomicU64) -> Result<SandboxCgroup, BoxError> {
    let slot = format!("{}-{}", std::process::id(), next_slot.fetch_add(1, Ordering::Relaxed));
    let path = base.join(&slot);
    let config = CgroupConfig { cgroup_path: path.clone(), systemd_cgroup: false, container_name: slot };
    let manager = libcgroups::common::create_cgroup_manager(config)?;
    Ok(SandboxCgroup { path, manager })
}

fn absolute_dirs(relative: &Path) -> Vec<PathBuf> {
    let relative = relative.strip_prefix("/").unwrap_or(relative);
    hierarchies().into_iter().map(|h| h.join(relative)).filter(|p| p.exists()).collect()
}

impl SandboxCgroup {
    /// OOM kills the kernel counted in this cgroup: `oom_kill` of v1's `memory.oom_control` or
    /// v2's `memory.events`; 0 when neither is readable.
    pub(crate) fn oom_kills(&self) -> u64 {
        let count = |text: String| text.lines().find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok());
        self.dirs()
            .iter()
            .flat_map(|dir| [dir.join("memory.events"), dir.join("memory.oom_control")])
            .find_map(|file| std::fs::read_to_string(file).ok().and_then(count))
            .unwrap_or(0)
    }

    /// Puts `pid` into the cgroup (creating it) and applies `limits`.
    pub(crate) fn enter(&self, id: &SandboxId, pid: i32, limits: &Limits) -> Result<(), Error> {
        self.manager.add_task(Pid::from_raw(pid)).map_err(|e| self.error(id, format!("add pid {pid}"), e))?;
        self.apply(id, limits)
    }

    /// Sets `limits` on the existing cgroup.
    pub(crate) fn apply(&self, id: &SandboxId, limits: &Limits) -> Result<(), Error> {
        let resources = resources(limits).map_err(|e| self.error(id, "build resource limits", e))?;
        let options = ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        };
        self.manager.apply(&options).map_err(|e| self.error(id, format!("apply limits {limits:?}"), e))
    }

    /// Pids in the cgroup (host pid namespace).
    pub(crate) fn pids(&self, id: &SandboxId) -> Result<Vec<i32>, Error> {
        let pids = self.manager.get_all_pids().map_err(|e| self.error(id, "list pids", e))?;
        Ok(pids.into_iter().map(|p| p.as_raw()).collect())
    }

    /// Freezes (`true`) or thaws (`false`) every process in the cgroup; returns once frozen.
    pub(crate) fn freeze(&self, id: &SandboxId, frozen: bool) -> Result<(), Error> {
        let state = if frozen { FreezerState::Frozen } else { FreezerState::Thawed };
        self.manager.freeze(state).map_err(|e| self.error(id, if frozen { "freeze" } else { "thaw" }, e))
    }

    /// Kills whatever is left and removes the cgroup from every hierarchy.
    pub(crate) fn remove(&self, id: &SandboxId) -> Result<(), Error> {
        self.manager.remove().map_err(|e| self.error(id, "remove", e))
    }

    /// CPU and memory statistics of the cgroup.
    pub(crate) fn stats(&self, id: &SandboxId) -> Result<libcgroups::stats::Stats, Error> {
        self.manager.stats().map_err(|e| self.error(id, "read statistics", e))
    }

    /// Its path, relative to each hierarchy's root.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the freezer holds its processes (`freezer.state` on v1, `cgroup.freeze` on v2).
    pub(crate) fn is_frozen(&self) -> bool {
        self.dirs().iter().any(|dir| {
            let v1 = std::fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN");
            let v2 = std::fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1");
            v1 || v2
        })
    }

    /// The cgroup's directories that exist right now.
    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        absolute_dirs(&self.path)
    }

    fn error(
        &self,
        id: &SandboxId,
        step: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let step = format!("{} at {}", step.into(), self.path.display());
        Error::Cgroup { id: id.clone(), step, source: Box::new(source) }
    }
}

fn resources(limits: &Limits) -> Result<oci_spec::runtime::LinuxResources, oci_spec::OciSpecError> {
    let mut builder = LinuxResourcesBuilder::default();
    if let Some(bytes) = limits.memory_bytes {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        // With no swap allowed, memsw equals the limit (v1) and swap.max is 0 (v2).
        builder = builder.memory(LinuxMemoryBuilder::default().limit(bytes).swap(bytes).build()?);
    }
    if let Some(millis) = limits.cpu_millis {
        let quota = (millis * CPU_PERIOD_US / 1000).max(1000);
        builder = builder.cpu(LinuxCpuBuilder::default().quota(quota as i64).period(CPU_PERIOD_US).build()?);
    }
    if let Some(pids) = limits.pids {
        builder = builder.pids(LinuxPidsBuilder::default().limit(i64::try_from(pids).unwrap_or(i64::MAX)).build()?);
    }
    builder.build()
}

/// The path of the `/proc/self/cgroup` line whose controllers satisfy `pick`.
fn own_path(proc_cgroup: &str, pick: impl Fn(&str, &str) -> bool) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let hierarchy = fields.next()?;
        let controllers = fields.next()?;
        let path = fields.next()?;
        pick(controllers, hierarchy).then(|| path.to_string())
    })
}

/// On pure v2, a cgroup with processes cannot hand controllers to children ("no internal
/// processes"), so the runtime moves itself into a leaf of its own cgroup first.
fn move_to_leaf(own: &str) -> Result<(), String> {
    if own == "/" {
        return Ok(());
    }
    let own_dir = Path::new(CGROUP_ROOT).join(own.trim_start_matches('/'));
    if own_dir.file_name().is_some_and(|n| n == "sandbar-supervisor") {
        return Ok(());
    }
    let leaf = own_dir.join("sandbar-supervisor");
    std::fs::create_dir_all(&leaf).map_err(|e| format!("create {}: {e}", leaf.display()))?;
    std::fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())
        .map_err(|e| format!("move the runtime into {}: {e}", leaf.display()))
}

/// The mount point of the v1 hierarchy that has `controller`.
fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let has = fields.len() > 3 && fields[2] == "cgroup" && fields[3].split(',').any(|o| o == controller);
        has.then(|| PathBuf::from(fields[1]))
    })
}

/// Mount points of every cgroup hierarchy on this host.
fn hierarchies() -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() > 2 && (fields[2] == "cgroup" || fields[2] == "cgroup2")).then(|| PathBuf::from(fields[1]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

    #[test]
    fn own_path_picks_the_memory_cgroup_on_v1() {
        let path = own_path(HYBRID, |controllers, _| controllers.split(',').any(|c| c == "memory"));
        assert_eq!(path.as_deref(), Some("/process_api/abc"));
    }

    #[test]
    fn own_path_picks_the_unified_line_on_v2() {
        let path = own_path("0::/user.slice/x.scope\n", |c, h| h == "0" && c.is_empty());
        assert_eq!(path.as_deref(), Some("/user.slice/x.scope"));
    }

    #[test]
    fn cpu_limit_becomes_a_quota_per_100ms() {
        let limits = Limits { cpu_millis: Some(500), ..Limits::default() };
        let cpu = resources(&limits).unwrap().cpu().clone().unwrap();
        assert_eq!(cpu.quota(), Some(50_000));
        assert_eq!(cpu.period(), Some(100_000));
    }
}
