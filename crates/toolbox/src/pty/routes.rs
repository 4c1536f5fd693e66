//! The PTY routes: create, list, info, resize and kill over JSON, and the two WebSocket entries
//! (`connect`, `create-connect`) that hand the socket to the bridge in `ws.rs`.

use super::session::{check_size, start};
use super::ws::{attach, protocols, ENVS_PREFIX, EXIT_CONTROL};
use crate::error::parse_json;
use crate::{Target, ToolboxError};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sandbar_api::toolbox::pty::{
    PtyCreateConnectQuery, PtyCreateRequest, PtyCreateResponse, PtyListResponse, PtyResizeRequest, PtySessionInfo,
};
use sandbar_api::Message as MessageBody;
use std::collections::HashMap;

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
    let sessions = target.ptys.list(&target)?;
    Ok(Json(PtyListResponse { sessions: sessions.iter().map(|s| s.info()).collect() }))
}

/// `GET /process/pty/{id}`.
pub(crate) async fn info(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<PtySessionInfo>, ToolboxError> {
    Ok(Json(target.ptys.find(&target, param(&params))?.info()))
}

/// `POST /process/pty/{id}/resize` → 200 PtySessionInfo.
pub(crate) async fn resize(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Json<PtySessionInfo>, ToolboxError> {
    let request: PtyResizeRequest = parse_json(&body)?;
    // A bad size is a 400 even for an unknown session, as before the session is looked up.
    check_size(request.cols, request.rows)?;
    let session = target.ptys.find(&target, param(&params))?;
    session.resize(request.cols, request.rows)?;
    Ok(Json(session.info()))
}

/// `DELETE /process/pty/{id}` → 200 with a JSON object (G18): kills the shell's process group.
pub(crate) async fn kill(
    Extension(target): Extension<Target>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<MessageBody>, ToolboxError> {
    let session = target.ptys.find(&target, param(&params))?;
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
    let session = target.ptys.find(&target, param(&params))?;
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

fn param(params: &HashMap<String, String>) -> &str {
    params.get("pty").map(String::as_str).unwrap_or_default()
}
