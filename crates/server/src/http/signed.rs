//! Signed file URLs in place of an API key: `GET /toolbox/{id}/files/download` and
//! `POST /toolbox/{id}/files/upload-v2` with `path`, `expires` and `signature` in the query are
//! let through when the signature matches the sandbox's signing key (see `crate::signing`). A
//! request that carries an `Authorization` header is authenticated by its key as usual.

use super::error::ApiError;
use super::AppState;
use crate::signing;
use axum::extract::{OriginalUri, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Marks a request whose signed URL was checked; `auth::require_key` then asks for no key.
#[derive(Clone, Copy, Debug)]
pub struct SignedUrl;

/// Middleware in front of the toolbox routes.
pub async fn accept_signed_url(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.headers().contains_key(axum::http::header::AUTHORIZATION) {
        return Ok(next.run(request).await);
    }
    let query: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let value = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(signature) = value("signature") else {
        return Ok(next.run(request).await);
    };
    let rest = uri.path().strip_prefix("/toolbox/").unwrap_or_default();
    let (sandbox_id, operation) = rest.split_once('/').unwrap_or((rest, ""));
    let signable =
        matches!((request.method(), operation), (&Method::GET, "files/download") | (&Method::POST, "files/upload-v2"));
    if !signable {
        return Err(ApiError::unauthorized(format!(
            "{} /{operation} cannot be called through a signed URL; send Authorization: Bearer <key>",
            request.method()
        )));
    }
    let path = value("path").ok_or_else(|| ApiError::bad_request("signed URL has no path parameter"))?;
    let expires = value("expires").ok_or_else(|| ApiError::unauthorized("signed URL has no expires parameter"))?;
    let (org, key) = state
        .plane
        .signing_key_by_id(sandbox_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized(format!("sandbox {sandbox_id} has no signing key for this URL")))?;
    let now = state.plane.clock_now().unix_timestamp();
    signing::verify(&key, request.method().as_str(), path, expires, signature, now)
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    // Signed URLs share one request budget per sandbox, as keys have one per key.
    if !state.limiter.allow(&format!("signed-url:{sandbox_id}")) {
        return Err(ApiError::rate_limited());
    }
    request.extensions_mut().insert(org);
    request.extensions_mut().insert(SignedUrl);
    Ok(next.run(request).await)
}
