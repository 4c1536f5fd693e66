//! `POST /process/execute` and `POST /process/code-run` (`shared/daytona-wire.md` §4.2).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /process/execute` (the daemon's `ExecuteRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Answer of `POST /process/execute` (the daemon's `ExecuteResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResponse {
    /// Exit code; 128+N for signal N; -1 when the process could not start.
    pub exit_code: i32,
    /// stdout and stderr, merged.
    pub result: String,
}

/// `POST /process/code-run` (the daemon's `CodeRunRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Answer of `POST /process/code-run` (the daemon's `CodeRunResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeRunResponse {
    /// Exit code.
    pub exit_code: i32,
    /// Merged output, artifact lines removed.
    pub result: String,
    /// Charts and other artifacts.
    pub artifacts: CodeRunArtifacts,
}

/// Artifacts of a code run (the daemon's `CodeRunArtifacts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodeRunArtifacts {
    /// Charts as the runner emits them (the daemon's `Chart`: JSON objects whose keys depend on
    /// the chart kind, passed through as they are).
    pub charts: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn execute_response_has_both_keys() {
        let body = json!({ "exitCode": -1, "result": "exec: no such file" });
        let parsed: ExecuteResponse = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(parsed, ExecuteResponse { exit_code: -1, result: "exec: no such file".into() });
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
    }

    #[test]
    fn execute_request_takes_the_minimal_and_the_full_form() {
        let minimal: ExecuteRequest = serde_json::from_value(json!({ "command": "echo hi" })).unwrap();
        assert_eq!(minimal, ExecuteRequest { command: "echo hi".into(), ..ExecuteRequest::default() });
        let full: ExecuteRequest =
            serde_json::from_value(json!({ "command": "x", "cwd": "/tmp", "envs": { "A": "1" }, "timeout": 10 }))
                .unwrap();
        assert_eq!(full.cwd.as_deref(), Some("/tmp"));
        assert_eq!(full.envs.unwrap()["A"], "1");
        assert_eq!(full.timeout, Some(10));
    }

    #[test]
    fn code_run_response_always_carries_artifacts() {
        let body = json!({ "exitCode": 0, "result": "a\n", "artifacts": { "charts": [{ "title": "t" }] } });
        let parsed: CodeRunResponse = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
        let empty = CodeRunResponse { exit_code: 0, result: String::new(), artifacts: CodeRunArtifacts::default() };
        assert_eq!(serde_json::to_value(empty).unwrap()["artifacts"], json!({ "charts": [] }));
    }
}
