//! The code interpreter (`shared/daytona-wire.md` §4.5): context CRUD under
//! `/process/interpreter/context` and the JSON frames of the `GET /process/interpreter/execute`
//! WebSocket (one request frame in; message frames out; close 1000 done, 4008 timeout).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /process/interpreter/context` (the daemon's `CreateContextRequest`); an empty body
/// means every default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CreateContextRequest {
    /// Working directory of the context; the sandbox's when absent or empty.
    pub cwd: Option<String>,
    /// Only `python` exists; the SDKs never send it.
    pub language: Option<String>,
}

/// One context (the daemon's `InterpreterContext`), the answer of a create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterpreterContext {
    /// Its id (`default` for the shared one).
    pub id: String,
    /// Its working directory.
    pub cwd: String,
    /// RFC 3339.
    pub created_at: String,
    /// Whether its interpreter runs.
    pub active: bool,
    /// `python`.
    pub language: String,
}

/// `GET /process/interpreter/context` (the daemon's `ListContextsResponse`), without `default`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListContextsResponse {
    /// Oldest first.
    pub contexts: Vec<InterpreterContext>,
}

/// The first (and only) client frame of the execute WebSocket: `{"code", "contextId"?,
/// "envs"?, "timeout"?}` (no named schema in the daemon's swagger).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InterpreterExecuteRequest {
    /// Python source.
    pub code: String,
    /// The context to run in; the shared `default` one when absent.
    pub context_id: Option<String>,
    /// Environment for this run only.
    pub envs: Option<BTreeMap<String, String>>,
    /// Seconds before the run is interrupted (close 4008); 0 disables it, absent means 600.
    pub timeout: Option<u64>,
}

/// What an [`InterpreterMessage`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InterpreterMessageType {
    /// Output on stdout (`text`).
    Stdout,
    /// Output on stderr (`text`).
    Stderr,
    /// An exception (`name`, `value`, `traceback`).
    Error,
    /// The run's end (`text`: `completed` or `interrupted`).
    Control,
}

/// A server frame of the execute WebSocket:
/// `{"type":"stdout"|"stderr"|"error"|"control","text"?,"name"?,"value"?,"traceback"?}`; keys a
/// type does not use are absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterpreterMessage {
    /// The kind of message.
    #[serde(rename = "type")]
    pub kind: InterpreterMessageType,
    /// Output text, or the control status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The exception's class name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The exception's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The formatted traceback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

impl InterpreterMessage {
    /// An `error` message.
    pub fn error(name: impl Into<String>, value: impl Into<String>, traceback: impl Into<String>) -> Self {
        InterpreterMessage {
            kind: InterpreterMessageType::Error,
            text: None,
            name: Some(name.into()),
            value: Some(value.into()),
            traceback: Some(traceback.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_carry_only_the_keys_of_their_type() {
        for body in [
            json!({ "type": "stdout", "text": "hi\n" }),
            json!({ "type": "control", "text": "completed" }),
            json!({ "type": "error", "name": "ValueError", "value": "bad", "traceback": "Traceback ..." }),
        ] {
            let parsed: InterpreterMessage = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(serde_json::to_value(parsed).unwrap(), body);
        }
        let error = InterpreterMessage::error("InterpreterError", "gone", "");
        assert_eq!(
            serde_json::to_value(error).unwrap(),
            json!({ "type": "error", "name": "InterpreterError", "value": "gone", "traceback": "" })
        );
    }

    #[test]
    fn context_has_every_required_key() {
        let body = json!({ "id": "ab", "cwd": "/w", "createdAt": "2026-12-07T10:00:00Z", "active": true, "language": "python" });
        let parsed: InterpreterContext = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
    }

    #[test]
    fn execute_request_takes_the_sdk_frame() {
        let request: InterpreterExecuteRequest =
            serde_json::from_value(json!({ "code": "x = 1", "contextId": "ab", "timeout": 0 })).unwrap();
        assert_eq!((request.context_id.as_deref(), request.timeout, request.envs), (Some("ab"), Some(0), None));
    }
}
