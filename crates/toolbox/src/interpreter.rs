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
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

const DRIVER: &str = include_str!("interpreter_driver.py");
const DEFAULT_CONTEXT: &str = "default";
/// The reference interpreter's default run timeout: 10 minutes.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
const CLOSE_TIMEOUT: u16 = 4008;
/// Longest event line read from a driver. The driver cuts output into events far below it, so
/// only bytes written around it (straight to fd 1) can be longer: such a line is dropped, never
/// held, and the run's stderr says so.
const MAX_EVENT_LINE: usize = 1 << 20;
/// Events queued between a driver and the run that forwards them.
const EVENT_QUEUE: usize = 64;
/// What a run's stderr gets in place of a dropped line.
const DROPPED_LINE: &str = "[sandbar: an interpreter output line longer than 1 MiB was dropped]\n";

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
    events: tokio::sync::Mutex<mpsc::Receiver<InterpreterMessage>>,
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
    let (sender, mut receiver) = mpsc::channel(EVENT_QUEUE);
    let pid = process.pid;
    let stdout = tokio::net::unix::pipe::Receiver::from_file(stdout).map_err(|e| ToolboxError::internal(&e))?;
    // No thread per context: the pipe is read on the async runtime, one bounded line at a time,
    // and a full queue makes the driver wait instead of the server buffering its output.
    tokio::spawn(async move {
        pump(tokio::io::BufReader::new(stdout), &sender).await;
        // The driver ended: reap it; the closed channel tells waiting runs.
        drop(sender);
        let _ = tokio::task::spawn_blocking(move || process.wait()).await;
    });
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

/// Reads the driver's event lines into `sender` until the driver's stdout ends or no run
/// listens any more. Lines that are not events are skipped; an over-long one becomes a stderr
/// event saying it was dropped.
async fn pump(mut reader: impl AsyncBufRead + Unpin, sender: &mpsc::Sender<InterpreterMessage>) {
    let mut line = Vec::new();
    loop {
        let event = match read_line(&mut reader, &mut line, MAX_EVENT_LINE).await {
            Ok(Some(true)) => match serde_json::from_slice::<InterpreterMessage>(&line) {
                Ok(event) => event,
                Err(_) => continue,
            },
            Ok(Some(false)) => InterpreterMessage {
                kind: InterpreterMessageType::Stderr,
                text: Some(DROPPED_LINE.to_string()),
                name: None,
                value: None,
                traceback: None,
            },
            Ok(None) | Err(_) => return,
        };
        if sender.send(event).await.is_err() {
            return;
        }
    }
}

/// Reads one line (without its newline) into `line`, keeping at most `limit` bytes: answers
/// `Some(true)` for a line that fits, `Some(false)` for one that did not (read to its end and
/// dropped), `None` at the end of the input.
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Option<bool>> {
    line.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((too_long || !line.is_empty()).then_some(!too_long));
        }
        let (piece, used, ended) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long && line.len() + piece.len() > limit {
            too_long = true;
            *line = Vec::new();
        }
        if !too_long {
            line.extend_from_slice(piece);
        }
        reader.consume(used);
        if ended {
            return Ok(Some(!too_long));
        }
    }
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
    // A timeout past what an Instant can hold is no deadline at all.
    let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn event_line(kind: &str, text: &str) -> Vec<u8> {
        format!("{}\n", serde_json::json!({"type": kind, "text": text})).into_bytes()
    }

    #[tokio::test]
    async fn an_endless_line_is_dropped_without_being_held_and_the_run_is_told() {
        // 16 MiB without a newline between two events, then 8 MiB that never end: the reader
        // holds at most the limit at any time and goes on with the next line.
        let input = std::io::Cursor::new(event_line("stdout", "one"))
            .chain(tokio::io::repeat(b'a').take(16 << 20))
            .chain(std::io::Cursor::new(b"\n".to_vec()))
            .chain(std::io::Cursor::new(event_line("stdout", "two")))
            .chain(tokio::io::repeat(b'b').take(8 << 20));
        let (sender, mut receiver) = mpsc::channel(EVENT_QUEUE);
        pump(tokio::io::BufReader::new(input), &sender).await;
        drop(sender);
        let mut texts = Vec::new();
        while let Some(event) = receiver.recv().await {
            texts.push((event.kind, event.text.unwrap_or_default()));
        }
        let dropped = (InterpreterMessageType::Stderr, DROPPED_LINE.to_string());
        assert_eq!(
            texts,
            vec![
                (InterpreterMessageType::Stdout, "one".to_string()),
                dropped.clone(),
                (InterpreterMessageType::Stdout, "two".to_string()),
                dropped,
            ]
        );
    }

    #[tokio::test]
    async fn a_line_keeps_at_most_the_limit_in_memory() {
        let mut line = Vec::new();
        let mut fits = tokio::io::BufReader::new(std::io::Cursor::new(vec![b'x'; 1000]).chain(&b"\nrest"[..]));
        assert_eq!(read_line(&mut fits, &mut line, 1000).await.unwrap(), Some(true));
        assert_eq!(line.len(), 1000);
        assert_eq!(read_line(&mut fits, &mut line, 1000).await.unwrap(), Some(true), "a last line without newline");
        assert_eq!(line, b"rest");
        assert_eq!(read_line(&mut fits, &mut line, 1000).await.unwrap(), None);
        let mut long = tokio::io::BufReader::new(tokio::io::repeat(b'y').take(4 << 20).chain(&b"\nnext\n"[..]));
        assert_eq!(read_line(&mut long, &mut line, 1000).await.unwrap(), Some(false));
        assert!(line.capacity() <= 1000, "{} bytes kept of a dropped line", line.capacity());
        assert_eq!(read_line(&mut long, &mut line, 1000).await.unwrap(), Some(true));
        assert_eq!(line, b"next");
    }

    #[test]
    fn the_driver_cuts_big_output_into_events_below_the_line_limit() {
        use std::io::BufRead;
        let mut driver = std::process::Command::new("python3")
            .args(["-u", "-c", DRIVER])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the interpreter driver");
        // Every character of the second print takes 12 bytes once JSON-escaped (a surrogate
        // pair), the worst case; the exception's message is 1 MiB.
        let code =
            "print('é' * (1 << 20), end='')\nprint('\\U0001F600' * (1 << 18))\nraise ValueError('v' * (1 << 20))";
        let request = serde_json::json!({"code": code});
        writeln!(driver.stdin.as_mut().unwrap(), "{request}").unwrap();
        let (mut stdout, mut error) = (String::new(), None);
        for line in std::io::BufReader::new(driver.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            assert!(line.len() < MAX_EVENT_LINE, "an event line of {} bytes", line.len());
            let event: InterpreterMessage = serde_json::from_str(&line).unwrap();
            match event.kind {
                InterpreterMessageType::Stdout => stdout.push_str(&event.text.unwrap()),
                InterpreterMessageType::Error => error = Some(event),
                InterpreterMessageType::Control if event.text.as_deref() == Some("ready") => {}
                InterpreterMessageType::Control => break,
                InterpreterMessageType::Stderr => {}
            }
        }
        let _ = driver.kill();
        let _ = driver.wait();
        let expected = format!("{}{}\n", "é".repeat(1 << 20), "\u{1F600}".repeat(1 << 18));
        assert!(stdout == expected, "the pieces join to the output ({} of {} bytes)", stdout.len(), expected.len());
        let error = error.expect("the exception is reported");
        assert_eq!(error.name.as_deref(), Some("ValueError"));
        let value = error.value.unwrap();
        assert!(value.starts_with("vvvv") && value.ends_with("more characters cut]"), "{}", &value[value.len() - 60..]);
    }
}
