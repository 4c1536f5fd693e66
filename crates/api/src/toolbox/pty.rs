//! PTY sessions (`shared/daytona-wire.md` §4.4): the REST bodies of `/process/pty/...` and the
//! JSON of its WebSocket (text control frames and the close reason; output is binary frames).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /process/pty` (the daemon's `PtyCreateRequest`) → 201 [`PtyCreateResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PtyCreateRequest {
    /// 1-128 characters without `/`.
    #[serde(default)]
    pub id: String,
    /// Working directory; the sandbox's when absent or empty.
    pub cwd: Option<String>,
    /// Extra environment of the shell.
    pub envs: Option<BTreeMap<String, String>>,
    /// Columns, 1..1000 (80).
    pub cols: Option<u16>,
    /// Rows, 1..1000 (24).
    pub rows: Option<u16>,
    /// Sent by SDK 0.190; Sandbar always starts the shell at once (output before the first
    /// connect is kept).
    pub lazy_start: Option<bool>,
}

/// `?id=&cols=&rows=[&cwd=]` of the `GET /process/pty/create-connect` WebSocket (SDK 0.226);
/// the environment comes in the `X-Daytona-Pty-Envs~<base64url JSON>` subprotocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PtyCreateConnectQuery {
    /// As in [`PtyCreateRequest`].
    #[serde(default)]
    pub id: String,
    /// Columns.
    pub cols: Option<u16>,
    /// Rows.
    pub rows: Option<u16>,
    /// Working directory.
    pub cwd: Option<String>,
}

/// Answer of `POST /process/pty` (the daemon's `PtyCreateResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PtyCreateResponse {
    /// The new session's id.
    pub session_id: String,
}

/// `GET /process/pty` (the daemon's `PtyListResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PtyListResponse {
    /// Every live session of the sandbox.
    pub sessions: Vec<PtySessionInfo>,
}

/// One PTY session (the daemon's `PtySessionInfo`; every key required by the SDKs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PtySessionInfo {
    /// Its id.
    pub id: String,
    /// The shell's working directory at start.
    pub cwd: String,
    /// The extra environment it was started with.
    pub envs: BTreeMap<String, String>,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// RFC 3339.
    pub created_at: String,
    /// Whether the shell still runs.
    pub active: bool,
    /// Always false: the shell starts with the session.
    pub lazy_start: bool,
}

/// `POST /process/pty/{id}/resize` (the daemon's `PtyResizeRequest`) → 200 [`PtySessionInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PtyResizeRequest {
    /// Columns, 1..1000.
    pub cols: u16,
    /// Rows, 1..1000.
    pub rows: u16,
}

/// Always `control`: the `type` of a [`PtyControl`] frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ControlType {
    /// A control message (the only kind).
    #[default]
    Control,
}

/// A text frame of the PTY WebSocket: `{"type":"control","status":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PtyControl {
    /// `control`.
    #[serde(rename = "type")]
    pub kind: ControlType,
    /// What happened.
    #[serde(flatten)]
    pub status: PtyStatus,
}

/// The `status` of a [`PtyControl`] frame and the keys that go with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum PtyStatus {
    /// First frame of every attach; the SDK waits up to 10 s for it.
    Connected,
    /// The shell ended (sent only to clients that offered the exit-control subprotocol).
    Exited {
        /// Its exit code.
        #[serde(rename = "exitCode")]
        exit_code: i32,
        /// Absent for exit 0.
        #[serde(rename = "exitReason", default, skip_serializing_if = "Option::is_none")]
        exit_reason: Option<String>,
    },
    /// The attach failed.
    Error {
        /// Why.
        error: String,
    },
}

impl PtyControl {
    /// A frame with `status`.
    pub fn new(status: PtyStatus) -> PtyControl {
        PtyControl { kind: ControlType::Control, status }
    }
}

/// The close reason (code 1011) of a PTY WebSocket whose shell exited non-zero:
/// `{"exitCode":N,"exitReason":"..."}`, within 123 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PtyExit {
    /// The shell's exit code.
    pub exit_code: i32,
    /// `Ctrl+C`, `SIGKILL`, `SIGTERM`, `signal N` or `non-zero exit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_info_has_every_required_key() {
        let body = json!({
            "id": "p1",
            "cwd": "/home/daytona",
            "envs": {},
            "cols": 80,
            "rows": 24,
            "createdAt": "2026-12-07T10:00:00Z",
            "active": true,
            "lazyStart": false,
        });
        let parsed: PtySessionInfo = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
        let list = PtyListResponse { sessions: vec![parsed] };
        assert_eq!(serde_json::to_value(list).unwrap(), json!({ "sessions": [body] }));
    }

    #[test]
    fn control_frames_match_the_daemon() {
        let connected = serde_json::to_value(PtyControl::new(PtyStatus::Connected)).unwrap();
        assert_eq!(connected, json!({ "type": "control", "status": "connected" }));
        let exited = PtyControl::new(PtyStatus::Exited { exit_code: 0, exit_reason: None });
        assert_eq!(
            serde_json::to_value(&exited).unwrap(),
            json!({ "type": "control", "status": "exited", "exitCode": 0 })
        );
        let killed = json!({ "type": "control", "status": "exited", "exitCode": 137, "exitReason": "SIGKILL" });
        let parsed: PtyControl = serde_json::from_value(killed.clone()).unwrap();
        assert_eq!(parsed.status, PtyStatus::Exited { exit_code: 137, exit_reason: Some("SIGKILL".into()) });
        assert_eq!(serde_json::to_value(parsed).unwrap(), killed);
        let error = json!({ "type": "control", "status": "error", "error": "gone" });
        assert_eq!(serde_json::to_value(serde_json::from_value::<PtyControl>(error.clone()).unwrap()).unwrap(), error);
    }

    #[test]
    fn exit_reason_is_omitted_when_absent() {
        assert_eq!(serde_json::to_string(&PtyExit { exit_code: 3, exit_reason: None }).unwrap(), r#"{"exitCode":3}"#);
        let reason = PtyExit { exit_code: 130, exit_reason: Some("Ctrl+C".into()) };
        assert_eq!(serde_json::to_value(reason).unwrap(), json!({ "exitCode": 130, "exitReason": "Ctrl+C" }));
    }

    #[test]
    fn create_request_takes_the_sdk_0_190_body() {
        let request: PtyCreateRequest =
            serde_json::from_value(json!({ "id": "p", "cols": 100, "rows": 30, "lazyStart": true })).unwrap();
        assert_eq!(
            (request.id.as_str(), request.cols, request.rows, request.lazy_start),
            ("p", Some(100), Some(30), Some(true))
        );
    }
}
