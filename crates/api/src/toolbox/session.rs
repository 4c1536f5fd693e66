//! Sessions (`shared/daytona-wire.md` §4.3): `/process/session/...`. The follow form of the
//! logs route is a WebSocket of binary frames carrying raw log bytes (no JSON).

use serde::{Deserialize, Serialize};

/// `POST /process/session` (the daemon's `CreateSessionRequest`) → 201.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionRequest {
    /// 1-128 characters without `/`; `entrypoint` is reserved.
    pub session_id: String,
}

/// A session and its commands (the daemon's `Session`): `GET /process/session[/{id}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Its id.
    pub session_id: String,
    /// Every command run in it, oldest first.
    pub commands: Vec<Command>,
}

/// One command of a session (the daemon's `Command`): `GET .../command/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// Its id (`cmdId` of the exec answer).
    pub id: String,
    /// The command text.
    pub command: String,
    /// `null` while it runs.
    pub exit_code: Option<i32>,
}

/// `POST /process/session/{id}/exec` (the daemon's `SessionExecuteRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionExecuteRequest {
    /// Shell command text.
    pub command: String,
    /// Answer 202 at once instead of waiting; the command keeps its stdin for `input`.
    #[serde(default)]
    pub run_async: Option<bool>,
    /// The deprecated spelling of `runAsync`; `runAsync` wins when both are sent.
    #[serde(default, rename = "async")]
    pub deprecated_async: Option<bool>,
    /// Keep input sent to the command out of its log.
    #[serde(default)]
    pub suppress_input_echo: Option<bool>,
}

/// Answer of `POST .../exec` (the daemon's `SessionExecuteResponse`): 200 with every key for a
/// sync command, 202 with only `cmdId` for an async one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionExecuteResponse {
    /// The command's id.
    pub cmd_id: String,
    /// The raw log, with the `\x01\x01\x01` (stdout) and `\x02\x02\x02` (stderr) line markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// stdout alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// stderr alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// The exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// `GET .../command/{id}/logs` without `follow` (the daemon's `SessionCommandLogsResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionCommandLogsResponse {
    /// The raw log, markers kept.
    pub output: String,
    /// stdout alone.
    pub stdout: String,
    /// stderr alone.
    pub stderr: String,
}

/// `?follow=true` of the logs routes: a WebSocket that streams the log and closes 1000.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionLogsQuery {
    /// Follow the log over a WebSocket.
    #[serde(default, deserialize_with = "super::query_flag")]
    pub follow: bool,
}

/// `POST .../command/{id}/input` (the daemon's `SessionSendInputRequest`) → 204.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionSendInputRequest {
    /// One line of input; a newline is added.
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_running_command_has_a_null_exit_code() {
        let running = Command { id: "7-ab".into(), command: "sleep 1".into(), exit_code: None };
        let body = json!({ "id": "7-ab", "command": "sleep 1", "exitCode": null });
        assert_eq!(serde_json::to_value(&running).unwrap(), body);
        assert_eq!(serde_json::from_value::<Command>(body).unwrap(), running);
        let session = Session { session_id: "s".into(), commands: vec![running] };
        assert_eq!(serde_json::to_value(session).unwrap()["commands"][0]["exitCode"], json!(null));
    }

    #[test]
    fn sync_exec_answers_every_key_and_async_only_the_id() {
        let sync = json!({
            "cmdId": "7-ab",
            "output": "\u{1}\u{1}\u{1}out\n\u{2}\u{2}\u{2}err\n",
            "stdout": "out\n",
            "stderr": "err\n",
            "exitCode": 0,
        });
        let parsed: SessionExecuteResponse = serde_json::from_value(sync.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), sync);
        let pending =
            SessionExecuteResponse { cmd_id: "7-ab".into(), output: None, stdout: None, stderr: None, exit_code: None };
        assert_eq!(serde_json::to_value(pending).unwrap(), json!({ "cmdId": "7-ab" }));
    }

    #[test]
    fn exec_request_takes_both_async_spellings() {
        let request: SessionExecuteRequest =
            serde_json::from_value(json!({ "command": "x", "async": true, "suppressInputEcho": true })).unwrap();
        assert_eq!(
            (request.run_async, request.deprecated_async, request.suppress_input_echo),
            (None, Some(true), Some(true))
        );
        assert!(
            serde_json::from_value::<SessionExecuteRequest>(json!({ "runAsync": true })).is_err(),
            "command is required"
        );
    }
}
