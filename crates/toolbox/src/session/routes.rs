//! The session routes: JSON over HTTP, and the `follow` WebSocket that streams a command's log
//! (binary frames, markers kept) and closes 1000 when the command ended.

use super::command::{Command, InputRefused};
use super::log::Stream;
use super::{reserved, CommandRequest};
use crate::error::parse_json;
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
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

type Upgrade = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// `POST /process/session` → 201; 409 if it exists.
pub(crate) async fn create(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ToolboxError> {
    let request: CreateSessionRequest = parse_json(&body)?;
    target.sessions.create(&target, &request.session_id)?;
    Ok(StatusCode::CREATED)
}

/// `GET /process/session`.
pub(crate) async fn list(Extension(target): Extension<Target>) -> Result<Json<Vec<SessionInfo>>, ToolboxError> {
    Ok(Json(target.sessions.list(&target)?))
}

/// `GET /process/session/{id}`.
pub(crate) async fn get(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<SessionInfo>, ToolboxError> {
    Ok(Json(target.sessions.describe(&target, param(&params, "session"))?))
}

/// `DELETE /process/session/{id}` → 204; its running commands are killed.
pub(crate) async fn delete(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, ToolboxError> {
    target.sessions.delete(&target, param(&params, "session"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /process/session/{id}/exec`: sync → 200 with the output; async → 202 with the id.
pub(crate) async fn exec(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let session = param(&params, "session");
    // The reserved session is refused before the body is read, as always.
    reserved(session, "run commands")?;
    let request: SessionExecuteRequest = parse_json(&body)?;
    let run_async = request.run_async.or(request.deprecated_async).unwrap_or(false);
    let start = CommandRequest {
        command: request.command,
        run_async,
        suppress_echo: request.suppress_input_echo.unwrap_or(false),
    };
    let command = target.sessions.exec(&target, session, start).await?;
    if run_async {
        let accepted = SessionExecuteResponse {
            cmd_id: command.id.clone(),
            output: None,
            stdout: None,
            stderr: None,
            exit_code: None,
        };
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    }
    command.wait().await;
    let done = command.snapshot();
    Ok(Json(SessionExecuteResponse {
        cmd_id: command.id.clone(),
        output: Some(String::from_utf8_lossy(&done.log).into_owned()),
        stdout: Some(done.stdout),
        stderr: Some(done.stderr),
        exit_code: done.exit_code,
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
    upgrade: Upgrade,
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
    upgrade: Upgrade,
) -> Result<Response, ToolboxError> {
    logs_of(target.sessions.entrypoint(&target)?, query, upgrade)
}

fn logs_of(command: Arc<Command>, query: SessionLogsQuery, upgrade: Upgrade) -> Result<Response, ToolboxError> {
    match (query.follow, upgrade.ok()) {
        (true, Some(upgrade)) => Ok(upgrade.on_upgrade(move |socket| follow(socket, command))),
        (true, None) => Err(ToolboxError::bad_request("follow=true needs a WebSocket upgrade")),
        (false, _) => {
            let log = command.snapshot();
            let output = String::from_utf8_lossy(&log.log).into_owned();
            Ok(Json(SessionCommandLogsResponse { output, stdout: log.stdout, stderr: log.stderr }).into_response())
        }
    }
}

async fn follow(mut socket: WebSocket, command: Arc<Command>) {
    let mut follower = command.follow();
    loop {
        tokio::select! {
            chunk = follower.next() => match chunk {
                Some(chunk) => if socket.send(Message::Binary(chunk.into())).await.is_err() { return },
                None => {
                    let frame = CloseFrame { code: 1000, reason: "command finished".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
            },
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
    let (writer, echo) = match command.input()? {
        Ok(input) => input,
        Err(InputRefused::Completed) => {
            return Err(ToolboxError {
                status: StatusCode::GONE,
                code: "COMMAND_ALREADY_COMPLETED",
                message: format!("command {} already completed", command.id),
            })
        }
        Err(InputRefused::NoStdin) => {
            return Err(ToolboxError::conflict(format!(
                "command {} does not take input: only commands run with runAsync keep their stdin open",
                command.id
            )))
        }
    };
    // The echo goes into the log before the command can see the input, so it always precedes
    // whatever the command prints in answer.
    if echo {
        command.append(Stream::Stdout, &line);
    }
    // A command that does not read its input fills the pipe; the write then waits as a task
    // (an async pipe), never under the lock and never holding a thread: many such calls cannot
    // use up the blocking pool. A client that gives up drops the wait.
    let stopped = |e: std::io::Error| ToolboxError::conflict(format!("the command stopped reading input: {e}"));
    let mut writer = tokio::net::unix::pipe::Sender::from_file(writer).map_err(stopped)?;
    writer.write_all(&line).await.map_err(stopped)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A named path parameter (the router guarantees it exists).
fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}
