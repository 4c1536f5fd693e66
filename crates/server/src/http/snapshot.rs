//! `/api/snapshots...` handlers. The default image is the general snapshot `default`.

use super::error::ApiError;
use super::extract::{page_offset, query_pairs, ApiJson};
use super::AppState;
use crate::dto;
use crate::model::Organization;
use crate::service::ServiceError;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use sandbar_api::{CreateSnapshot, Message, PaginatedSnapshots, Snapshot};

/// `GET /api/snapshots?page=&limit=`.
pub async fn list(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    RawQuery(query): RawQuery,
) -> Result<Json<PaginatedSnapshots>, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let int = |key: &str, default: i64| -> Result<i64, ApiError> {
        match pairs.iter().rev().find(|(k, _)| k == key) {
            None => Ok(default),
            Some((_, v)) => v.parse().map_err(|_| ApiError::bad_request(format!("{key} {v:?} must be an integer"))),
        }
    };
    let (page, limit) = (int("page", 1)?, int("limit", 100)?);
    if page < 1 || !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("page must be 1 or more and limit between 1 and 200"));
    }
    let mut rows = state.plane.list_snapshots(&org).await?;
    // SDK 0.226's `snapshot.list(source_sandbox_id=...)`: the snapshots made from that sandbox.
    if let Some((_, source)) = pairs.iter().rev().find(|(k, _)| k == "sourceSandboxId").filter(|(_, v)| !v.is_empty()) {
        rows.retain(|row| row.source_sandbox_id.as_deref() == Some(source.as_str()));
    }
    let total = rows.len() as i64;
    let items = rows.iter().skip(page_offset(page, limit)).take(limit as usize).map(dto::snapshot).collect();
    Ok(Json(PaginatedSnapshots { items, total, page, total_pages: (total + limit - 1) / limit }))
}

/// `GET /api/snapshots/{idOrName}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<Json<Snapshot>, ApiError> {
    Ok(Json(dto::snapshot(&state.plane.get_snapshot(&org, &id).await?)))
}

/// `POST /api/snapshots`: Sandbar cannot pull or build images yet, so any image is "not
/// available locally" (400 naming it) until the images work lands.
pub async fn create(
    State(_state): State<AppState>,
    Extension(_org): Extension<Organization>,
    ApiJson(body): ApiJson<CreateSnapshot>,
) -> Result<Json<Snapshot>, ApiError> {
    let name = body.name.ok_or_else(|| ApiError::bad_request("snapshot name is required"))?;
    let image = body
        .image_name
        .or_else(|| body.build_info.and_then(|b| b.dockerfile_content).map(|_| "a Dockerfile build".to_string()))
        .ok_or_else(|| ApiError::bad_request("imageName or buildInfo is required"))?;
    Err(ServiceError::Invalid(format!(
        "cannot create snapshot {name:?}: image {image:?} is not available locally and Sandbar cannot pull or build images yet"
    ))
    .into())
}

/// `POST /api/snapshots/{id}/activate`: every stored snapshot is active.
pub async fn activate(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<Json<Snapshot>, ApiError> {
    Ok(Json(dto::snapshot(&state.plane.get_snapshot(&org, &id).await?)))
}

/// `DELETE /api/snapshots/{id}`: an organization's own, unused snapshots only.
pub async fn delete(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<Json<Message>, ApiError> {
    state.plane.delete_snapshot(&org, &id).await?;
    Ok(Json(Message::new("snapshot deleted")))
}
