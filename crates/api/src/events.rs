//! Socket.IO notifications (`shared/daytona-wire.md` §3.13): the CONNECT packet's auth and the
//! payload of each event SDK 0.226 consumes.

use crate::Sandbox;
use serde::{Deserialize, Serialize};

/// The CONNECT packet's auth object: `{"token": "<api key>"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SocketAuth {
    /// The API key.
    pub token: Option<String>,
}

/// An event for the sockets of the sandbox's organization. The payload is the variant's value,
/// as it is (no tag on the wire); [`SandboxEvent::name`] is the Socket.IO event name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SandboxEvent {
    /// `sandbox.state.updated` (listed first so that its payload, which also has the keys of no
    /// sandbox, is tried before the bare DTO when parsing).
    StateUpdated(SandboxStateUpdated),
    /// `sandbox.created` with the full DTO.
    Created(Sandbox),
}

impl SandboxEvent {
    /// The Socket.IO event name.
    pub fn name(&self) -> &'static str {
        match self {
            SandboxEvent::Created(_) => "sandbox.created",
            SandboxEvent::StateUpdated(_) => "sandbox.state.updated",
        }
    }

    /// The sandbox the event is about.
    pub fn sandbox(&self) -> &Sandbox {
        match self {
            SandboxEvent::Created(sandbox) => sandbox,
            SandboxEvent::StateUpdated(update) => &update.sandbox,
        }
    }
}

/// The `sandbox.state.updated` payload (Daytona's `SandboxStateUpdatedEvent`): the SDK reads
/// `sandbox.state`, else `newState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxStateUpdated {
    /// The sandbox after the change.
    pub sandbox: Sandbox,
    /// The state before (wire name).
    pub old_state: String,
    /// The state after (wire name).
    pub new_state: String,
}
