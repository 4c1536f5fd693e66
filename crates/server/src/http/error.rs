//! The one mapping from domain errors to HTTP statuses, and the JSON error body (G8).

use crate::service::ServiceError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sandbar_api::ErrorBody;

/// An error answer: status, machine code and message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "BAD_REQUEST", message: message.into() }
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, code: "UNAUTHORIZED", message: message.into() }
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, code: "NOT_FOUND", message: message.into() }
    }

    /// 503: the server cannot serve this now (e.g. the sandbox's node has no toolbox here).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, code: "SERVICE_UNAVAILABLE", message: message.into() }
    }

    /// 429.
    pub fn rate_limited() -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "TOO_MANY_REQUESTS",
            message: "rate limit exceeded for this API key; retry shortly".into(),
        }
    }
}

/// The status of a service error: the one place a domain error becomes an HTTP status.
fn status_of(error: &ServiceError) -> StatusCode {
    use sandbar_runtime::Error as Runtime;
    match error {
        ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
        ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
        ServiceError::Refused(_)
        | ServiceError::Exists { .. }
        | ServiceError::InUse { .. }
        | ServiceError::Conflict(_)
        | ServiceError::RuntimeRefused { .. } => StatusCode::CONFLICT,
        ServiceError::Runtime { source, .. } => match source {
            Runtime::InvalidSpec { .. } | Runtime::ImageNotFound { .. } => StatusCode::BAD_REQUEST,
            Runtime::Paused { .. } | Runtime::Running { .. } | Runtime::InUse { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        ServiceError::Capacity(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Storage { .. } | ServiceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        let status = status_of(&error);
        let code = match status {
            StatusCode::NOT_FOUND => "NOT_FOUND",
            StatusCode::BAD_REQUEST => "BAD_REQUEST",
            StatusCode::CONFLICT => "CONFLICT",
            StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
            _ => "INTERNAL_SERVER_ERROR",
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The whole chain goes to the log once, here; the caller gets the chain too, since
            // it names the sandbox and the failing step without exposing anything secret.
            let chain = crate::error_chain(&error);
            tracing::error!(error = %chain, "request failed");
            chain
        } else if matches!(error, ServiceError::RuntimeRefused { .. }) {
            // The runtime's reason is the answer (e.g. the memory in use).
            crate::error_chain(&error)
        } else {
            error.to_string()
        };
        ApiError { status, code, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error").to_string(),
            message: self.message,
            code: self.code.to_string(),
            source: "DAYTONA_API".to_string(),
            timestamp: crate::clock::iso(time::OffsetDateTime::now_utc()),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{Command, Refused};
    use crate::service::Resource;
    use sandbar_api::SandboxState;

    fn answer(error: ServiceError) -> (StatusCode, &'static str, String) {
        let api = ApiError::from(error);
        (api.status, api.code, api.message)
    }

    fn id() -> sandbar_runtime::SandboxId {
        sandbar_runtime::SandboxId::new("0b9a3c1e-0000-4000-8000-000000000001").unwrap()
    }

    #[test]
    fn each_kind_has_its_status_and_message() {
        assert_eq!(
            answer(ServiceError::NotFound { what: Resource::Sandbox, id: "nope".into() }),
            (StatusCode::NOT_FOUND, "NOT_FOUND", "sandbox \"nope\" not found".into())
        );
        assert_eq!(
            answer(ServiceError::NotFound { what: Resource::Volume, id: "v".into() }).2,
            "volume \"v\" not found"
        );
        assert_eq!(answer(ServiceError::Invalid("bad".into())), (StatusCode::BAD_REQUEST, "BAD_REQUEST", "bad".into()));
        assert_eq!(
            answer(ServiceError::Refused(Refused { command: Command::Fork, state: SandboxState::Creating })),
            (StatusCode::CONFLICT, "CONFLICT", "cannot fork a sandbox that is creating".into())
        );
        assert_eq!(
            answer(ServiceError::Exists { what: "a snapshot named \"s\"".into() }),
            (StatusCode::CONFLICT, "CONFLICT", "a snapshot named \"s\" already exists".into())
        );
        assert_eq!(
            answer(ServiceError::InUse {
                what: Resource::Volume,
                name: "v".into(),
                users: vec!["a".into(), "b".into()]
            }),
            (StatusCode::CONFLICT, "CONFLICT", "volume \"v\" is mounted by sandbox(es) a, b; delete them first".into())
        );
        assert_eq!(
            answer(ServiceError::InUse { what: Resource::Snapshot, name: "s".into(), users: vec!["a".into()] }).2,
            "snapshot \"s\" is used by sandbox(es) a"
        );
        assert_eq!(answer(ServiceError::Conflict("busy".into())).0, StatusCode::CONFLICT);
    }

    #[test]
    fn runtime_errors_map_by_their_kind() {
        let runtime = |source| ServiceError::Runtime { context: "failed to start sandbox x".into(), source };
        let invalid = runtime(sandbar_runtime::Error::InvalidSpec { what: "w".into() });
        assert_eq!(answer(invalid), (StatusCode::BAD_REQUEST, "BAD_REQUEST", "failed to start sandbox x".into()));
        assert_eq!(answer(runtime(sandbar_runtime::Error::Paused { id: id() })).0, StatusCode::CONFLICT);
        assert_eq!(answer(runtime(sandbar_runtime::Error::Running { id: id() })).0, StatusCode::CONFLICT);
        let failed = answer(runtime(sandbar_runtime::Error::NotRunning { id: id() }));
        assert_eq!(
            failed,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                format!("failed to start sandbox x: sandbox {} is not running", id())
            ),
            "a 500 carries the whole chain"
        );
        let refused = ServiceError::RuntimeRefused {
            context: "cannot resize sandbox x".into(),
            source: sandbar_runtime::Error::Request {
                id: id(),
                error: "device or resource busy".into(),
                kind: sandbar_runtime::SpawnErrorKind::Other,
            },
        };
        assert_eq!(
            answer(refused),
            (
                StatusCode::CONFLICT,
                "CONFLICT",
                format!("cannot resize sandbox x: sandbox {}: device or resource busy", id())
            ),
            "a refusal carries the runtime's reason"
        );
    }

    #[test]
    fn host_storage_failures_are_500s_with_their_cause() {
        let error = ServiceError::Storage {
            step: "cannot create volume storage /v/1".into(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        let (status, code, message) = answer(error);
        assert_eq!((status, code), (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR"));
        assert_eq!(message, "cannot create volume storage /v/1: Permission denied (os error 13)");
    }
}
