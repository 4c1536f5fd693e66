//! SDK 0.226's daemon-level calls: `POST /env` (the environment of processes started later) and
//! `GET /system/metrics` (what the sandbox uses now).

use crate::error::parse_json;
use crate::fs::blocking;
use crate::{Target, ToolboxError};
use axum::{Extension, Json};
use sandbar_api::toolbox::system::{SystemMetrics, UpdateEnvRequest};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long CPU use is sampled for a metrics reading.
const CPU_SAMPLE: Duration = Duration::from_millis(250);

/// `POST /env`: answers the environment new processes get from now on.
pub async fn update_env(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Json<BTreeMap<String, String>>, ToolboxError> {
    let request: UpdateEnvRequest = parse_json(&body)?;
    let set: Vec<(String, String)> = request.set.unwrap_or_default().into_iter().collect();
    let unset = request.unset.unwrap_or_default();
    let prefix = request.unset_value_prefix.filter(|p| !p.is_empty());
    let updating = target.clone();
    let env = blocking(move || {
        updating.runtime.update_env(&updating.id, &set, &unset, prefix.as_deref()).map_err(ToolboxError::runtime)
    })
    .await?;
    // A spare shell started before this point has the old environment.
    target.warm.discard(&target).await;
    Ok(Json(env.into_iter().collect()))
}

/// `GET /system/metrics`: two readings `CPU_SAMPLE` apart give the CPU percentage.
pub async fn metrics(Extension(target): Extension<Target>) -> Result<Json<SystemMetrics>, ToolboxError> {
    let reader = target.clone();
    let first = blocking(move || reader.runtime.cpu_time_ns(&reader.id).map_err(ToolboxError::runtime)).await?;
    tokio::time::sleep(CPU_SAMPLE).await;
    let second = blocking(move || target.runtime.usage(&target.id).map_err(ToolboxError::runtime)).await?;
    let used_ns = second.cpu_time_ns.saturating_sub(first) as f64;
    let available_ns = CPU_SAMPLE.as_nanos() as f64 * second.cpus;
    let cpu_used_pct = (used_ns / available_ns * 100.0).clamp(0.0, 100.0);
    let now = time::OffsetDateTime::now_utc();
    Ok(Json(SystemMetrics {
        cpu_count: second.cpus.ceil().max(1.0) as u64,
        cpu_used_pct: (cpu_used_pct * 100.0).round() / 100.0,
        mem_total: second.memory_limit,
        mem_used: second.memory_used,
        mem_cache: second.memory_cache,
        disk_total: second.disk_total,
        disk_used: second.disk_used,
        disk_free: second.disk_free,
        timestamp: now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        timestamp_unix: now.unix_timestamp(),
    }))
}
