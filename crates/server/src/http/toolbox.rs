//! The bridge to the toolbox crate: resolves `/toolbox/{sandboxId}/...` to a running sandbox of
//! the caller's organization, records the activity, and hands the toolbox a `Target`.

use super::error::ApiError;
use super::AppState;
use crate::model::Organization;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sandbar_api::SandboxState;
use sandbar_toolbox::Target;

/// Middleware in front of every toolbox route.
pub async fn resolve_target(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let org = request
        .extensions()
        .get::<Organization>()
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("missing API key: send Authorization: Bearer <key>"))?;
    let id = uri.path().strip_prefix("/toolbox/").and_then(|rest| rest.split('/').next()).unwrap_or_default();
    // Toolbox traffic is activity: it postpones auto-stop.
    let row = state.plane.touch(&org, id).await?;
    if row.state != SandboxState::Started {
        return Err(crate::service::ServiceError::Conflict(format!(
            "sandbox {} is {}; start it before using the toolbox",
            row.id,
            row.state.as_str()
        ))
        .into());
    }
    let home = if row.user == "root" { "/root".to_string() } else { format!("/home/{}", row.user) };
    let target = Target {
        runtime: state.plane.node().local_runtime().ok_or_else(|| {
            ApiError::unavailable(format!("sandbox {}'s toolbox is not served by this server's node", row.id))
        })?,
        id: sandbar_runtime::SandboxId::new(row.id.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?,
        user: row.user.clone(),
        workdir: home.clone(),
        home,
        language: row.labels.get("code-toolbox-language").cloned(),
        sessions: std::sync::Arc::clone(&state.sessions),
        ptys: std::sync::Arc::clone(&state.ptys),
        interpreters: std::sync::Arc::clone(&state.interpreters),
        warm: std::sync::Arc::clone(&state.warm),
    };
    request.extensions_mut().insert(target);
    Ok(next.run(request).await)
}
