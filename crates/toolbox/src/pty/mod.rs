//! PTY sessions (`shared/daytona-wire.md` §4.4): an interactive login shell on a terminal inside
//! the sandbox, attached over WebSockets by any number of clients at once.
//!
//! The shell starts when the session is created; everything it prints is kept in a bounded
//! backlog, so output written before the first client connects is not lost, and every client
//! that attaches later sees it too. Output goes to clients as binary frames, control messages as
//! text JSON (G13); the close code says how the shell ended (G14).

use crate::error::parse_json;
use crate::registry::{Key, Registry};
use crate::{Target, ToolboxError};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sandbar_api::toolbox::pty::{
    PtyControl, PtyCreateConnectQuery, PtyCreateRequest, PtyCreateResponse, PtyExit, PtyListResponse, PtyResizeRequest,
    PtySessionInfo, PtyStatus,
};
use sandbar_api::Message as MessageBody;
use sandbar_runtime::{ExecSpec, ExecStdio};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// Most output kept for clients that attach later.
const BACKLOG_BYTES: usize = 1 << 20;
const EXIT_CONTROL: &str = "X-Daytona-Pty-Exit-Control";
const ENVS_PREFIX: &str = "X-Daytona-Pty-Envs~";

/// Every PTY session, keyed by (sandbox, init pid, id) like sessions.
#[derive(Default)]
pub struct Ptys {
    table: Registry<PtySession>,
}

struct PtySession {
    id: String,
    cwd: String,
    envs: BTreeMap<String, String>,
    created_at: String,
    pid: i32,
    size: Mutex<(u16, u16)>,
    master: Mutex<std::fs::File>,
    backlog: Mutex<Vec<u8>>,
    output: broadcast::Sender<Vec<u8>>,
    /// `None` while the shell runs, then its exit code.
    exit: watch::Sender<Option<i32>>,
}

impl PtySession {
    fn info(&self) -> PtySessionInfo {
        let (cols, rows) = *self.size.lock().unwrap_or_else(|p| p.into_inner());
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
}

fn find(target: &Target, id: &str) -> Result<Arc<PtySession>, ToolboxError> {
    target.ptys.table.get(&Key::new(target, id)?).ok_or_else(|| ToolboxError {
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND",
        message: format!("pty session {id:?} not found"),
    })
}

/// Starts the shell and registers the session; 409 for a used id.
async fn start(target: &Target, request: PtyCreateRequest) -> Result<Arc<PtySession>, ToolboxError> {
    let id = request.id.clone();
    if id.is_empty() || id.len() > 128 || id.contains('/') {
        return Err(ToolboxError::bad_request(format!("pty id {id:?} must be 1-128 characters without '/'")));
    }
    let (cols, rows) = (request.cols.unwrap_or(80), request.rows.unwrap_or(24));
    if !(1..=1000).contains(&cols) || !(1..=1000).contains(&rows) {
        return Err(ToolboxError::bad_request(format!("pty size {cols}x{rows} must be within 1..1000")));
    }
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
    let session = Arc::new(PtySession {
        id: id.clone(),
        cwd,
        envs,
        created_at: crate::error::now(),
        pid: process.pid,
        size: Mutex::new((cols, rows)),
        master: Mutex::new(pty.master),
        backlog: Mutex::new(Vec::new()),
        output: broadcast::channel(1024).0,
        exit: watch::channel(None).0,
    });
    if !target.ptys.table.insert_new(key.clone(), Arc::clone(&session)) {
        let _ = process.kill(libc::SIGKILL, true);
        return Err(ToolboxError::conflict(format!("pty session {id:?} already exists")));
    }
    let pumped = Arc::clone(&session);
    let ptys = Arc::clone(&target.ptys);
    std::thread::Builder::new()
        .name(format!("pty-{id}"))
        .spawn(move || pump(pumped, reader, process, ptys, key))
        .map_err(|e| ToolboxError::internal(&e))?;
    Ok(session)
}

/// Copies terminal output to the backlog and the attached clients until the shell ends, then
/// records the exit code and forgets the session.
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
            Ok(n) => {
                let chunk = buffer[..n].to_vec();
                {
                    let mut backlog = session.backlog.lock().unwrap_or_else(|p| p.into_inner());
                    backlog.extend_from_slice(&chunk);
                    let excess = backlog.len().saturating_sub(BACKLOG_BYTES);
                    backlog.drain(..excess);
                }
                let _ = session.output.send(chunk);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the last holder of the terminal's slave side is gone.
            Err(_) => break,
        }
    }
    let code = process.wait().map(|status| status.shell_code()).unwrap_or(-1);
    ptys.table.remove(&key);
    session.exit.send_replace(Some(code));
}

/// `POST /process/pty` → 201 `{"sessionId"}`.
pub(crate) async fn create(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: PtyCreateRequest = parse_json(&body)?;
    let session = start(&target, request).await?;
    Ok((StatusCode::CREATED, Json(PtyCreateResponse { session_id: session.id.clone() })).into_response())
}

/// `GET /process/pty`.
pub(crate) async fn list(Extension(target): Extension<Target>) -> Result<Json<PtyListResponse>, ToolboxError> {
    let mut sessions = target.ptys.table.list(&target)?;
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(PtyListResponse { sessions: sessions.iter().map(|s| s.info()).collect() }))
}

/// `GET /process/pty/{id}`.
pub(crate) async fn info(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<PtySessionInfo>, ToolboxError> {
    Ok(Json(find(&target, param(&params))?.info()))
}

/// `POST /process/pty/{id}/resize` → 200 PtySessionInfo.
pub(crate) async fn resize(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Json<PtySessionInfo>, ToolboxError> {
    let request: PtyResizeRequest = parse_json(&body)?;
    if !(1..=1000).contains(&request.cols) || !(1..=1000).contains(&request.rows) {
        return Err(ToolboxError::bad_request(format!(
            "pty size {}x{} must be within 1..1000",
            request.cols, request.rows
        )));
    }
    let session = find(&target, param(&params))?;
    let master = session.master.lock().unwrap_or_else(|p| p.into_inner());
    let copy = master.try_clone().map_err(|e| ToolboxError::internal(&e))?;
    drop(master);
    sandbar_runtime::Pty { master: copy }.resize(request.rows, request.cols).map_err(|e| ToolboxError::internal(&e))?;
    *session.size.lock().unwrap_or_else(|p| p.into_inner()) = (request.cols, request.rows);
    Ok(Json(session.info()))
}

/// `DELETE /process/pty/{id}` → 200 with a JSON object (G18): kills the shell's process group.
pub(crate) async fn kill(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<MessageBody>, ToolboxError> {
    let session = find(&target, param(&params))?;
    let _ = target.runtime.kill(&target.id, session.pid, libc::SIGKILL, true);
    Ok(Json(MessageBody::new(format!("pty session {} killed", session.id))))
}

/// `GET /process/pty/{id}/connect` (WebSocket).
pub(crate) async fn connect(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ToolboxError> {
    let session = find(&target, param(&params))?;
    let exit_control = protocols(&headers).iter().any(|p| p == EXIT_CONTROL);
    Ok(upgrade.protocols([EXIT_CONTROL]).on_upgrade(move |socket| attach(socket, session, exit_control)))
}

/// `GET /process/pty/create-connect?id=&cols=&rows=[&cwd=]` (WebSocket, SDK 0.226): creates the
/// session (envs come in a subprotocol) and attaches in one round trip.
pub(crate) async fn create_connect(
    Extension(target): Extension<Target>,
    Query(query): Query<PtyCreateConnectQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ToolboxError> {
    let offered = protocols(&headers);
    let exit_control = offered.iter().any(|p| p == EXIT_CONTROL);
    let mut envs = None;
    for protocol in &offered {
        if let Some(encoded) = protocol.strip_prefix(ENVS_PREFIX) {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .map_err(|e| ToolboxError::bad_request(format!("envs subprotocol is not base64url: {e}")))?;
            envs = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ToolboxError::bad_request(format!("envs subprotocol is not a JSON object: {e}")))?,
            );
        }
    }
    let request =
        PtyCreateRequest { id: query.id, cwd: query.cwd, envs, cols: query.cols, rows: query.rows, lazy_start: None };
    let session = start(&target, request).await?;
    Ok(upgrade.protocols([EXIT_CONTROL]).on_upgrade(move |socket| attach(socket, session, exit_control)))
}

fn protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn param(params: &HashMap<String, String>) -> &str {
    params.get("pty").map(String::as_str).unwrap_or_default()
}

/// One attached client: backlog first, then live output; its keystrokes go to the terminal.
async fn attach(mut socket: WebSocket, session: Arc<PtySession>, exit_control: bool) {
    if socket.send(control(PtyStatus::Connected)).await.is_err() {
        return;
    }
    let mut output = session.output.subscribe();
    let backlog = session.backlog.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if !backlog.is_empty() && socket.send(Message::Binary(backlog.into())).await.is_err() {
        return;
    }
    let mut exit = session.exit.subscribe();
    loop {
        let exited = *exit.borrow();
        if let Some(code) = exited {
            // Output the pump broadcast before it recorded the exit is still queued here.
            while let Ok(chunk) = output.try_recv() {
                let _ = socket.send(Message::Binary(chunk.into())).await;
            }
            finish(socket, code, exit_control).await;
            return;
        }
        tokio::select! {
            chunk = output.recv() => match chunk {
                Ok(chunk) => if socket.send(Message::Binary(chunk.into())).await.is_err() { return },
                // A slow client skips what it missed rather than stalling the others.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {}
            },
            changed = exit.changed() => if changed.is_err() { return },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(bytes))) => write_input(&session, &bytes),
                Some(Ok(Message::Text(text))) => write_input(&session, text.as_bytes()),
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

fn write_input(session: &PtySession, bytes: &[u8]) {
    let mut master = session.master.lock().unwrap_or_else(|p| p.into_inner());
    let _ = master.write_all(bytes);
}

/// Tells the client how the shell ended: an `exited` control message (with the exit-control
/// subprotocol), then close 1000 for exit 0 or 1011 with the exit code as JSON (G14).
async fn finish(mut socket: WebSocket, code: i32, exit_control: bool) {
    let reason = match code {
        0 => None,
        130 => Some("Ctrl+C".to_string()),
        137 => Some("SIGKILL".to_string()),
        143 => Some("SIGTERM".to_string()),
        n if n > 128 => Some(format!("signal {}", n - 128)),
        _ => Some("non-zero exit".to_string()),
    };
    if exit_control {
        let _ = socket.send(control(PtyStatus::Exited { exit_code: code, exit_reason: reason.clone() })).await;
    }
    let frame = if code == 0 {
        CloseFrame { code: 1000, reason: "".into() }
    } else {
        let body = PtyExit { exit_code: code, exit_reason: reason };
        CloseFrame { code: 1011, reason: to_text(&body).into() }
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// A control message as a text frame (G13).
fn control(status: PtyStatus) -> Message {
    Message::Text(to_text(&PtyControl::new(status)).into())
}

/// JSON text of a wire type (these serialise infallibly: plain strings and numbers).
fn to_text<T: serde::Serialize>(body: &T) -> String {
    serde_json::to_string(body).unwrap_or_default()
}
