//! Sandbox events for push notifications: the control plane publishes, the Socket.IO gateway
//! (`http/socketio.rs`) forwards each event to the sockets of the sandbox's organization.
//!
//! A broadcast channel decouples the two: publishing never waits for a slow socket, and a
//! subscriber that falls behind loses old events (SDKs still poll as a safety net).

use sandbar_api::Sandbox;
use tokio::sync::broadcast;

/// One event, already addressed to an organization.
#[derive(Debug, Clone)]
pub struct Event {
    /// Organization whose sockets receive it.
    pub organization_id: String,
    /// Socket.IO event name (`sandbox.created`, `sandbox.state.updated`).
    pub name: &'static str,
    /// The JSON payload.
    pub payload: serde_json::Value,
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
        self.publish(sandbox.organization_id.clone(), "sandbox.created", serde_json::json!(sandbox));
    }

    /// `sandbox.state.updated` with `{sandbox, oldState, newState}`.
    pub fn state_updated(&self, sandbox: &Sandbox, old_state: &str) {
        let payload = serde_json::json!({
            "sandbox": sandbox,
            "oldState": old_state,
            "newState": sandbox.state.as_str(),
        });
        self.publish(sandbox.organization_id.clone(), "sandbox.state.updated", payload);
    }

    fn publish(&self, organization_id: String, name: &'static str, payload: serde_json::Value) {
        // No receiver (no gateway running) is fine: the event simply has no audience.
        let _ = self.sender.send(Event { organization_id, name, payload });
    }
}
