//! What this host can give sandboxes, and the bounds on all of a runtime's sandboxes together.
//!
//! Each sandbox has its own pids and memory limit, but nothing stopped eight sandboxes of 4096
//! pids from taking all 32768 of the host's, or sandboxes whose limits add up past the host's
//! memory from pushing the server and the host into the OOM killer. The runtime's parent cgroup
//! carries [`HostBounds`]: the sandboxes together stay below the host's totals minus a reserve
//! for the host and the server, whatever their own limits say. The control plane admits
//! sandboxes against [`Capacity`] (with its own over-commit ratios).

use std::path::Path;

/// Pids kept for the host at least (whatever `pid_max` is).
const MIN_PID_RESERVE: u64 = 4096;
/// Memory kept for the host and the server at least.
const MIN_MEMORY_RESERVE: u64 = 1 << 30;

/// Facts about the host, read once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// CPUs this process may run on.
    pub cpus: u32,
    /// `MemTotal`.
    pub memory_bytes: u64,
    /// `kernel.pid_max`.
    pub pid_max: u64,
}

impl HostFacts {
    /// Reads them from procfs.
    pub fn read() -> std::io::Result<HostFacts> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let meminfo = std::fs::read_to_string("/proc/meminfo")?;
        let memory_bytes =
            mem_total(&meminfo).ok_or_else(|| std::io::Error::other("/proc/meminfo has no MemTotal line in kB"))?;
        let pid_max = read_number(Path::new("/proc/sys/kernel/pid_max"))?;
        Ok(HostFacts { cpus, memory_bytes, pid_max })
    }
}

/// Limits on all of one runtime's sandboxes together (its parent cgroup's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostBounds {
    /// Processes and threads, all sandboxes together.
    pub pids: u64,
    /// Memory (page cache and tmpfs included), all sandboxes together.
    pub memory_bytes: u64,
}

impl HostBounds {
    /// The host's totals minus a reserve: a quarter of the pids (at least 4096) and a tenth of
    /// the memory (at least 1 GiB) stay for everything that is not a sandbox.
    pub fn for_host(facts: &HostFacts) -> HostBounds {
        let pid_reserve = (facts.pid_max / 4).max(MIN_PID_RESERVE);
        let memory_reserve = (facts.memory_bytes / 10).max(MIN_MEMORY_RESERVE);
        HostBounds {
            pids: facts.pid_max.saturating_sub(pid_reserve).max(1),
            memory_bytes: facts.memory_bytes.saturating_sub(memory_reserve).max(1 << 20),
        }
    }
}

/// What a node offers sandboxes: the control plane admits sandboxes against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// CPUs of the host.
    pub cpus: u32,
    /// Memory all sandboxes together may use (the parent cgroup's limit).
    pub memory_bytes: u64,
    /// Size of the data disk, when disk limits are enforced.
    pub disk_bytes: Option<u64>,
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let kib: u64 = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(kib * 1024)
}

fn read_number(path: &Path) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| std::io::Error::other(format!("{} holds {text:?}, not a number", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        assert_eq!(mem_total("MemTotal:       24683772 kB\nMemFree: 1 kB\n"), Some(24683772 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: 12 MB\n"), None);
    }

    #[test]
    fn bounds_keep_a_reserve_for_the_host() {
        let facts = HostFacts { cpus: 2, memory_bytes: 24 << 30, pid_max: 32768 };
        let bounds = HostBounds::for_host(&facts);
        assert_eq!(bounds.pids, 32768 - 8192);
        assert_eq!(bounds.memory_bytes, (24u64 << 30) - (24u64 << 30) / 10);
        // Small hosts keep the minimum reserves.
        let small = HostBounds::for_host(&HostFacts { cpus: 1, memory_bytes: 4 << 30, pid_max: 8192 });
        assert_eq!(small.pids, 8192 - 4096);
        assert_eq!(small.memory_bytes, 3 << 30);
        // Never zero, however small.
        let tiny = HostBounds::for_host(&HostFacts { cpus: 1, memory_bytes: 1 << 29, pid_max: 1000 });
        assert_eq!((tiny.pids, tiny.memory_bytes), (1, 1 << 20));
    }
}
