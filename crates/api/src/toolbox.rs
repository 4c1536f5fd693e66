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
