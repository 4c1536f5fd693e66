//! The bridge to the toolbox crate: resolves `/toolbox/{sandboxId}/...` to a running sandbox of
//! the caller's organization (a read, no write: activity is recorded in memory), and hands the
//! toolbox a `Target`.

use super::error::ApiError;
use super::AppState;
use crate::model::Organization;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sandbar_toolbox::Target;
use std::collections::HashMap;

/// Middleware in front of every toolbox route: the sandbox comes from the route's
/// `{sandbox_id}`, the rules (started, home directory, activity) from the control plane.
pub async fn resolve_target(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let org = request
        .extensions()
        .get::<Organization>()
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("missing API key: send Authorization: Bearer <key>"))?;
    let id = params.get("sandbox_id").map(String::as_str).unwrap_or_default();
    let sandbox = state.plane.toolbox_sandbox(&org, id).await?;
    let runtime = state.plane.node().local_runtime().ok_or_else(|| {
        ApiError::unavailable(format!("sandbox {}'s toolbox is not served by this server's node", sandbox.id))
    })?;
    let target = Target {
        runtime,
        id: sandbar_runtime::SandboxId::new(sandbox.id).map_err(|e| ApiError::bad_request(e.to_string()))?,
        user: sandbox.user,
        workdir: sandbox.home.clone(),
        home: sandbox.home,
        language: sandbox.language,
        sessions: std::sync::Arc::clone(&state.sessions),
        ptys: std::sync::Arc::clone(&state.ptys),
        interpreters: std::sync::Arc::clone(&state.interpreters),
        warm: std::sync::Arc::clone(&state.warm),
    };
    request.extensions_mut().insert(target);
    Ok(next.run(request).await)
}
