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

    /// 429.
    pub fn rate_limited() -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "TOO_MANY_REQUESTS",
            message: "rate limit exceeded for this API key; retry shortly".into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        let (status, code) = match &error {
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ServiceError::Invalid(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            ServiceError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            ServiceError::Runtime { source: sandbar_runtime::Error::InvalidSpec { .. }, .. }
            | ServiceError::Runtime { source: sandbar_runtime::Error::ImageNotFound { .. }, .. } => {
                (StatusCode::BAD_REQUEST, "BAD_REQUEST")
            }
            ServiceError::Runtime { source: sandbar_runtime::Error::Paused { .. }, .. }
            | ServiceError::Runtime { source: sandbar_runtime::Error::Running { .. }, .. } => {
                (StatusCode::CONFLICT, "CONFLICT")
            }
            ServiceError::Store(_) | ServiceError::Runtime { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR")
            }
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The whole chain goes to the log once, here; the caller gets the chain too, since
            // it names the sandbox and the failing step without exposing anything secret.
            let chain = crate::error_chain(&error);
            tracing::error!(error = %chain, "request failed");
            chain
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
