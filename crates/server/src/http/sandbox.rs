//! `/api/sandbox...` handlers.

use super::error::ApiError;
use super::extract::{page_offset, query_pairs, ApiJson};
use super::AppState;
use crate::dto;
use crate::lifecycle::Command;
use crate::model::Organization;
use crate::service::{Interval, ListQuery};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use sandbar_api::{
    CreateSandbox, CreateSandboxSnapshot, ForkSandbox, Labels, NetworkSettings, PaginatedSandboxes, Sandbox,
    SandboxList, SandboxState, Url,
};

type Reply<T> = Result<Json<T>, ApiError>;

fn one(state: &AppState, row: &crate::model::SandboxRow) -> Json<Sandbox> {
    Json(dto::sandbox(row, state.plane.toolbox_url()))
}

/// Runs an operation that changes a sandbox's state to its end on its own task. axum drops a
/// handler's future when the client disconnects; an operation dropped between its transitional
/// state and its result would leave the sandbox `creating` or `stopping` until a restart.
async fn to_completion<F>(
    state: &AppState,
    org: &Organization,
    operation: impl FnOnce(std::sync::Arc<crate::service::ControlPlane>, Organization) -> F,
) -> Reply<Sandbox>
where
    F: std::future::Future<Output = Result<crate::model::SandboxRow, crate::service::ServiceError>> + Send + 'static,
{
    let task = operation(std::sync::Arc::clone(&state.plane), org.clone());
    let row = match tokio::spawn(task).await {
        Ok(result) => result?,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    };
    Ok(one(state, &row))
}

/// `POST /api/sandbox` → 200 (G1, G7), already `started`.
pub async fn create(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    ApiJson(body): ApiJson<CreateSandbox>,
) -> Reply<Sandbox> {
    to_completion(&state, &org, |plane, org| async move { plane.create(&org, body).await }).await
}

/// `GET /api/sandbox/{idOrName}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Sandbox> {
    let row = state.plane.get(&org, &id).await?;
    Ok(one(&state, &row))
}

/// `GET /api/sandbox`: cursor pages.
pub async fn list(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    RawQuery(query): RawQuery,
) -> Reply<SandboxList> {
    let query = parse_list_query(query.as_deref())?;
    let (rows, next_cursor) = state.plane.list(&org, &query).await?;
    let items = rows.iter().map(|row| dto::sandbox(row, state.plane.toolbox_url())).collect();
    Ok(Json(SandboxList { items, next_cursor }))
}

/// `GET /api/sandbox/paginated`: page numbers (SDKs before 0.180).
pub async fn list_paginated(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    RawQuery(query): RawQuery,
) -> Reply<PaginatedSandboxes> {
    let pairs = query_pairs(query.as_deref());
    let page = number(&pairs, "page")?.unwrap_or(1);
    let mut list_query = parse_list_query(query.as_deref())?;
    let limit = list_query.limit.take().unwrap_or(100);
    if page < 1 || !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("page must be 1 or more and limit between 1 and 200"));
    }
    let rows = state.plane.list_all(&org, &list_query).await?;
    let total = rows.len() as i64;
    let items = rows
        .iter()
        .skip(page_offset(page, limit))
        .take(limit as usize)
        .map(|row| dto::sandbox(row, state.plane.toolbox_url()))
        .collect();
    Ok(Json(PaginatedSandboxes { items, total, page, total_pages: (total + limit - 1) / limit }))
}

async fn command(state: &AppState, org: &Organization, id: &str, command: Command, force: bool) -> Reply<Sandbox> {
    let id = id.to_string();
    to_completion(state, org, |plane, org| async move { plane.command(&org, &id, command, force).await }).await
}

/// `POST /api/sandbox/{id}/start`.
pub async fn start(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Sandbox> {
    command(&state, &org, &id, Command::Start, false).await
}

/// `POST /api/sandbox/{id}/stop?force=`.
pub async fn stop(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply<Sandbox> {
    let force = boolean(&query_pairs(query.as_deref()), "force")?.unwrap_or(false);
    command(&state, &org, &id, Command::Stop, force).await
}

/// `DELETE /api/sandbox/{id}` → 200 with the destroyed sandbox.
pub async fn delete(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Sandbox> {
    command(&state, &org, &id, Command::Delete, true).await
}

/// `POST /api/sandbox/{id}/recover`.
pub async fn recover(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Sandbox> {
    command(&state, &org, &id, Command::Recover, false).await
}

/// `POST /api/sandbox/{id}/pause`: freezes its processes; `start` resumes it.
pub async fn pause(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Sandbox> {
    command(&state, &org, &id, Command::Pause, false).await
}

/// `POST /api/sandbox/{id}/archive`: a stopped sandbox's files are packed into one compressed
/// file and its directory freed; `start` restores them.
pub async fn archive(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Sandbox> {
    command(&state, &org, &id, Command::Archive, false).await
}

/// `POST /api/sandbox/{id}/resize`.
pub async fn resize(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<sandbar_api::ResizeSandbox>,
) -> Reply<Sandbox> {
    to_completion(&state, &org, |plane, org| async move { plane.resize(&org, &id, body).await }).await
}

/// `POST /api/sandbox/{id}/fork {"name"?}` → 200 with the new sandbox.
pub async fn fork(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ForkSandbox>,
) -> Reply<Sandbox> {
    let name = body.name;
    to_completion(&state, &org, |plane, org| async move { plane.fork(&org, &id, name).await }).await
}

/// `POST /api/sandbox/{id}/snapshot {"name", "includeMemory"?}` → 200 with the sandbox.
pub async fn snapshot(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateSandboxSnapshot>,
) -> Reply<Sandbox> {
    let name = body.name.ok_or_else(|| ApiError::bad_request("snapshot name is required"))?;
    to_completion(&state, &org, |plane, org| async move { plane.snapshot_sandbox(&org, &id, name).await }).await
}

/// `PUT /api/sandbox/{id}/labels`.
pub async fn set_labels(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Labels>,
) -> Reply<Labels> {
    let row = state.plane.set_labels(&org, &id, body.labels).await?;
    Ok(Json(Labels { labels: row.labels }))
}

async fn interval(state: &AppState, org: &Organization, id: &str, kind: Interval, minutes: &str) -> Reply<Sandbox> {
    let minutes: i64 = minutes
        .parse()
        .map_err(|_| ApiError::bad_request(format!("interval {minutes:?} must be a whole number of minutes")))?;
    let row = state.plane.set_interval(org, id, kind, minutes).await?;
    Ok(one(state, &row))
}

/// `POST /api/sandbox/{id}/autostop/{minutes}`.
pub async fn autostop(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path((id, minutes)): Path<(String, String)>,
) -> Reply<Sandbox> {
    interval(&state, &org, &id, Interval::AutoStop, &minutes).await
}

/// `POST /api/sandbox/{id}/autoarchive/{minutes}`.
pub async fn autoarchive(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path((id, minutes)): Path<(String, String)>,
) -> Reply<Sandbox> {
    interval(&state, &org, &id, Interval::AutoArchive, &minutes).await
}

/// `POST /api/sandbox/{id}/autodelete/{minutes}`.
pub async fn autodelete(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path((id, minutes)): Path<(String, String)>,
) -> Reply<Sandbox> {
    interval(&state, &org, &id, Interval::AutoDelete, &minutes).await
}

/// `POST /api/sandbox/{id}/autopause/{minutes}`.
pub async fn autopause(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path((id, minutes)): Path<(String, String)>,
) -> Reply<Sandbox> {
    interval(&state, &org, &id, Interval::AutoPause, &minutes).await
}

/// `POST /api/sandbox/{id}/public/{true|false}`.
pub async fn set_public(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path((id, public)): Path<(String, String)>,
) -> Reply<Sandbox> {
    let public =
        parse_bool(&public).ok_or_else(|| ApiError::bad_request(format!("public {public:?} must be true or false")))?;
    let row = state.plane.set_public(&org, &id, public).await?;
    Ok(one(&state, &row))
}

/// `POST /api/sandbox/{id}/network-settings`.
pub async fn network_settings(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NetworkSettings>,
) -> Reply<Sandbox> {
    let row = state.plane.set_network(&org, &id, body).await?;
    Ok(one(&state, &row))
}

/// `POST /api/sandbox/{id}/last-activity`.
pub async fn last_activity(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    state.plane.touch(&org, &id).await?;
    // The spec declares 201 without a body.
    Ok(axum::http::StatusCode::CREATED)
}

/// `GET /api/sandbox/{id}/toolbox-proxy-url` (SDK 0.226 fallback, G4).
pub async fn toolbox_proxy_url(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Url> {
    state.plane.get(&org, &id).await?;
    Ok(Json(Url { url: state.plane.toolbox_url().to_string() }))
}

/// `GET /api/sandbox/{id}/signing-key`: the key as text (the SDK's client reads a bare string).
pub async fn signing_key(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<String, ApiError> {
    Ok(state.plane.signing_key(&org, &id, false).await?)
}

/// `POST /api/sandbox/{id}/signing-key/rotate`: a new key; URLs signed with the old one fail.
pub async fn rotate_signing_key(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<String, ApiError> {
    Ok(state.plane.signing_key(&org, &id, true).await?)
}

/// `GET /api/sandbox/{id}/build-logs-url`: no query string in it (G15).
pub async fn build_logs_url(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Reply<Url> {
    let row = state.plane.get(&org, &id).await?;
    Ok(Json(Url { url: format!("{}/sandbox/{}/build-logs", state.api_url, row.id) }))
}

/// `GET /api/sandbox/{id}/build-logs[?follow=true]`: sandboxes from snapshots have no build, so
/// the log says so and ends.
pub async fn build_logs(
    State(state): State<AppState>,
    Extension(org): Extension<Organization>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let row = state.plane.get(&org, &id).await?;
    let text =
        format!("sandbox {} was created from snapshot {:?}; there is no image build to show\n", row.id, row.snapshot);
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], text))
}

fn parse_list_query(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let pairs = query_pairs(query);
    let text = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let all = |key: &str| {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::to_string)
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
    };
    let labels = match text("labels") {
        None => Default::default(),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| ApiError::bad_request(format!("labels must be a JSON object of strings: {e}")))?,
    };
    let states = all("states")
        .into_iter()
        .map(|s| SandboxState::parse(&s).ok_or_else(|| ApiError::bad_request(format!("unknown state {s:?}"))))
        .collect::<Result<_, _>>()?;
    let order = text("order").unwrap_or_else(|| "desc".into());
    if order != "asc" && order != "desc" {
        return Err(ApiError::bad_request(format!("order {order:?} must be asc or desc")));
    }
    Ok(ListQuery {
        cursor: text("cursor"),
        limit: number(&pairs, "limit")?,
        id: text("id"),
        name: text("name"),
        labels,
        states,
        snapshots: all("snapshots"),
        min_cpu: number(&pairs, "minCpu")?,
        max_cpu: number(&pairs, "maxCpu")?,
        min_memory: number(&pairs, "minMemoryGiB")?,
        max_memory: number(&pairs, "maxMemoryGiB")?,
        min_disk: number(&pairs, "minDiskGiB")?,
        max_disk: number(&pairs, "maxDiskGiB")?,
        is_public: boolean(&pairs, "isPublic")?,
        is_recoverable: boolean(&pairs, "isRecoverable")?,
        created_after: time_filter("createdAtAfter", text("createdAtAfter"), true)?,
        created_before: time_filter("createdAtBefore", text("createdAtBefore"), false)?,
        activity_after: time_filter("lastEventAfter", text("lastEventAfter"), true)?,
        activity_before: time_filter("lastEventBefore", text("lastEventBefore"), false)?,
        sort: text("sort"),
        ascending: order == "asc",
        include_errored_deleted: boolean(&pairs, "includeErroredDeleted")?.unwrap_or(false),
    })
}

/// A time filter in the store's format (UTC, milliseconds), for an inclusive comparison: rounded
/// up for "after" and down for "before", so a stored millisecond compares exactly with a
/// microsecond query. 400 when the text is not a date-time.
fn time_filter(key: &str, text: Option<String>, round_up: bool) -> Result<Option<String>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    let at = parse_time(&text).ok_or_else(|| {
        ApiError::bad_request(format!("{key} {text:?} is not a date-time such as 2026-11-26T08:00:00Z"))
    })?;
    let millis = at.replace_nanosecond(at.millisecond() as u32 * 1_000_000).unwrap_or(at);
    let rounded = if round_up && millis != at { millis + time::Duration::milliseconds(1) } else { millis };
    Ok(Some(crate::clock::iso(rounded)))
}

/// RFC 3339; an offset without a colon (`+0530`, Python's `%z`), also with its `+` turned into a
/// space by form decoding; or no zone at all, which means UTC (G21).
fn parse_time(text: &str) -> Option<time::OffsetDateTime> {
    let text = text.trim();
    if let Some(at) = crate::clock::parse_iso(text) {
        return Some(at);
    }
    let bytes = text.as_bytes();
    // `...SS[.fff]±HHMM` or `...SS[.fff] HHMM`: put the colon (and the sign) in.
    if bytes.len() > 5 && bytes[bytes.len() - 4..].iter().all(u8::is_ascii_digit) {
        let sign = bytes[bytes.len() - 5];
        if matches!(sign, b'+' | b'-' | b' ') && text[..text.len() - 5].contains('T') {
            let sign = if sign == b'-' { '-' } else { '+' };
            let (hours, minutes) = (&text[text.len() - 4..text.len() - 2], &text[text.len() - 2..]);
            return crate::clock::parse_iso(&format!("{}{sign}{hours}:{minutes}", &text[..text.len() - 5]));
        }
    }
    crate::clock::parse_iso(&format!("{text}Z"))
}

fn number(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) if v.is_empty() => Ok(None),
        Some((_, v)) => {
            v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("{key} {v:?} must be an integer")))
        }
    }
}

fn boolean(pairs: &[(String, String)], key: &str) -> Result<Option<bool>, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => {
            parse_bool(v).map(Some).ok_or_else(|| ApiError::bad_request(format!("{key} {v:?} must be true or false")))
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "1" => Some(true),
        "false" | "False" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_filters_accept_the_forms_sdks_send_and_round_for_inclusive_bounds() {
        let at = |text: &str, up: bool| time_filter("t", Some(text.to_string()), up).unwrap().unwrap();
        assert_eq!(at("2026-11-26T14:12:58.989500+0530", false), "2026-11-26T08:42:58.989Z");
        assert_eq!(at("2026-11-26T14:12:58.989500+0530", true), "2026-11-26T08:42:58.990Z");
        assert_eq!(at("2026-11-26T14:12:58.989500 0530", false), "2026-11-26T08:42:58.989Z", "a + decoded as a space");
        assert_eq!(at("2026-11-26T08:42:58.989Z", true), "2026-11-26T08:42:58.989Z", "no rounding when exact");
        assert_eq!(at("2026-11-26T08:42:58", false), "2026-11-26T08:42:58.000Z", "no zone means UTC");
        assert_eq!(at("2026-11-26T08:42:58-0100", false), "2026-11-26T09:42:58.000Z");
        assert!(time_filter("t", Some("yesterday".into()), false).is_err());
    }
}
