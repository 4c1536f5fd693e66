//! Sessions (`shared/daytona-wire.md` §4.3): named shells whose working directory and exported
//! variables carry over from one command to the next.
//!
//! Each command runs as its own process (`bash -c`, or `sh -c` where bash is missing) that first
//! restores the session's saved directory and exports and saves them again when it ends. That
//! gives every command real, separate stdout and stderr pipes, an exit status from the kernel,
//! its own stdin for `input`, and async commands that truly run beside later ones. The host reads
//! the pipes on the async runtime (no thread per command) and keeps each command's log (with
//! Daytona's `\x01\x01\x01` / `\x02\x02\x02` line markers), so logs survive a client that
//! disconnects and can be followed again from the start by any number of clients.
//!
//! Bounds, so one tenant cannot exhaust the server: at most [`MAX_RUNNING_COMMANDS`] commands
//! run at once per sandbox (then 429), and a sandbox's logs share one budget of server memory,
//! past which they spill to unlinked files in a private directory (`store.rs`).
//!
//! Fixes for what hurts Daytona users: a command's stdin is at EOF unless it runs async and the
//! caller sends input (Daytona #3770); a background child holding the output open never keeps a
//! call waiting (#4230); an exit code is never confused with a timeout.
//!
//! Layout: `mod.rs` ([`Sessions`], starting commands, the per-sandbox bounds), `command.rs` (one
//! command, its waiters and followers), `log.rs` (the marked log), `store.rs` (where log bytes
//! live: memory or spill files, and the budget), `output.rs` (reading a command's pipes),
//! `routes.rs` (HTTP and the follow WebSocket). Only `routes.rs` knows axum.

mod command;
mod log;
mod output;
pub(crate) mod routes;
mod store;

use crate::registry::{Key, Registry};
use crate::{Target, ToolboxError};
use command::Command;
use log::SessionLog;
use sandbar_api::toolbox::session::Session as SessionInfo;
use sandbar_runtime::{ExecSpec, ExecStdio, SandboxId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use store::{LogBudget, SpillDir};

/// The session that holds the sandbox's entrypoint (Daytona's reserved id). It exists in every
/// running sandbox; it has a command (`entrypoint_command`) only when the sandbox's image has an
/// entrypoint, and no client may create, delete or run commands in it.
pub(crate) const ENTRYPOINT_SESSION: &str = "entrypoint";
const ENTRYPOINT_COMMAND: &str = "entrypoint_command";

/// Most session commands that run at once in one sandbox; one more is refused with a 429.
pub const MAX_RUNNING_COMMANDS: usize = 64;

/// Every session of every sandbox (see [`Registry`] for how a restart forgets them), with the
/// per-sandbox bounds on running commands and log memory.
pub struct Sessions {
    table: Registry<Session>,
    /// Running session commands per sandbox (absent: none).
    running: Arc<Mutex<HashMap<SandboxId, usize>>>,
    max_running: usize,
    /// Each sandbox's log budget, alive while one of its logs is.
    budgets: Mutex<HashMap<SandboxId, Weak<LogBudget>>>,
    memory_budget: usize,
    spill: Arc<SpillDir>,
}

impl Default for Sessions {
    /// Logs spill under `/var/tmp` (on disk, unlike a tmpfs `/tmp`); see [`Sessions::with_log_dir`].
    fn default() -> Self {
        let base =
            if std::path::Path::new("/var/tmp").is_dir() { PathBuf::from("/var/tmp") } else { std::env::temp_dir() };
        Sessions::with_log_dir(base.join(format!("sandbar-session-logs-{}", nix::unistd::geteuid())))
    }
}

/// A sandbox's claim on one of its [`MAX_RUNNING_COMMANDS`] slots, given back on drop.
pub(crate) struct RunningSlot {
    running: Arc<Mutex<HashMap<SandboxId, usize>>>,
    sandbox: SandboxId,
}

impl Drop for RunningSlot {
    fn drop(&mut self) {
        let mut running = sandbar_runtime::lock(&self.running);
        if let Some(count) = running.get_mut(&self.sandbox) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.sandbox);
            }
        }
    }
}

struct Session {
    id: String,
    /// The sandbox's environment when the session was created: like a shell started then, the
    /// session does not see later `/env` changes.
    env: Vec<(String, String)>,
    commands: Mutex<Vec<Arc<Command>>>,
}

impl Session {
    fn commands(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Command>>> {
        sandbar_runtime::lock(&self.commands)
    }

    fn describe(&self) -> SessionInfo {
        SessionInfo { session_id: self.id.clone(), commands: self.commands().iter().map(|c| c.summary()).collect() }
    }
}

/// How a command is started in a session.
pub(crate) struct CommandRequest {
    pub(crate) command: String,
    /// Whether the caller goes on while it runs (and may send it input).
    pub(crate) run_async: bool,
    /// Whether input is kept out of the log.
    pub(crate) suppress_echo: bool,
}

impl Sessions {
    /// Sessions whose logs spill, past each sandbox's memory budget, into `dir` (made 0700 when
    /// first needed; the server's data directory is the right place).
    pub fn with_log_dir(dir: PathBuf) -> Sessions {
        Sessions {
            table: Registry::default(),
            running: Arc::default(),
            max_running: MAX_RUNNING_COMMANDS,
            budgets: Mutex::default(),
            memory_budget: store::MEMORY_BUDGET,
            spill: Arc::new(SpillDir::new(dir)),
        }
    }

    /// The log budget the target sandbox's logs share.
    fn budget(&self, target: &Target) -> Arc<LogBudget> {
        let mut budgets = sandbar_runtime::lock(&self.budgets);
        if let Some(budget) = budgets.get(&target.id).and_then(Weak::upgrade) {
            return budget;
        }
        budgets.retain(|_, budget| budget.strong_count() > 0);
        let budget = Arc::new(LogBudget::new(self.memory_budget, store::DISK_BUDGET, Some(Arc::clone(&self.spill))));
        budgets.insert(target.id.clone(), Arc::downgrade(&budget));
        budget
    }

    /// Claims a running-command slot of the target sandbox; 429 when all are taken.
    fn claim_slot(&self, target: &Target) -> Result<RunningSlot, ToolboxError> {
        let mut running = sandbar_runtime::lock(&self.running);
        let count = running.entry(target.id.clone()).or_insert(0);
        if *count >= self.max_running {
            return Err(ToolboxError::too_many(format!(
                "{} session commands already run in this sandbox, the most at once: wait for one to end or delete its session",
                self.max_running
            )));
        }
        *count += 1;
        Ok(RunningSlot { running: Arc::clone(&self.running), sandbox: target.id.clone() })
    }

    /// Forgets sessions of sandbox runs that ended (a stopped, restarted or deleted sandbox),
    /// with their logs; their processes died with their init.
    fn forget_ended_runs(&self, target: &Target) {
        self.table.retain(|sandbox, init| target.runtime.init_pid(sandbox).is_ok_and(|pid| pid == init));
    }

    fn get(&self, target: &Target, session: &str) -> Result<Arc<Session>, ToolboxError> {
        let key = Key::new(target, session)?;
        if session == ENTRYPOINT_SESSION {
            if !self.table.contains(&key) {
                self.forget_ended_runs(target);
            }
            let env = target.runtime.env(&target.id).map_err(ToolboxError::runtime)?;
            let empty = Arc::new(Session { id: session.to_string(), env, commands: Mutex::new(Vec::new()) });
            return Ok(self.table.get_or_insert(key, empty));
        }
        self.table.get(&key).ok_or_else(|| not_found("session", session))
    }

    fn command(&self, target: &Target, session: &str, command: &str) -> Result<Arc<Command>, ToolboxError> {
        let session = self.get(target, session)?;
        let found = session.commands().iter().find(|c| c.id == command).cloned();
        found.ok_or_else(|| not_found("command", command))
    }

    /// Creates a session with the sandbox's current environment; 409 if it exists.
    fn create(&self, target: &Target, id: &str) -> Result<(), ToolboxError> {
        reserved(id, "be created")?;
        if id.is_empty() || id.len() > 128 || id.contains('/') {
            return Err(ToolboxError::bad_request(format!("session id {id:?} must be 1-128 characters without '/'")));
        }
        let key = Key::new(target, id)?;
        self.forget_ended_runs(target);
        let env = target.runtime.env(&target.id).map_err(ToolboxError::runtime)?;
        let session = Arc::new(Session { id: id.to_string(), env, commands: Mutex::new(Vec::new()) });
        if !self.table.insert_new(key, session) {
            return Err(ToolboxError::conflict(format!("session {id:?} already exists")));
        }
        Ok(())
    }

    /// The sandbox's sessions by id (the entrypoint session is not listed).
    fn list(&self, target: &Target) -> Result<Vec<SessionInfo>, ToolboxError> {
        let mut sessions = self.table.list(target)?;
        sessions.retain(|s| s.id != ENTRYPOINT_SESSION);
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(sessions.iter().map(|s| s.describe()).collect())
    }

    fn describe(&self, target: &Target, session: &str) -> Result<SessionInfo, ToolboxError> {
        Ok(self.get(target, session)?.describe())
    }

    /// Forgets a session and kills its running commands' process groups.
    fn delete(&self, target: &Target, session: &str) -> Result<(), ToolboxError> {
        reserved(session, "be deleted")?;
        let removed = self.table.remove(&Key::new(target, session)?);
        let removed = removed.ok_or_else(|| not_found("session", session))?;
        let pids: Vec<i32> = removed.commands().iter().filter(|c| c.running()).map(|c| c.pid).collect();
        for pid in pids {
            let _ = target.runtime.kill(&target.id, pid, libc::SIGKILL, true);
        }
        Ok(())
    }

    /// Starts a command in a session; its output is collected into its log by a task of its
    /// own until it ends, whoever is waiting or not. 429 when the sandbox already runs
    /// [`MAX_RUNNING_COMMANDS`] session commands.
    async fn exec(
        &self,
        target: &Target,
        session_id: &str,
        request: CommandRequest,
    ) -> Result<Arc<Command>, ToolboxError> {
        reserved(session_id, "run commands")?;
        if request.command.trim().is_empty() {
            return Err(ToolboxError::bad_request("command is empty"));
        }
        let session = self.get(target, session_id)?;
        let slot = self.claim_slot(target)?;
        let state_dir = format!("/tmp/.sandbar-sessions/{}", hex_id(&target.id, &session.id));
        let script = session_script(&state_dir, &request.command);
        let mut spec = ExecSpec::new([
            "/bin/sh",
            "-c",
            &format!(
                "mkdir -p {dir} && if command -v bash >/dev/null 2>&1; then exec bash -c \"$0\"; else exec sh -c \"$0\"; fi",
                dir = shell_quote(&state_dir)
            ),
        ]);
        spec.argv.push(script);
        spec.user = Some(target.user.clone());
        spec.cwd = Some(target.workdir.clone());
        spec.base_env = Some(session.env.clone());
        spec.stdio = ExecStdio::Pipes;
        let runtime = Arc::clone(&target.runtime);
        let id = target.id.clone();
        let mut process = tokio::task::spawn_blocking(move || runtime.exec(&id, &spec))
            .await
            .map_err(|e| ToolboxError::internal(&e))?
            .map_err(|e| ToolboxError::conflict(e.to_string()))?;
        let command_id = format!("{}-{}", process.pid, short_random());
        // A sync command cannot be given input (the caller waits for it), so its stdin closes right
        // away and a read sees EOF instead of hanging (Daytona #3770).
        let stdin = if request.run_async { process.stdin.take() } else { None };
        drop(process.stdin.take());
        let log = SessionLog::in_budget(log::LOG_LIMIT, self.budget(target));
        let command =
            Arc::new(Command::with_log(command_id, process.pid, request.command, stdin, request.suppress_echo, log));
        session.commands().push(Arc::clone(&command));
        tokio::spawn(output::collect(process, Arc::clone(&command), slot));
        Ok(command)
    }

    /// The entrypoint command, or (when the sandbox has no entrypoint) a finished command with
    /// an empty log standing for it.
    fn entrypoint(&self, target: &Target) -> Result<Arc<Command>, ToolboxError> {
        let session = self.get(target, ENTRYPOINT_SESSION)?;
        let found = session.commands().iter().find(|c| c.id == ENTRYPOINT_COMMAND).cloned();
        Ok(found.unwrap_or_else(|| Arc::new(Command::finished_empty(ENTRYPOINT_COMMAND))))
    }
}

/// 400 for a client's attempt to `what` the entrypoint session.
fn reserved(session: &str, what: &str) -> Result<(), ToolboxError> {
    if session == ENTRYPOINT_SESSION {
        return Err(ToolboxError::bad_request(format!(
            "session id {ENTRYPOINT_SESSION:?} is reserved for the sandbox's entrypoint: it cannot {what}"
        )));
    }
    Ok(())
}

fn not_found(what: &str, id: &str) -> ToolboxError {
    ToolboxError::not_found("NOT_FOUND", format!("{what} {id:?} not found"))
}

/// The script one session command runs: restore the session's directory and exports, run the
/// command, save them again, and exit with the command's status.
fn session_script(state_dir: &str, command: &str) -> String {
    let dir = shell_quote(state_dir);
    format!(
        "if [ -f {dir}/env ]; then . {dir}/env 2>/dev/null; fi\n\
         if [ -f {dir}/cwd ]; then cd \"$(cat {dir}/cwd)\" 2>/dev/null; fi\n\
         {command}\n\
         __sandbar_status=$?\n\
         export -p > {dir}/env.new 2>/dev/null && mv {dir}/env.new {dir}/env\n\
         pwd > {dir}/cwd\n\
         exit $__sandbar_status\n"
    )
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A file-name-safe digest of sandbox and session ids.
fn hex_id(sandbox: &SandboxId, session: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in sandbox.as_str().bytes().chain([0]).chain(session.bytes()) {
        hash = (hash ^ byte as u64).wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}

fn short_random() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
