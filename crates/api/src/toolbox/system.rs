//! The daemon-level calls: `POST /env` and `GET /system/metrics` (SDK 0.226), the info routes
//! `/user-home-dir` and `/work-dir`, and `/version` (`shared/daytona-wire.md` §4.1, §4.10).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `{"dir": "..."}`: the daemon's `UserHomeDirResponse` and `WorkDirResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dir {
    /// The directory.
    pub dir: String,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Version {
    /// The daemon's (here: Sandbar's) version.
    pub version: String,
}

/// `POST /env` (SDK 0.226 `update_env`): changes the environment of processes started later.
/// The answer is the whole environment after the change, as a map of names to values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct UpdateEnvRequest {
    /// Variables to set.
    pub set: Option<BTreeMap<String, String>>,
    /// Names to remove before `set` applies.
    pub unset: Option<Vec<String>>,
    /// Removes every variable whose value starts with this and whose name is not in `set`.
    pub unset_value_prefix: Option<String>,
}

/// `GET /system/metrics` (SDK 0.226 `get_metrics_latest`): the sandbox's resource use now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemMetrics {
    /// CPUs the sandbox may use (its quota rounded up, or the host's CPUs).
    pub cpu_count: u64,
    /// CPU use over the sampling interval, in percent of `cpu_count` CPUs.
    pub cpu_used_pct: f64,
    /// Memory the sandbox may use, in bytes.
    pub mem_total: u64,
    /// Memory in use without page cache, in bytes.
    pub mem_used: u64,
    /// Page cache, in bytes.
    pub mem_cache: u64,
    /// Size of the sandbox's file system, in bytes.
    pub disk_total: u64,
    /// Used space on it, in bytes.
    pub disk_used: u64,
    /// Space available on it, in bytes.
    pub disk_free: u64,
    /// When the reading was taken (RFC 3339).
    pub timestamp: String,
    /// The same, in Unix seconds.
    pub timestamp_unix: i64,
}
