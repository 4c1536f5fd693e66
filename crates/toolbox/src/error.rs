//! Toolbox errors in the daemon's JSON shape (`source: DAYTONA_DAEMON`, daemon codes), so SDK
//! 0.226 maps them to its precise exception classes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sandbar_api::ErrorBody;

/// The `source` of every toolbox error body.
pub(crate) const DAEMON: &str = "DAYTONA_DAEMON";

/// A toolbox error answer.
#[derive(Debug)]
pub struct ToolboxError {
    /// HTTP status.
    pub status: StatusCode,
    /// Daemon code (`BAD_REQUEST`, `PROCESS_EXECUTION_TIMEOUT`, ...).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl ToolboxError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ToolboxError {
        ToolboxError { status: StatusCode::BAD_REQUEST, code: "BAD_REQUEST", message: message.into() }
    }

    /// 400 with a daemon code more precise than `BAD_REQUEST` (`INVALID_FILE_PATH`, ...).
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> ToolboxError {
        ToolboxError { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    /// 403: the request names something the toolbox must not touch.
    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> ToolboxError {
        ToolboxError { status: StatusCode::FORBIDDEN, code, message: message.into() }
    }

    /// 404 with the daemon's code for what is missing (`NOT_FOUND`, `FILE_NOT_FOUND`).
    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> ToolboxError {
        ToolboxError { status: StatusCode::NOT_FOUND, code, message: message.into() }
    }

    /// 408 after a timeout killed the process group.
    pub fn timeout(message: impl Into<String>) -> ToolboxError {
        ToolboxError { status: StatusCode::REQUEST_TIMEOUT, code: "PROCESS_EXECUTION_TIMEOUT", message: message.into() }
    }

    /// 409: the sandbox is not in a state to run this.
    pub fn conflict(message: impl Into<String>) -> ToolboxError {
        ToolboxError { status: StatusCode::CONFLICT, code: "CONFLICT", message: message.into() }
    }

    /// 429: the sandbox already uses all it may of something (running session commands).
    pub(crate) fn too_many(message: impl Into<String>) -> ToolboxError {
        ToolboxError { status: StatusCode::TOO_MANY_REQUESTS, code: "TOO_MANY_REQUESTS", message: message.into() }
    }

    /// A runtime failure: 409 when the sandbox does not run, 400 for a request the runtime
    /// refuses, 500 otherwise.
    pub fn runtime(error: sandbar_runtime::Error) -> ToolboxError {
        use sandbar_runtime::Error;
        match error {
            Error::NotRunning { id } | Error::Paused { id } => {
                ToolboxError::conflict(format!("sandbox {id} is not running; start it first"))
            }
            Error::InvalidSpec { what } => ToolboxError::bad_request(what),
            other => ToolboxError::internal(&other),
        }
    }

    /// 500 with the runtime's error chain.
    pub fn internal(error: &dyn std::error::Error) -> ToolboxError {
        let message = sandbar_runtime::error_chain(error);
        tracing::error!(error = %message, "toolbox request failed");
        ToolboxError { status: StatusCode::INTERNAL_SERVER_ERROR, code: "INTERNAL_SERVER_ERROR", message }
    }
}

impl IntoResponse for ToolboxError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error").to_string(),
            message: self.message,
            code: self.code.to_string(),
            source: DAEMON.to_string(),
            timestamp: now(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A JSON request body, whatever its `Content-Type` says (the SDKs' generated clients do not
/// always send one); malformed JSON is a 400 that quotes serde's reason.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ToolboxError> {
    serde_json::from_slice(body).map_err(|e| ToolboxError::bad_request(format!("invalid request body: {e}")))
}

/// Now in RFC 3339, as the daemon's error bodies and records carry it.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
