//! Toolbox bodies (`shared/daytona-wire.md` §4): what the SDKs send to
//! `{toolboxProxyUrl}/{sandboxId}/...` and what they get back, one module per area. Type names
//! follow the daemon's published swagger (Daytona's toolbox API spec) where it names them.
//!
//! Errors of every toolbox route are an [`crate::ErrorBody`] with `source: DAYTONA_DAEMON`.

use serde::{Deserialize, Deserializer, Serialize};

/// `/files/...`.
pub mod fs;
/// `/git/...`.
pub mod git;
/// `/process/interpreter/...`.
pub mod interpreter;
/// `/process/execute` and `/process/code-run`.
pub mod process;
/// `/process/pty/...`.
pub mod pty;
/// `/process/session/...`.
pub mod session;
/// `/env`, `/system/metrics`, `/user-home-dir`, `/work-dir`, `/version`.
pub mod system;

/// `?path=`: the query of the routes that take only a path (`GET /files/info`,
/// `GET /files/download`, `POST /files/upload-v2`, `GET /git/status`, `/git/branches`,
/// `/git/history`, `/git/remotes`). Empty means the working directory where a directory fits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PathQuery {
    /// Absolute, or relative to the working directory.
    #[serde(default)]
    pub path: String,
}

/// `{}`: the answer of calls that succeed without data (the daemon's `Empty`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Empty {}

/// A query flag as the daemon reads it: exactly `true` sets it, any other value (or none)
/// leaves it unset.
pub(crate) fn query_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.as_deref() == Some("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_an_empty_object() {
        assert_eq!(serde_json::to_value(Empty {}).unwrap(), serde_json::json!({}));
    }
}
