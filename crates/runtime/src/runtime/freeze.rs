//! Pausing and resuming: the cgroup freezer stops a sandbox's processes without killing them.

use super::Runtime;
use crate::spec::SandboxId;
use crate::Error;

impl Runtime {
    /// Freezes every process of a running sandbox (cgroup freezer): they keep their memory, open
    /// files and connections but get no CPU. Pausing a paused sandbox does nothing.
    pub fn pause(&self, id: &SandboxId) -> Result<(), Error> {
        let _guard = self.locked(id);
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        if !running.is_paused() {
            running.cgroup.freeze(id, true)?;
            running.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// Thaws a paused sandbox; resuming a running one does nothing.
    pub fn resume(&self, id: &SandboxId) -> Result<(), Error> {
        let _guard = self.locked(id);
        let running = self.running_entry(id).ok_or_else(|| Error::NotRunning { id: id.clone() })?;
        if running.is_paused() {
            running.cgroup.freeze(id, false)?;
            running.paused.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}
