//! A shell started ahead of time for the next `process/execute` of a sandbox. Starting bash costs
//! about 1.5 ms on this machine kind (fork, exec, dynamic linking); a spare that is already
//! loaded and waiting on its stdin only has to be handed the command. The spare of a sandbox is
//! started when an exec takes the previous one, so it comes up on the other core while the
//! current command runs and the answer travels.
//!
//! A spare is only used for commands that ask for nothing it could differ in: no `cwd` and no
//! `envs` (it was started with the sandbox's defaults). `/env` changes discard it, a spare that
//! died or was just killed (a user's `pkill bash`) is noticed before use by a probe it must
//! answer, and one left idle for [`IDLE`] is stopped
//! so an unused sandbox costs no more memory than before.

use crate::registry::{Key, Registry};
use crate::Target;
use sandbar_runtime::{Error as RuntimeError, ExecSpec, Process};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a spare may wait for a command before it is stopped.
const IDLE: Duration = Duration::from_secs(30);
/// What a spare is asked before use, and its answer (see `answers_probe`).
const PROBE_INPUT: &[u8] = b"echo sandbar-spare-ready\n";
const PROBE_ANSWER: &[u8] = b"sandbar-spare-ready\n";
/// How long a spare may take to answer the probe before a fresh shell is used instead.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The registry id of a sandbox's spare.
const SPARE: &str = "warm-shell";

/// The spare shells of every sandbox.
#[derive(Default)]
pub struct WarmShells {
    table: Registry<Spare>,
    next: AtomicU64,
}

struct Spare {
    /// Tells this spare from a later one in the same slot (for the idle timer).
    serial: u64,
    /// The start in progress or done; taken once.
    start: Mutex<Option<JoinHandle<Result<Process, RuntimeError>>>>,
}

impl WarmShells {
    /// The sandbox's spare shell, once it has started; `None` when there is none or it died.
    pub(crate) async fn take(&self, target: &Target) -> Option<Process> {
        let key = Key::new(target, SPARE).ok()?;
        let spare = self.table.remove(&key)?;
        let start = sandbar_runtime::lock(&spare.start).take()?;
        let process = start.await.ok()?.ok()?;
        if has_ended(&process) {
            // Killed from inside the sandbox; its exit status is waiting on the connection.
            tokio::task::spawn_blocking(move || process.wait());
            return None;
        }
        tokio::task::spawn_blocking(move || answers_probe(process)).await.ok()?
    }

    /// Starts the next spare of the sandbox with `exec` (the defaults of a plain execute).
    pub(crate) fn refill(self: &Arc<Self>, target: &Target, exec: ExecSpec) {
        let Ok(key) = Key::new(target, SPARE) else { return };
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        let (runtime, id) = (Arc::clone(&target.runtime), target.id.clone());
        let start = tokio::task::spawn_blocking(move || runtime.exec(&id, &exec));
        let spare = Arc::new(Spare { serial, start: Mutex::new(Some(start)) });
        if !self.table.insert_new(key.clone(), spare) {
            return; // a racing request filled the slot; this start is dropped below
        }
        let shells = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(IDLE).await;
            if let Some(spare) = shells.table.get(&key).filter(|s| s.serial == serial) {
                shells.table.remove(&key);
                stop(&spare).await;
            }
        });
    }

    /// Stops the sandbox's spare (its environment is out of date).
    pub(crate) async fn discard(&self, target: &Target) {
        let Ok(key) = Key::new(target, SPARE) else { return };
        if let Some(spare) = self.table.remove(&key) {
            stop(&spare).await;
        }
    }
}

/// Ends a spare's shell by dropping it: its stdin closes, and bash, waiting to read its
/// command, exits. No signal is sent: after a restart of the sandbox the old shell's pid may
/// name someone else's process in the new run.
async fn stop(spare: &Spare) {
    let start = sandbar_runtime::lock(&spare.start).take();
    if let Some(start) = start {
        drop(start.await);
    }
}

/// The spare if it answers [`PROBE_INPUT`], else `None` (and the dead shell is reaped).
///
/// `has_ended` alone cannot tell: a shell killed a moment ago (a user's `kill -9`) stays
/// unreported until the kernel ran its exit and init reaped it and wrote the status, so a busy
/// machine handed such a shell the command, which then "exited" 137 without running. A shell
/// with a pending SIGKILL never runs again, so it cannot echo: its stdout closes (EOF) instead.
/// The probe is a builtin, one round trip through the waiting shell, no fork.
fn answers_probe(mut process: Process) -> Option<Process> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::{Read, Write};
    let sent = process.stdin.as_mut().is_some_and(|stdin| stdin.write_all(PROBE_INPUT).is_ok());
    let mut answer = Vec::with_capacity(PROBE_ANSWER.len());
    if let (true, Some(stdout)) = (sent, process.stdout.as_ref()) {
        let deadline = std::time::Instant::now() + PROBE_TIMEOUT;
        let mut buffer = [0u8; 64];
        while answer.len() < PROBE_ANSWER.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
            let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, timeout), Ok(n) if n > 0) {
                break;
            }
            let wanted = PROBE_ANSWER.len() - answer.len();
            match (&*stdout).read(&mut buffer[..wanted]) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    }
    if answer == PROBE_ANSWER {
        return Some(process);
    }
    // Dead (EOF) or unresponsive: closing its stdin ends a live one; wait collects the status.
    drop(process.stdin.take());
    let _ = process.wait();
    None
}

/// Whether init already reported the process's exit (or the sandbox went away).
fn has_ended(process: &Process) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(process.status_connection().as_fd(), PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}
