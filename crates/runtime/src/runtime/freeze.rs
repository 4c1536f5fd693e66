//! Pausing and resuming: the cgroup freezer stops a sandbox's processes without killing them.

use super::{Running, Runtime};
use crate::spec::SandboxId;
use crate::Error;

impl Runtime {
    /// Freezes every process of a running sandbox (cgroup freezer): they keep their memory, open
    /// files and connections but get no CPU. Pausing a paused sandbox does nothing.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn pause(&self, id: &SandboxId) -> Result<(), Error> {
        let _guard = self.locked(id);
        let running = self.running(id)?;
        if !running.is_paused() {
            running.cgroup.freeze(id, true)?;
            running.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// Thaws a paused sandbox; resuming a running one does nothing.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn resume(&self, id: &SandboxId) -> Result<(), Error> {
        let _guard = self.locked(id);
        let running = self.running(id)?;
        if running.is_paused() {
            running.cgroup.freeze(id, false)?;
            running.paused.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Runs `work` while the sandbox's processes are frozen (when it runs, `running` is its entry), so
/// a copy of its files is one moment of them; a sandbox that was running is thawed after, a
/// paused one stays paused. Returns what `work` returned, or the freezer's error.
pub(crate) fn frozen<T>(id: &SandboxId, running: Option<&Running>, work: impl FnOnce() -> T) -> Result<T, Error> {
    let Some(running) = running else { return Ok(work()) };
    let was_paused = running.is_paused();
    running.cgroup.freeze(id, true)?;
    let result = work();
    if !was_paused {
        running.cgroup.freeze(id, false)?;
    }
    Ok(result)
}
