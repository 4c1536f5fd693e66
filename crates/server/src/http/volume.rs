//! `/api/volumes...` handlers.

use super::error::ApiError;
use super::extract::ApiJson;
use super::AppState;
use crate::dto;
use crate::model::Organization;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use sandbar_api::{CreateVolume, Message, Volume};

/// `POST /api/volumes` → 200.
pub async fn create(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    ApiJson(body): ApiJson<CreateVolume>,
) -> Result<Json<Volume>, ApiError> {
    let row = state.plane.create_volume(&org, body.name).await?;
    Ok(Json(dto::volume(&row, state.plane.target())))
}

/// `GET /api/volumes`.
pub async fn list(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
) -> Result<Json<Vec<Volume>>, ApiError> {
    let rows = state.plane.list_volumes(&org).await?;
    Ok(Json(rows.iter().map(|row| dto::volume(row, state.plane.target())).collect()))
}

/// `GET /api/volumes/by-name/{name}`.
pub async fn get_by_name(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(name): Path<String>,
) -> Result<Json<Volume>, ApiError> {
    let row = state.plane.get_volume(&org, &name).await?;
    Ok(Json(dto::volume(&row, state.plane.target())))
}

/// `GET /api/volumes/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<Json<Volume>, ApiError> {
    let row = state.plane.get_volume(&org, &id).await?;
    Ok(Json(dto::volume(&row, state.plane.target())))
}

/// `DELETE /api/volumes/{id}`: 409 while mounted.
pub async fn delete(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<Json<Message>, ApiError> {
    state.plane.delete_volume(&org, &id).await?;
    Ok(Json(Message::new("volume deleted")))
}
