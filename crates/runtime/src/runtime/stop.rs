//! Stopping and deleting sandboxes: init dies, and with it every process of the sandbox.

use super::adopt::{is_same_live_process, wait_gone, RUNNING_MARKER};
use super::{Running, Runtime};
use crate::image::remove_tree;
use crate::process;
use crate::spec::SandboxId;
use crate::sync::lock;
use crate::Error;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use sandbar_init::Request;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Runtime {
    /// Stops a sandbox: SIGTERM to every process, SIGKILL after `grace`, files kept.
    /// Stopping a stopped sandbox does nothing.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn stop(&self, id: &SandboxId, grace: Duration) -> Result<(), Error> {
        let _guard = self.locked(id);
        self.stop_locked(id, grace)
    }

    /// Deletes a sandbox: stops it, then removes its cgroup and directory. Deleting an unknown
    /// sandbox succeeds, so a retried delete never fails.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn delete(&self, id: &SandboxId) -> Result<(), Error> {
        {
            let _guard = self.locked(id);
            self.stop_locked(id, Duration::ZERO)?;
            let dir = self.dir(id);
            if dir.exists() {
                let doomed = self.sandboxes_dir.join(format!(".deleting-{id}"));
                remove_tree(&doomed)?;
                std::fs::rename(&dir, &doomed).map_err(Error::sandbox(id, format!("move {} aside", dir.display())))?;
                remove_tree(&doomed)?;
            }
        }
        lock(&self.locks).remove(id);
        self.forget_exit(id);
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
        self.cgroups.remove_parent();
    }

    pub(crate) fn stop_locked(&self, id: &SandboxId, grace: Duration) -> Result<(), Error> {
        let Some(running) = lock(&self.running).remove(id) else {
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
}

/// Kills init (and with it every process in its pid namespace), reaps it, removes the cgroup
/// and the control socket.
pub(crate) fn teardown(id: &SandboxId, running: &Running) -> Result<(), Error> {
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
    // Init is gone, and with it the sandbox's end of the link; the host's end goes now.
    if let Some(net) = &running.net {
        net.release();
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
