//! Resource limits and usage: cgroup limits, the per-sandbox disk limit on a data disk, and
//! the readings `/system/metrics` reports.

use super::{sync_dir, write_record, Runtime};
use crate::spec::{Limits, SandboxId};
use crate::Error;
use std::path::Path;

impl Runtime {
    /// Creates a sandbox directory: a subvolume with the disk limit on a data disk, a plain
    /// directory otherwise.
    pub(crate) fn make_sandbox_dir(&self, id: &SandboxId, path: &Path, disk_bytes: Option<u64>) -> Result<(), Error> {
        if self.disk.is_none() {
            return std::fs::create_dir_all(path).map_err(Error::sandbox(id, format!("create {}", path.display())));
        }
        crate::disk::create_subvolume(path)
            .map_err(Error::sandbox(id, format!("create subvolume {}", path.display())))?;
        self.apply_disk_limit(id, path, disk_bytes)
    }

    /// Sets the disk limit of the sandbox directory `path` (nothing without a data disk).
    pub(crate) fn apply_disk_limit(&self, id: &SandboxId, path: &Path, disk_bytes: Option<u64>) -> Result<(), Error> {
        if self.disk.is_none() {
            return Ok(());
        }
        crate::disk::set_limit(path, disk_bytes)
            .map_err(Error::sandbox(id, format!("set the disk limit of {}", path.display())))
    }

    /// Runs `work` with the sandbox's disk limit lifted, then puts the limit back: the runtime's
    /// own bookkeeping (overlay's work directory at start, an archive beside the files it packs,
    /// unpacking) must not fail because the sandbox filled its disk.
    pub(crate) fn with_disk_limit_lifted<T>(
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

    /// CPU time a running sandbox's processes used since it started, in nanoseconds (the cheap
    /// first reading of a CPU-use sample; [`usage`](Self::usage) takes the second).
    pub fn cpu_time_ns(&self, id: &SandboxId) -> Result<u64, Error> {
        let running = self.running(id)?;
        Ok(running.cgroup.stats(id)?.cpu.usage.usage_total)
    }

    /// What a running sandbox uses right now. CPU use is cumulative: callers sample twice.
    pub fn usage(&self, id: &SandboxId) -> Result<crate::Usage, Error> {
        let running = self.running(id)?;
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

    /// Changes a sandbox's cgroup limits: recorded for later starts and, when it runs, applied
    /// to its cgroup at once. Memory below what the sandbox uses now is refused by the kernel.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn update_limits(&self, id: &SandboxId, limits: &Limits) -> Result<(), Error> {
        let _guard = self.locked(id);
        let mut record = self.record(id)?;
        let mut candidate = record.spec.clone();
        candidate.limits = limits.clone();
        candidate.validate()?;
        if let Some(running) = self.running_entry(id) {
            running.cgroup.apply(id, limits)?;
        }
        if !self.is_archived(id) {
            self.apply_disk_limit(id, &self.dir(id), limits.disk_bytes)?;
        }
        record.spec = candidate;
        write_record(id, &self.dir(id), &record)
    }
}
