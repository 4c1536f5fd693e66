//! Small answers several routes share: `{"message": ...}` and the health check.

use serde::{Deserialize, Serialize};

/// `{"message": "..."}`: what deletes answer with 200 where the SDKs expect a JSON object (G18):
/// `DELETE /api/snapshots/{id}`, `DELETE /api/volumes/{id}`, and the toolbox's
/// `DELETE /process/pty/{id}` and `DELETE /process/interpreter/context/{id}` (the daemon's
/// `gin.H`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    /// What happened, for people.
    pub message: String,
}

impl Message {
    /// A message of `text`.
    pub fn new(text: impl Into<String>) -> Message {
        Message { message: text.into() }
    }
}

/// `GET /api/health`: `{"status": "ok"}` once sandboxes can be created (the `status` key of
/// Daytona's health check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}
