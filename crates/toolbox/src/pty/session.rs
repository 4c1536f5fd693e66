//! The PTY session itself, with no transport: the shell on its terminal, the bounded
//! [`Backlog`] of what it printed, resize and input, and [`Attachment`]s that hand a client the
//! backlog and then live output and the exit code. The WebSocket bridge (`ws.rs`) is one user;
//! an SSH channel can be another.

use crate::registry::{Key, Registry};
use crate::{Target, ToolboxError};
use sandbar_api::toolbox::pty::{PtyCreateRequest, PtySessionInfo};
use sandbar_runtime::{ExecSpec, ExecStdio};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, watch};

/// Most output kept for clients that attach later.
const BACKLOG_BYTES: usize = 1 << 20;

/// Every PTY session, keyed by (sandbox, init pid, id) like sessions.
#[derive(Default)]
pub struct Ptys {
    table: Registry<PtySession>,
}

/// The last output of a terminal, at most `cap` bytes (older bytes are dropped first).
#[derive(Debug)]
pub(crate) struct Backlog {
    cap: usize,
    bytes: Vec<u8>,
}

impl Backlog {
    pub(crate) fn new(cap: usize) -> Backlog {
        Backlog { cap, bytes: Vec::new() }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        let excess = self.bytes.len().saturating_sub(self.cap);
        self.bytes.drain(..excess);
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A login shell on a terminal in the sandbox.
pub(crate) struct PtySession {
    pub(crate) id: String,
    cwd: String,
    envs: BTreeMap<String, String>,
    created_at: String,
    pub(crate) pid: i32,
    size: Mutex<(u16, u16)>,
    master: Mutex<std::fs::File>,
    backlog: Mutex<Backlog>,
    output: broadcast::Sender<Vec<u8>>,
    /// `None` while the shell runs, then its exit code.
    exit: watch::Sender<Option<i32>>,
}

/// What an attached client receives next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PtyEvent {
    /// Terminal output.
    Output(Vec<u8>),
    /// The shell ended with this exit code (after all output it printed).
    Exited(i32),
}

/// One client's view of a session from the moment it attached.
pub(crate) struct Attachment {
    output: broadcast::Receiver<Vec<u8>>,
    exit: watch::Receiver<Option<i32>>,
}

impl Attachment {
    /// The next output chunk, or the exit once the shell ended and the output it printed before
    /// was handed out; `None` if the session itself went away. A client too slow for the live
    /// output skips what it missed rather than stalling the others. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<PtyEvent> {
        loop {
            let exited = *self.exit.borrow();
            if let Some(code) = exited {
                // Output the pump broadcast before it recorded the exit is still queued here.
                return Some(match self.output.try_recv() {
                    Ok(chunk) => PtyEvent::Output(chunk),
                    Err(_) => PtyEvent::Exited(code),
                });
            }
            tokio::select! {
                chunk = self.output.recv() => match chunk {
                    Ok(chunk) => return Some(PtyEvent::Output(chunk)),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                changed = self.exit.changed() => if changed.is_err() { return None },
            }
        }
    }
}

impl PtySession {
    fn new(
        id: String,
        cwd: String,
        envs: BTreeMap<String, String>,
        pid: i32,
        (cols, rows): (u16, u16),
        master: std::fs::File,
    ) -> PtySession {
        PtySession {
            id,
            cwd,
            envs,
            created_at: crate::error::now(),
            pid,
            size: Mutex::new((cols, rows)),
            master: Mutex::new(master),
            backlog: Mutex::new(Backlog::new(BACKLOG_BYTES)),
            output: broadcast::channel(1024).0,
            exit: watch::channel(None).0,
        }
    }

    pub(crate) fn info(&self) -> PtySessionInfo {
        let (cols, rows) = *lock(&self.size);
        PtySessionInfo {
            id: self.id.clone(),
            cwd: self.cwd.clone(),
            envs: self.envs.clone(),
            cols,
            rows,
            created_at: self.created_at.clone(),
            active: self.exit.borrow().is_none(),
            lazy_start: false,
        }
    }

    /// Gives the terminal a new size (checked as at creation).
    pub(crate) fn resize(&self, cols: u16, rows: u16) -> Result<(), ToolboxError> {
        check_size(cols, rows)?;
        let copy = lock(&self.master).try_clone().map_err(|e| ToolboxError::internal(&e))?;
        sandbar_runtime::Pty { master: copy }.resize(rows, cols).map_err(|e| ToolboxError::internal(&e))?;
        *lock(&self.size) = (cols, rows);
        Ok(())
    }

    /// Types `bytes` into the terminal (lost if the shell is gone).
    pub(crate) fn write_input(&self, bytes: &[u8]) {
        let _ = lock(&self.master).write_all(bytes);
    }

    /// Attaches a client: the backlog it missed, then an [`Attachment`] for what follows. The
    /// live output is subscribed before the backlog is copied, so nothing falls between them.
    pub(crate) fn attach(&self) -> (Vec<u8>, Attachment) {
        let output = self.output.subscribe();
        let backlog = lock(&self.backlog).bytes().to_vec();
        (backlog, Attachment { output, exit: self.exit.subscribe() })
    }

    fn record_output(&self, chunk: Vec<u8>) {
        lock(&self.backlog).push(&chunk);
        let _ = self.output.send(chunk);
    }

    fn record_exit(&self, code: i32) {
        self.exit.send_replace(Some(code));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    sandbar_runtime::lock(mutex)
}

/// 400 unless both sides are within 1..1000.
pub(crate) fn check_size(cols: u16, rows: u16) -> Result<(), ToolboxError> {
    if !(1..=1000).contains(&cols) || !(1..=1000).contains(&rows) {
        return Err(ToolboxError::bad_request(format!("pty size {cols}x{rows} must be within 1..1000")));
    }
    Ok(())
}

impl Ptys {
    /// The target sandbox's session `id`; 404 when there is none.
    pub(crate) fn find(&self, target: &Target, id: &str) -> Result<Arc<PtySession>, ToolboxError> {
        self.table
            .get(&Key::new(target, id)?)
            .ok_or_else(|| ToolboxError::not_found("NOT_FOUND", format!("pty session {id:?} not found")))
    }

    /// The target sandbox's sessions by id.
    pub(crate) fn list(&self, target: &Target) -> Result<Vec<Arc<PtySession>>, ToolboxError> {
        let mut sessions = self.table.list(target)?;
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(sessions)
    }
}

/// Starts the shell and registers the session; 409 for a used id.
pub(crate) async fn start(target: &Target, request: PtyCreateRequest) -> Result<Arc<PtySession>, ToolboxError> {
    let id = request.id.clone();
    if id.is_empty() || id.len() > 128 || id.contains('/') || id.chars().any(char::is_control) {
        return Err(ToolboxError::bad_request(format!(
            "pty id {id:?} must be 1-128 characters without '/' or control characters"
        )));
    }
    let (cols, rows) = (request.cols.unwrap_or(80), request.rows.unwrap_or(24));
    check_size(cols, rows)?;
    let key = Key::new(target, &id)?;
    if target.ptys.table.contains(&key) {
        return Err(ToolboxError::conflict(format!("pty session {id:?} already exists")));
    }
    let cwd = request.cwd.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| target.workdir.clone());
    let envs = request.envs.clone().unwrap_or_default();
    let mut exec = ExecSpec::new([
        "/bin/sh",
        "-c",
        "if command -v bash >/dev/null 2>&1; then exec bash -i -l; else exec sh -i; fi",
    ]);
    exec.stdio = ExecStdio::Pty { rows, cols };
    exec.user = Some(target.user.clone());
    exec.cwd = Some(cwd.clone());
    exec.env.push(("TERM".into(), "xterm-256color".into()));
    exec.env.extend(envs.iter().map(|(k, v)| (k.clone(), v.clone())));
    let runtime = Arc::clone(&target.runtime);
    let sandbox = target.id.clone();
    let mut process = tokio::task::spawn_blocking(move || runtime.exec(&sandbox, &exec))
        .await
        .map_err(|e| ToolboxError::internal(&e))?
        .map_err(|e| ToolboxError::bad_request(e.to_string()))?;
    let pty = process.pty.take().ok_or_else(|| ToolboxError::bad_request("the runtime returned no pty"))?;
    let reader = pty.master.try_clone().map_err(|e| ToolboxError::internal(&e))?;
    let session = Arc::new(PtySession::new(id.clone(), cwd, envs, process.pid, (cols, rows), pty.master));
    if !target.ptys.table.insert_new(key.clone(), Arc::clone(&session)) {
        let _ = process.kill(libc::SIGKILL, true);
        return Err(ToolboxError::conflict(format!("pty session {id:?} already exists")));
    }
    let pumped = Arc::clone(&session);
    let ptys = Arc::clone(&target.ptys);
    std::thread::Builder::new()
        .name("pty".into())
        .spawn(move || pump(pumped, reader, process, ptys, key))
        .map_err(|e| ToolboxError::internal(&e))?;
    Ok(session)
}

/// Copies terminal output to the backlog and the attached clients until the shell ends, then
/// forgets the session and records the exit code.
fn pump(
    session: Arc<PtySession>,
    mut reader: std::fs::File,
    process: sandbar_runtime::Process,
    ptys: Arc<Ptys>,
    key: Key,
) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => session.record_output(buffer[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the last holder of the terminal's slave side is gone.
            Err(_) => break,
        }
    }
    let code = process.wait().map(|status| status.shell_code()).unwrap_or(-1);
    ptys.table.remove(&key);
    session.record_exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> PtySession {
        let master = tempfile::tempfile().unwrap();
        PtySession::new("t".into(), "/".into(), BTreeMap::new(), 1, (80, 24), master)
    }

    #[test]
    fn the_backlog_keeps_the_newest_bytes_up_to_its_cap() {
        let mut backlog = Backlog::new(5);
        backlog.push(b"abc");
        assert_eq!(backlog.bytes(), b"abc");
        backlog.push(b"defg");
        assert_eq!(backlog.bytes(), b"cdefg");
        backlog.push(b"0123456789");
        assert_eq!(backlog.bytes(), b"56789");
    }

    #[tokio::test]
    async fn a_late_client_gets_the_kept_output_then_live_output_then_the_exit() {
        let session = session();
        session.record_output(b"before\n".to_vec());
        let (backlog, mut attached) = session.attach();
        assert_eq!(backlog, b"before\n");
        session.record_output(b"after\n".to_vec());
        assert_eq!(attached.next().await, Some(PtyEvent::Output(b"after\n".to_vec())));
        session.record_output(b"last\n".to_vec());
        session.record_exit(3);
        assert_eq!(attached.next().await, Some(PtyEvent::Output(b"last\n".to_vec())), "output before the exit first");
        assert_eq!(attached.next().await, Some(PtyEvent::Exited(3)));
        assert!(!session.info().active);
        let (late, mut after_exit) = session.attach();
        assert_eq!(late, b"before\nafter\nlast\n", "a client attaching after the exit still sees the backlog");
        assert_eq!(after_exit.next().await, Some(PtyEvent::Exited(3)));
    }

    #[test]
    fn the_backlog_of_a_session_is_capped() {
        let session = session();
        session.record_output(vec![b'x'; BACKLOG_BYTES]);
        session.record_output(b"tail".to_vec());
        let (backlog, _) = session.attach();
        assert_eq!(backlog.len(), BACKLOG_BYTES);
        assert!(backlog.ends_with(b"xtail"));
    }

    #[test]
    fn sizes_outside_1_to_1000_are_refused_and_the_size_is_kept_otherwise() {
        let session = session();
        assert_eq!(session.resize(0, 24).unwrap_err().message, "pty size 0x24 must be within 1..1000");
        assert_eq!(session.resize(80, 1001).unwrap_err().message, "pty size 80x1001 must be within 1..1000");
        let info = session.info();
        assert_eq!((info.cols, info.rows), (80, 24));
        session.write_input(b"typed");
        assert!(info.active);
    }
}
