//! Learning that a sandbox's init exited on its own (killed from outside, OOM-killed, crashed),
//! at once rather than at the next request: every running sandbox holds a pidfd on its init,
//! which becomes readable when init exits. A caller watches a duplicate ([`InitWatch`], e.g.
//! with an async reactor) and then asks [`Runtime::init_exit`] how it ended; a stop or delete
//! is not an exit on its own and yields nothing.

use super::Runtime;
use crate::spec::SandboxId;
use crate::sync::lock;
use crate::{Error, ExitStatus};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// How an init ended without being stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitExit {
    /// Its exit code or signal; `None` when it was not this process's child (an init adopted
    /// from an earlier runtime process), whose status only its parent learns.
    pub status: Option<ExitStatus>,
    /// OOM kills the kernel counted in the sandbox's memory cgroup up to then.
    pub oom_kills: u64,
}

impl InitExit {
    /// Whether the OOM killer most likely ended it: SIGKILL (or an unknown status) in a memory
    /// cgroup that counted an OOM kill.
    pub fn oom_killed(&self) -> bool {
        self.oom_kills > 0 && matches!(self.status, None | Some(ExitStatus::Signal(libc::SIGKILL)))
    }
}

impl std::fmt::Display for InitExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(ExitStatus::Code(code)) => write!(f, "the sandbox's init exited with code {code}")?,
            Some(ExitStatus::Signal(signal)) => {
                let name = nix::sys::signal::Signal::try_from(signal).map(|s| s.as_str()).unwrap_or("unknown");
                write!(f, "the sandbox's init was killed by signal {signal} ({name})")?
            }
            None => f.write_str("the sandbox's init exited (status unknown: it was adopted after a restart)")?,
        }
        match (self.oom_killed(), self.oom_kills) {
            (_, 0) => Ok(()),
            (true, n) => write!(f, "; OOM-killed: the sandbox's memory cgroup recorded {n} OOM kill(s)"),
            (false, n) => write!(f, "; the sandbox's memory cgroup recorded {n} OOM kill(s)"),
        }
    }
}

/// A pidfd on one running sandbox's init: readable once that init exits. Pass it back to
/// [`Runtime::init_exit`] then.
#[derive(Debug)]
pub struct InitWatch {
    id: SandboxId,
    pid: i32,
    pidfd: OwnedFd,
}

impl InitWatch {
    /// The sandbox whose init this watches.
    pub fn id(&self) -> &SandboxId {
        &self.id
    }

    /// Init's pid in the host's pid namespace.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl AsFd for InitWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

impl AsRawFd for InitWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }
}

impl Runtime {
    /// A watch on the init of sandbox `id`; `None` when it does not run.
    pub fn watch_init(&self, id: &SandboxId) -> Result<Option<InitWatch>, Error> {
        let Some(running) = self.running_entry(id) else { return Ok(None) };
        let pidfd = running.pidfd.try_clone().map_err(Error::sandbox(id, "duplicate init's pidfd"))?;
        Ok(Some(InitWatch { id: id.clone(), pid: running.init_pid, pidfd }))
    }

    /// How the init `watch` names ended, once its pidfd is readable: `Some` when it exited on
    /// its own (the sandbox is then stopped, its cgroup and socket gone), `None` when it was
    /// stopped or deleted, or still runs. Each exit is reported once. Blocks on the sandbox's
    /// lock (behind an operation in progress).
    pub fn init_exit(&self, watch: &InitWatch) -> Option<InitExit> {
        // Neither running nor dead on its own: stopped or deleted, so nothing to report (and no
        // lock to take, which would leave a lock entry behind for a deleted sandbox).
        if !lock(&self.running).contains_key(&watch.id) && !lock(&self.exits).contains_key(&watch.id) {
            return None;
        }
        let _guard = self.locked(&watch.id);
        // Reaps and records the exit if init is dead and nobody noticed yet.
        let _ = self.running_entry(&watch.id);
        let mut exits = lock(&self.exits);
        match exits.get(&watch.id) {
            Some((pid, _)) if *pid == watch.pid => exits.remove(&watch.id).map(|(_, exit)| exit),
            _ => None,
        }
    }

    /// Forgets an unreported exit of sandbox `id` (it starts again or goes away).
    pub(crate) fn forget_exit(&self, id: &SandboxId) {
        lock(&self.exits).remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_says_how_init_ended_and_whether_the_oom_killer_did_it() {
        let killed = InitExit { status: Some(ExitStatus::Signal(libc::SIGKILL)), oom_kills: 0 };
        assert_eq!(killed.to_string(), "the sandbox's init was killed by signal 9 (SIGKILL)");
        assert!(!killed.oom_killed());
        let oom = InitExit { status: Some(ExitStatus::Signal(libc::SIGKILL)), oom_kills: 2 };
        assert!(oom.oom_killed());
        assert!(oom.to_string().ends_with("OOM-killed: the sandbox's memory cgroup recorded 2 OOM kill(s)"), "{oom}");
        let code = InitExit { status: Some(ExitStatus::Code(3)), oom_kills: 1 };
        assert!(!code.oom_killed(), "an init that exited by itself was not OOM-killed");
        assert_eq!(
            code.to_string(),
            "the sandbox's init exited with code 3; the sandbox's memory cgroup recorded 1 OOM kill(s)"
        );
        assert!(InitExit { status: None, oom_kills: 1 }.oom_killed());
    }
}
