//! Toolbox bodies (`shared/daytona-wire.md` §4): what the SDKs send to
//! `{toolboxProxyUrl}/{sandboxId}/...` and expect back.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /process/execute`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecuteRequest {
    /// Shell command text, fed to the sandbox's shell on stdin.
    pub command: String,
    /// Working directory.
    pub cwd: Option<String>,
    /// Extra environment.
    pub envs: Option<BTreeMap<String, String>>,
    /// Seconds before the process group is killed (408); 0 or absent means none.
    pub timeout: Option<u64>,
}

/// Answer of `POST /process/execute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResponse {
    /// Exit code; 128+N for signal N; -1 when the process could not start.
    pub exit_code: i32,
    /// stdout and stderr, merged.
    pub result: String,
}

/// `POST /process/code-run`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodeRunRequest {
    /// Source code.
    pub code: String,
    /// `python`, `javascript` or `typescript`; the sandbox's language label when absent.
    pub language: Option<String>,
    /// Program arguments.
    pub argv: Option<Vec<String>>,
    /// Extra environment.
    pub envs: Option<BTreeMap<String, String>>,
    /// Seconds before the run is killed (408).
    pub timeout: Option<u64>,
}

/// Answer of `POST /process/code-run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeRunResponse {
    /// Exit code.
    pub exit_code: i32,
    /// Merged output, artifact lines removed.
    pub result: String,
    /// Charts and other artifacts.
    pub artifacts: Artifacts,
}

/// Artifacts of a code run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifacts {
    /// Charts as the daemon emits them (JSON objects).
    pub charts: Vec<serde_json::Value>,
}

/// `{"dir": "..."}` answers (`/user-home-dir`, `/work-dir`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dir {
    /// The directory.
    pub dir: String,
}

/// `POST /env` (SDK 0.226 `update_env`): changes the environment of processes started later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
