//! The code interpreter (`shared/daytona-wire.md` §4.5): stateful Python contexts, run over a
//! WebSocket that streams stdout, stderr and errors and closes 1000 (done) or 4008 (timeout).
//!
//! Each context is one long-lived `python3` running `interpreter_driver.py` inside the sandbox
//! as its user; globals persist between runs. A timeout sends SIGINT, which interrupts the code
//! but keeps the context and its state.

use crate::error::parse_json;
use crate::registry::{Key, Registry};
use crate::{Target, ToolboxError};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use sandbar_api::toolbox::interpreter::{
    CreateContextRequest, InterpreterContext, InterpreterExecuteRequest, InterpreterMessage, InterpreterMessageType,
    ListContextsResponse,
};
use sandbar_api::Message as MessageBody;
use sandbar_runtime::{ExecSpec, ExecStdio};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const DRIVER: &str = include_str!("interpreter_driver.py");
const DEFAULT_CONTEXT: &str = "default";
/// The reference interpreter's default run timeout: 10 minutes.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
const CLOSE_TIMEOUT: u16 = 4008;

/// Every interpreter context, keyed like sessions by (sandbox, init pid, id).
#[derive(Default)]
pub struct Interpreters {
    table: Registry<Context>,
}

struct Context {
    id: String,
    cwd: String,
    created_at: String,
    pid: i32,
    stdin: Mutex<std::fs::File>,
    /// Events of the driver; holding the lock means running code in this context.
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<InterpreterMessage>>,
}

impl Context {
    fn describe(&self) -> InterpreterContext {
        InterpreterContext {
            id: self.id.clone(),
            cwd: self.cwd.clone(),
            created_at: self.created_at.clone(),
            active: true,
            language: "python".to_string(),
        }
    }
}

/// Starts a context's Python and waits until it is ready.
async fn start(target: &Target, id: String, cwd: Option<String>) -> Result<Arc<Context>, ToolboxError> {
    let cwd = cwd.filter(|c| !c.is_empty()).unwrap_or_else(|| target.workdir.clone());
    let mut exec = ExecSpec::new(["python3", "-u", "-c", DRIVER]);
    exec.stdio = ExecStdio::Pipes;
    exec.user = Some(target.user.clone());
    exec.cwd = Some(cwd.clone());
    let runtime = Arc::clone(&target.runtime);
    let sandbox = target.id.clone();
    let mut process = tokio::task::spawn_blocking(move || runtime.exec(&sandbox, &exec))
        .await
        .map_err(|e| ToolboxError::internal(&e))?
        .map_err(|e| ToolboxError::bad_request(format!("cannot start python3 for the interpreter: {e}")))?;
    let stdin = process.stdin.take().ok_or_else(|| ToolboxError::bad_request("no stdin for the interpreter"))?;
    let stdout = process.stdout.take().ok_or_else(|| ToolboxError::bad_request("no stdout for the interpreter"))?;
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let pid = process.pid;
    std::thread::Builder::new()
        .name(format!("interpreter-{id}"))
        .spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(event) = serde_json::from_str::<InterpreterMessage>(&line) {
                    if sender.send(event).is_err() {
                        break;
                    }
                }
            }
            // The driver ended: reap it; the closed channel tells waiting runs.
            let _ = process.wait();
        })
        .map_err(|e| ToolboxError::internal(&e))?;
    match tokio::time::timeout(Duration::from_secs(30), receiver.recv()).await {
        Ok(Some(event)) if event.kind == InterpreterMessageType::Control && event.text.as_deref() == Some("ready") => {}
        _ => {
            let _ = target.runtime.kill(&target.id, pid, libc::SIGKILL, true);
            return Err(ToolboxError::bad_request("the python3 interpreter did not start (is python3 in the image?)"));
        }
    }
    Ok(Arc::new(Context {
        id,
        cwd,
        created_at: crate::error::now(),
        pid,
        stdin: Mutex::new(stdin),
        events: tokio::sync::Mutex::new(receiver),
    }))
}

/// `POST /process/interpreter/context {"cwd"?}` → 200 context.
pub(crate) async fn create(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Json<InterpreterContext>, ToolboxError> {
    let request: CreateContextRequest =
        if body.iter().all(u8::is_ascii_whitespace) { CreateContextRequest::default() } else { parse_json(&body)? };
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| ToolboxError::internal(&std::io::Error::other(e.to_string())))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let context = start(&target, id.clone(), request.cwd).await?;
    if !target.interpreters.table.insert_new(Key::new(&target, &id)?, Arc::clone(&context)) {
        let _ = target.runtime.kill(&target.id, context.pid, libc::SIGKILL, true);
        return Err(ToolboxError::conflict(format!("interpreter context {id:?} already exists")));
    }
    Ok(Json(context.describe()))
}

/// `GET /process/interpreter/context` → `{"contexts": [...]}` without the default one.
pub(crate) async fn list(Extension(target): Extension<Target>) -> Result<Json<ListContextsResponse>, ToolboxError> {
    let mut contexts: Vec<InterpreterContext> = target
        .interpreters
        .table
        .list(&target)?
        .iter()
        .filter(|context| context.id != DEFAULT_CONTEXT)
        .map(|context| context.describe())
        .collect();
    contexts.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    Ok(Json(ListContextsResponse { contexts }))
}

/// `DELETE /process/interpreter/context/{id}` → 200 JSON object (G18); 400 for `default`.
pub(crate) async fn delete(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<MessageBody>, ToolboxError> {
    let id = params.get("context").cloned().unwrap_or_default();
    if id == DEFAULT_CONTEXT {
        return Err(ToolboxError::bad_request("the default context cannot be deleted"));
    }
    let context = target.interpreters.table.remove(&Key::new(&target, &id)?).ok_or_else(|| ToolboxError {
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND",
        message: format!("interpreter context {id:?} not found"),
    })?;
    let _ = target.runtime.kill(&target.id, context.pid, libc::SIGKILL, true);
    Ok(Json(MessageBody::new(format!("context {id} deleted"))))
}

/// `GET /process/interpreter/execute` (WebSocket).
pub(crate) async fn execute(Extension(target): Extension<Target>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| run(socket, target))
}

async fn run(mut socket: WebSocket, target: Target) {
    let request: InterpreterExecuteRequest = match socket.recv().await {
        Some(Ok(Message::Text(text))) => match serde_json::from_str(&text) {
            Ok(request) => request,
            Err(e) => return fail(socket, 1003, &format!("invalid request: {e}")).await,
        },
        Some(Ok(Message::Binary(bytes))) => match serde_json::from_slice(&bytes) {
            Ok(request) => request,
            Err(e) => return fail(socket, 1003, &format!("invalid request: {e}")).await,
        },
        _ => return,
    };
    let context_id = request.context_id.clone().unwrap_or_else(|| DEFAULT_CONTEXT.to_string());
    let context = match context_for(&target, &context_id).await {
        Ok(context) => context,
        Err(e) => return fail(socket, 1011, &e.message).await,
    };
    let timeout = match request.timeout {
        Some(0) => None,
        Some(seconds) => Some(Duration::from_secs(seconds)),
        None => Some(DEFAULT_TIMEOUT),
    };
    // The driver reads `code` and `envs` of the request line and ignores the rest.
    let line = serde_json::to_string(&request).unwrap_or_default();
    let mut events = context.events.lock().await;
    // Events of an earlier run that ended abruptly are not this run's.
    while events.try_recv().is_ok() {}
    let written = {
        let mut stdin = sandbar_runtime::lock(&context.stdin);
        writeln!(stdin, "{line}").is_ok()
    };
    if !written {
        forget(&target, &context_id);
        return fail(socket, 1011, "the interpreter context is gone").await;
    }
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut timed_out = false;
    loop {
        let next = match deadline {
            Some(deadline) if !timed_out => tokio::time::timeout_at(deadline, events.recv()).await,
            _ => Ok(tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap_or(None)),
        };
        match next {
            Err(_) => {
                // Interrupt the code, keep the context: the driver answers "interrupted".
                timed_out = true;
                let _ = target.runtime.kill(&target.id, context.pid, libc::SIGINT, false);
            }
            Ok(None) => {
                forget(&target, &context_id);
                if timed_out {
                    break;
                }
                return fail(socket, 1011, "the interpreter context ended").await;
            }
            Ok(Some(event)) => {
                if event.kind == InterpreterMessageType::Control {
                    break;
                }
                let text = serde_json::to_string(&event).unwrap_or_default();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
    }
    let frame = if timed_out {
        CloseFrame { code: CLOSE_TIMEOUT, reason: "execution timed out".into() }
    } else {
        CloseFrame { code: 1000, reason: "".into() }
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn context_for(target: &Target, id: &str) -> Result<Arc<Context>, ToolboxError> {
    let key = Key::new(target, id)?;
    if let Some(context) = target.interpreters.table.get(&key) {
        return Ok(context);
    }
    if id != DEFAULT_CONTEXT {
        return Err(ToolboxError {
            status: StatusCode::NOT_FOUND,
            code: "NOT_FOUND",
            message: format!("context {id:?} not found"),
        });
    }
    let started = start(target, DEFAULT_CONTEXT.to_string(), None).await?;
    let context = target.interpreters.table.get_or_insert(key, Arc::clone(&started));
    if !Arc::ptr_eq(&context, &started) {
        // A concurrent first run started the default context too: keep one Python, not two.
        let _ = target.runtime.kill(&target.id, started.pid, libc::SIGKILL, true);
    }
    Ok(context)
}

fn forget(target: &Target, id: &str) {
    if let Ok(key) = Key::new(target, id) {
        target.interpreters.table.remove(&key);
    }
}

async fn fail(mut socket: WebSocket, code: u16, message: &str) {
    let event = InterpreterMessage::error("InterpreterError", message, "");
    let _ = socket.send(Message::Text(serde_json::to_string(&event).unwrap_or_default().into())).await;
    let reason: String = message.chars().take(120).collect();
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}
