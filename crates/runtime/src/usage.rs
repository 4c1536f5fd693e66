//! What a running sandbox uses right now: CPU time and memory from its cgroup, disk from the file
//! system its writable layer lives on (what `df /` inside the sandbox shows).

/// One reading of a sandbox's resource use.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// CPUs the sandbox may use: its quota, or the host's CPUs when unlimited.
    pub cpus: f64,
    /// CPU time the sandbox's processes used since it started, in nanoseconds.
    pub cpu_time_ns: u64,
    /// Memory the sandbox may use: its limit, or the host's memory when unlimited (or higher).
    pub memory_limit: u64,
    /// Memory in use, page cache excluded.
    pub memory_used: u64,
    /// Page cache charged to the sandbox.
    pub memory_cache: u64,
    /// Size of the file system the sandbox writes to.
    pub disk_total: u64,
    /// Space used on it.
    pub disk_used: u64,
    /// Space available to the sandbox on it.
    pub disk_free: u64,
}

/// The host's memory in bytes (`MemTotal` of /proc/meminfo), or `None` when unreadable.
pub(crate) fn host_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The host's CPUs this process may run on.
pub(crate) fn host_cpus() -> f64 {
    std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0)
}

/// `(total, used, free)` bytes of the file system holding `path`, as `df` computes them.
pub(crate) fn disk(path: &std::path::Path) -> std::io::Result<(u64, u64, u64)> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let fragment = stat.fragment_size() as u64;
    let total = stat.blocks() as u64 * fragment;
    let free = stat.blocks_free() as u64 * fragment;
    let available = stat.blocks_available() as u64 * fragment;
    Ok((total, total.saturating_sub(free), available))
}

/// Page cache in a cgroup's memory statistics: `cache` on v1, `file` on v2.
pub(crate) fn page_cache(stats: &libcgroups::stats::MemoryStats) -> u64 {
    if stats.cache > 0 {
        return stats.cache;
    }
    ["total_cache", "cache", "file"].iter().find_map(|key| stats.stats.get(*key).copied()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_memory_and_cpus_are_read() {
        assert!(host_memory().expect("/proc/meminfo has MemTotal") > 64 * 1024 * 1024);
        assert!(host_cpus() >= 1.0);
    }

    #[test]
    fn disk_of_the_root_adds_up() {
        let (total, used, free) = disk(std::path::Path::new("/")).expect("statvfs /");
        assert!(total > 0);
        assert!(used <= total && free <= total, "used {used}, free {free}, total {total}");
    }
}
