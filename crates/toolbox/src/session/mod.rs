//! Sessions (`shared/daytona-wire.md` §4.3): named shells whose working directory and exported
//! variables carry over from one command to the next.
//!
//! Each command runs as its own process (`bash -c`, or `sh -c` where bash is missing) that first
//! restores the session's saved directory and exports and saves them again when it ends. That
//! gives every command real, separate stdout and stderr pipes, an exit status from the kernel,
//! its own stdin for `input`, and async commands that truly run beside later ones. The host reads
//! the pipes and keeps each command's log (with Daytona's `\x01\x01\x01` / `\x02\x02\x02` line
//! markers) in memory, so logs survive a client that disconnects and can be followed again from
//! the start by any number of clients.
//!
//! Fixes for what hurts Daytona users: a command's stdin is at EOF unless it runs async and the
//! caller sends input (Daytona #3770); a background child holding the output open never keeps a
//! call waiting (#4230); an exit code is never confused with a timeout.

use crate::error::parse_json;
use crate::registry::{Key, Registry};
use crate::{Target, ToolboxError};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sandbar_api::toolbox::session::{
    Command as CommandSummary, CreateSessionRequest, Session as SessionInfo, SessionCommandLogsResponse,
    SessionExecuteRequest, SessionExecuteResponse, SessionLogsQuery, SessionSendInputRequest,
};
use sandbar_runtime::{ExecSpec, ExecStdio, SandboxId};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Most log bytes a command keeps; later output is read and dropped (the log says so once).
const LOG_LIMIT: usize = 16 << 20;
const STDOUT_MARKER: &[u8] = b"\x01\x01\x01";
const STDERR_MARKER: &[u8] = b"\x02\x02\x02";
/// The session that holds the sandbox's entrypoint (Daytona's reserved id). It exists in every
/// running sandbox; it has a command (`entrypoint_command`) only when the sandbox's image has an
/// entrypoint, and no client may create, delete or run commands in it.
pub(crate) const ENTRYPOINT_SESSION: &str = "entrypoint";
const ENTRYPOINT_COMMAND: &str = "entrypoint_command";

/// Every session of every sandbox (see [`Registry`] for how a restart forgets them).
#[derive(Default)]
pub struct Sessions {
    table: Registry<Session>,
}

struct Session {
    id: String,
    /// The sandbox's environment when the session was created: like a shell started then, the
    /// session does not see later `/env` changes.
    env: Vec<(String, String)>,
    commands: Mutex<Vec<Arc<Command>>>,
}

/// One command of a session and everything it printed.
struct Command {
    id: String,
    /// The process in the sandbox's pid namespace (its group is killed with the session).
    pid: i32,
    command: String,
    state: Mutex<CommandState>,
    /// Bumped on every change, so followers wake up.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct CommandState {
    log: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Whether each stream (stdout, stderr) is at the start of a line.
    mid_line: [bool; 2],
    exit_code: Option<i32>,
    stdin: Option<std::fs::File>,
    suppress_echo: bool,
    truncated: bool,
}

impl Command {
    fn append(&self, stream: usize, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.log.len() >= LOG_LIMIT {
            if !state.truncated {
                state.truncated = true;
                state.log.extend_from_slice(b"\x02\x02\x02[sandbar: log truncated]\n");
                drop(state);
                self.changed.send_modify(|n| *n += 1);
            }
            return;
        }
        let marker = if stream == 0 { STDOUT_MARKER } else { STDERR_MARKER };
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if !state.mid_line[stream] {
                state.log.extend_from_slice(marker);
            }
            state.log.extend_from_slice(piece);
            state.mid_line[stream] = !piece.ends_with(b"\n");
        }
        if stream == 0 { &mut state.stdout } else { &mut state.stderr }.extend_from_slice(bytes);
        drop(state);
        self.changed.send_modify(|n| *n += 1);
    }

    fn finish(&self, exit_code: i32) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.exit_code = Some(exit_code);
        state.stdin = None;
        drop(state);
        self.changed.send_modify(|n| *n += 1);
    }

    fn snapshot(&self) -> (Vec<u8>, String, String, Option<i32>) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (
            state.log.clone(),
            String::from_utf8_lossy(&state.stdout).into_owned(),
            String::from_utf8_lossy(&state.stderr).into_owned(),
            state.exit_code,
        )
    }

    fn summary(&self) -> CommandSummary {
        let exit_code = self.state.lock().unwrap_or_else(|p| p.into_inner()).exit_code;
        CommandSummary { id: self.id.clone(), command: self.command.clone(), exit_code }
    }
}

impl Sessions {
    fn get(&self, target: &Target, session: &str) -> Result<Arc<Session>, ToolboxError> {
        let key = Key::new(target, session)?;
        if session == ENTRYPOINT_SESSION {
            let env = target.runtime.env(&target.id).map_err(ToolboxError::runtime)?;
            let empty = Arc::new(Session { id: session.to_string(), env, commands: Mutex::new(Vec::new()) });
            return Ok(self.table.get_or_insert(key, empty));
        }
        self.table.get(&key).ok_or_else(|| not_found("session", session))
    }

    fn command(&self, target: &Target, session: &str, command: &str) -> Result<Arc<Command>, ToolboxError> {
        let session = self.get(target, session)?;
        let commands = session.commands.lock().unwrap_or_else(|p| p.into_inner());
        commands.iter().find(|c| c.id == command).cloned().ok_or_else(|| not_found("command", command))
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
    ToolboxError { status: StatusCode::NOT_FOUND, code: "NOT_FOUND", message: format!("{what} {id:?} not found") }
}

/// `POST /process/session` → 201; 409 if it exists.
pub(crate) async fn create(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ToolboxError> {
    let request: CreateSessionRequest = parse_json(&body)?;
    let id = request.session_id;
    reserved(&id, "be created")?;
    if id.is_empty() || id.len() > 128 || id.contains('/') {
        return Err(ToolboxError::bad_request(format!("session id {id:?} must be 1-128 characters without '/'")));
    }
    let key = Key::new(&target, &id)?;
    let env = target.runtime.env(&target.id).map_err(ToolboxError::runtime)?;
    let session = Arc::new(Session { id: id.clone(), env, commands: Mutex::new(Vec::new()) });
    if !target.sessions.table.insert_new(key, session) {
        return Err(ToolboxError::conflict(format!("session {id:?} already exists")));
    }
    Ok(StatusCode::CREATED)
}

/// `GET /process/session`.
pub(crate) async fn list(Extension(target): Extension<Target>) -> Result<Json<Vec<SessionInfo>>, ToolboxError> {
    let mut sessions = target.sessions.table.list(&target)?;
    sessions.retain(|s| s.id != ENTRYPOINT_SESSION);
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(sessions.into_iter().map(|s| describe(&s)).collect()))
}

fn describe(session: &Session) -> SessionInfo {
    let commands = session.commands.lock().unwrap_or_else(|p| p.into_inner());
    SessionInfo { session_id: session.id.clone(), commands: commands.iter().map(|c| c.summary()).collect() }
}

/// `GET /process/session/{id}`.
pub(crate) async fn get(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<SessionInfo>, ToolboxError> {
    let session = param(&params, "session");
    Ok(Json(describe(&*target.sessions.get(&target, session)?)))
}

/// `DELETE /process/session/{id}` → 204; its running commands are killed.
pub(crate) async fn delete(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, ToolboxError> {
    let session = param(&params, "session");
    reserved(session, "be deleted")?;
    let removed = target.sessions.table.remove(&Key::new(&target, session)?);
    let removed = removed.ok_or_else(|| not_found("session", session))?;
    let pids: Vec<i32> = removed
        .commands
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|c| c.state.lock().unwrap_or_else(|p| p.into_inner()).exit_code.is_none())
        .map(|c| c.pid)
        .collect();
    for pid in pids {
        let _ = target.runtime.kill(&target.id, pid, libc::SIGKILL, true);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /process/session/{id}/exec`: sync → 200 with the output; async → 202 with the id.
pub(crate) async fn exec(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let session_id = param(&params, "session");
    reserved(session_id, "run commands")?;
    let request: SessionExecuteRequest = parse_json(&body)?;
    if request.command.trim().is_empty() {
        return Err(ToolboxError::bad_request("command is empty"));
    }
    let run_async = request.run_async.or(request.deprecated_async).unwrap_or(false);
    let session = target.sessions.get(&target, session_id)?;
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
    let stdin = if run_async { process.stdin.take() } else { None };
    drop(process.stdin.take());
    let command = Arc::new(Command {
        id: command_id.clone(),
        pid: process.pid,
        command: request.command.clone(),
        state: Mutex::new(CommandState {
            stdin,
            suppress_echo: request.suppress_input_echo.unwrap_or(false),
            ..CommandState::default()
        }),
        changed: watch::channel(0).0,
    });
    session.commands.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::clone(&command));
    let mut finished = command.changed.subscribe();
    let collector = Arc::clone(&command);
    std::thread::Builder::new()
        .name(format!("session-{command_id}"))
        .spawn(move || {
            let outcome = process.stream_output(None, &mut |stream, bytes| collector.append(stream, bytes));
            let code = match outcome {
                Ok((status, _)) => status.shell_code(),
                Err(_) => -1,
            };
            collector.finish(code);
        })
        .map_err(|e| ToolboxError::internal(&e))?;
    if run_async {
        let accepted =
            SessionExecuteResponse { cmd_id: command_id, output: None, stdout: None, stderr: None, exit_code: None };
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    }
    loop {
        if command.state.lock().unwrap_or_else(|p| p.into_inner()).exit_code.is_some() {
            break;
        }
        if finished.changed().await.is_err() {
            break;
        }
    }
    let (log, stdout, stderr, exit_code) = command.snapshot();
    Ok(Json(SessionExecuteResponse {
        cmd_id: command_id,
        output: Some(String::from_utf8_lossy(&log).into_owned()),
        stdout: Some(stdout),
        stderr: Some(stderr),
        exit_code,
    })
    .into_response())
}

/// `GET /process/session/{id}/command/{cmd}`.
pub(crate) async fn get_command(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<CommandSummary>, ToolboxError> {
    let (session, command) = (param(&params, "session"), param(&params, "command"));
    Ok(Json(target.sessions.command(&target, session, command)?.summary()))
}

/// `GET /process/session/{id}/command/{cmd}/logs[?follow=true]`: JSON, or with `follow` a
/// WebSocket that streams the log (binary frames, markers kept) and closes 1000 at the end.
pub(crate) async fn logs(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<SessionLogsQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ToolboxError> {
    let (session, command) = (param(&params, "session"), param(&params, "command"));
    let command = target.sessions.command(&target, session, command)?;
    logs_of(command, query, upgrade)
}

/// `GET /process/session/entrypoint/logs[?follow=true]`: the entrypoint command's log, empty
/// (and a follow that closes 1000 at once) when the sandbox has no entrypoint.
pub(crate) async fn entrypoint_logs(
    Extension(target): Extension<Target>,
    Query(query): Query<SessionLogsQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ToolboxError> {
    let session = target.sessions.get(&target, ENTRYPOINT_SESSION)?;
    let command =
        session.commands.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|c| c.id == ENTRYPOINT_COMMAND).cloned();
    let command = command.unwrap_or_else(|| {
        // No entrypoint: a finished command with an empty log stands for it.
        let state = CommandState { exit_code: Some(0), ..CommandState::default() };
        Arc::new(Command {
            id: ENTRYPOINT_COMMAND.into(),
            pid: 0,
            command: String::new(),
            state: Mutex::new(state),
            changed: watch::channel(0).0,
        })
    });
    logs_of(command, query, upgrade)
}

fn logs_of(
    command: Arc<Command>,
    query: SessionLogsQuery,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ToolboxError> {
    match (query.follow, upgrade.ok()) {
        (true, Some(upgrade)) => Ok(upgrade.on_upgrade(move |socket| follow(socket, command))),
        (true, None) => Err(ToolboxError::bad_request("follow=true needs a WebSocket upgrade")),
        (false, _) => {
            let (log, stdout, stderr, _) = command.snapshot();
            let output = String::from_utf8_lossy(&log).into_owned();
            Ok(Json(SessionCommandLogsResponse { output, stdout, stderr }).into_response())
        }
    }
}

async fn follow(mut socket: WebSocket, command: Arc<Command>) {
    let mut changes = command.changed.subscribe();
    let mut sent = 0usize;
    loop {
        let (chunk, done) = {
            let state = command.state.lock().unwrap_or_else(|p| p.into_inner());
            (state.log[sent.min(state.log.len())..].to_vec(), state.exit_code.is_some())
        };
        if !chunk.is_empty() {
            sent += chunk.len();
            if socket.send(Message::Binary(chunk.into())).await.is_err() {
                return;
            }
        }
        if done {
            let frame = CloseFrame { code: 1000, reason: "command finished".into() };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            // Reading keeps pings answered and notices a client that went away (G22).
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// `POST /process/session/{id}/command/{cmd}/input` → 204; 410 once the command ended.
pub(crate) async fn input(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ToolboxError> {
    let request: SessionSendInputRequest = parse_json(&body)?;
    let (session, command) = (param(&params, "session"), param(&params, "command"));
    reserved(session, "take input")?;
    let command = target.sessions.command(&target, session, command)?;
    let mut line = request.data.into_bytes();
    line.push(b'\n');
    let (mut writer, echo) = {
        let state = command.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.exit_code.is_some() {
            return Err(ToolboxError {
                status: StatusCode::GONE,
                code: "COMMAND_ALREADY_COMPLETED",
                message: format!("command {} already completed", command.id),
            });
        }
        let Some(stdin) = state.stdin.as_ref() else {
            return Err(ToolboxError::conflict(format!(
                "command {} does not take input: only commands run with runAsync keep their stdin open",
                command.id
            )));
        };
        (stdin.try_clone().map_err(|e| ToolboxError::internal(&e))?, !state.suppress_echo)
    };
    // The echo goes into the log before the command can see the input, so it always precedes
    // whatever the command prints in answer.
    if echo {
        command.append(0, &line);
    }
    // A command that does not read its input fills the pipe; the write then waits on a
    // blocking thread, never under the lock or on an async worker.
    tokio::task::spawn_blocking(move || writer.write_all(&line))
        .await
        .map_err(|e| ToolboxError::internal(&e))?
        .map_err(|e| ToolboxError::conflict(format!("the command stopped reading input: {e}")))?;
    Ok(StatusCode::NO_CONTENT)
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

/// A named path parameter (the router guarantees it exists).
fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}
