//! Sandbox events for push notifications: the control plane publishes, the Socket.IO gateway
//! (`http/socketio.rs`) forwards each event to the sockets of the sandbox's organization.
//!
//! A broadcast channel decouples the two: publishing never waits for a slow socket, and a
//! subscriber that falls behind loses old events (SDKs still poll as a safety net).

use sandbar_api::events::{SandboxEvent, SandboxStateUpdated};
use sandbar_api::Sandbox;
use tokio::sync::broadcast;

/// One event, already addressed to an organization.
#[derive(Debug, Clone)]
pub struct Event {
    /// Organization whose sockets receive it.
    pub organization_id: String,
    /// The event; its name is the Socket.IO event name.
    pub event: SandboxEvent,
}

/// The publishing side, shared by the control plane.
#[derive(Debug, Clone)]
pub struct Events {
    sender: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events { sender: broadcast::channel(1024).0 }
    }
}

impl Events {
    /// A new receiver of every later event.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// `sandbox.created` with the full DTO.
    pub fn created(&self, sandbox: &Sandbox) {
        self.publish(SandboxEvent::Created(sandbox.clone()));
    }

    /// `sandbox.state.updated` with `{sandbox, oldState, newState}`.
    pub fn state_updated(&self, sandbox: &Sandbox, old_state: &str) {
        self.publish(SandboxEvent::StateUpdated(SandboxStateUpdated {
            sandbox: sandbox.clone(),
            old_state: old_state.to_string(),
            new_state: sandbox.state.as_str().to_string(),
        }));
    }

    fn publish(&self, event: SandboxEvent) {
        let organization_id = event.sandbox().organization_id.clone();
        // No receiver (no gateway running) is fine: the event simply has no audience.
        let _ = self.sender.send(Event { organization_id, event });
    }
}
