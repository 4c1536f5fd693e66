//! `GET /api/config` (DaytonaConfiguration): required keys per `shared/daytona-wire.md` §3.12.

use serde::{Deserialize, Serialize};

/// The server's public configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// Server version.
    pub version: String,
    /// OIDC settings; Sandbar uses API keys, so these are empty strings.
    pub oidc: Oidc,
    /// Linked accounts are not supported.
    pub linked_accounts_enabled: bool,
    /// Announcements shown in dashboards (none).
    pub announcements: serde_json::Map<String, serde_json::Value>,
    /// Template of preview URLs.
    pub proxy_template_url: String,
    /// Base of the toolbox API.
    pub proxy_toolbox_url: String,
    /// Snapshot used when a create names none.
    pub default_snapshot: String,
    /// Dashboard URL (the API base; Sandbar has no dashboard).
    pub dashboard_url: String,
    /// Largest auto-archive interval in minutes.
    pub max_auto_archive_interval: i64,
    /// Daytona's spelling of "maintenance mode".
    pub maintanance_mode: bool,
    /// Deployment environment name.
    pub environment: String,
    /// Analytics endpoint (none).
    pub analytics_api_url: Option<String>,
}

/// OIDC block of [`Configuration`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Oidc {
    /// Issuer URL.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Audience.
    pub audience: String,
    /// Provider name (absent upstream in some versions; always sent here).
    pub provider: String,
}
