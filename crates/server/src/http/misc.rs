//! Health, configuration, and the answers for routes Sandbar does not serve.

use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sandbar_api::config::{Configuration, Oidc};
use sandbar_api::Health;

/// `GET /api/health`: 200 once sandboxes can be created (the server only listens after the
/// default image is ready).
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".to_string() })
}

/// `GET /api/config`.
pub async fn config(State(state): State<AppState>) -> Json<Configuration> {
    Json(Configuration {
        version: env!("CARGO_PKG_VERSION").to_string(),
        oidc: Oidc {
            issuer: String::new(),
            client_id: String::new(),
            audience: String::new(),
            provider: String::new(),
        },
        linked_accounts_enabled: false,
        announcements: serde_json::Map::new(),
        proxy_template_url: String::new(),
        proxy_toolbox_url: state.plane.toolbox_url().to_string(),
        default_snapshot: crate::service::DEFAULT_SNAPSHOT.to_string(),
        dashboard_url: state.api_url.clone(),
        max_auto_archive_interval: 43200,
        maintanance_mode: false,
        environment: "self-hosted".to_string(),
        analytics_api_url: None,
    })
}

/// Any other path.
pub async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// A handler panic becomes a 500 with a JSON body; the server keeps running.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string());
    tracing::error!(panic = %detail, "request handler panicked");
    ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        code: "INTERNAL_SERVER_ERROR",
        message: "internal error while handling the request".to_string(),
    }
    .into_response()
}
