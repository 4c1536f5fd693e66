//! Socket.IO notifications (`shared/daytona-wire.md` §3.13): the CONNECT packet's auth and the
//! payload of each event SDK 0.226 consumes.

use crate::Sandbox;
use serde::{Deserialize, Serialize};

/// The CONNECT packet's auth object: `{"token": "<api key>"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SocketAuth {
    /// The API key.
    pub token: Option<String>,
}

/// An event for the sockets of the sandbox's organization. The payload is the variant's value,
/// as it is (no tag on the wire); [`SandboxEvent::name`] is the Socket.IO event name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxStateUpdated {
    /// The sandbox after the change.
    pub sandbox: Sandbox,
    /// The state before (wire name).
    pub old_state: String,
    /// The state after (wire name).
    pub new_state: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sandbox() -> serde_json::Value {
        json!({
            "id": "s1", "organizationId": "o1", "name": "s1", "snapshot": null, "user": "daytona", "env": {},
            "labels": {}, "public": false, "networkBlockAll": false, "networkAllowList": null, "linkedSandboxId": null,
            "domainAllowList": null, "target": "us", "cpu": 1, "gpu": 0, "memory": 1, "disk": 3, "gpuType": null,
            "state": "started", "desiredState": "started", "errorReason": null, "recoverable": null,
            "backupState": null, "backupCreatedAt": null, "autoStopInterval": 15, "autoArchiveInterval": null,
            "autoDeleteInterval": null, "autoPauseInterval": null, "volumes": [], "buildInfo": null,
            "createdAt": "2026-12-07T10:00:00.000Z", "updatedAt": "2026-12-07T10:00:00.000Z",
            "lastActivityAt": null, "sandboxClass": "container", "daemonVersion": null, "runnerId": null,
            "toolboxProxyUrl": "http://127.0.0.1:3000/toolbox", "kvm": false,
        })
    }

    #[test]
    fn payloads_are_the_dto_and_the_state_update_without_a_tag() {
        let dto: Sandbox = serde_json::from_value(sandbox()).unwrap();
        let created = SandboxEvent::Created(dto.clone());
        assert_eq!(created.name(), "sandbox.created");
        assert_eq!(serde_json::to_value(&created).unwrap(), sandbox());
        let updated = SandboxEvent::StateUpdated(SandboxStateUpdated {
            sandbox: dto,
            old_state: "starting".into(),
            new_state: "started".into(),
        });
        assert_eq!(updated.name(), "sandbox.state.updated");
        let body = json!({ "sandbox": sandbox(), "oldState": "starting", "newState": "started" });
        assert_eq!(serde_json::to_value(&updated).unwrap(), body);
        assert_eq!(serde_json::from_value::<SandboxEvent>(body).unwrap(), updated);
        assert_eq!(serde_json::from_value::<SandboxEvent>(sandbox()).unwrap(), created);
    }

    #[test]
    fn auth_without_a_token_parses() {
        assert_eq!(serde_json::from_value::<SocketAuth>(json!({})).unwrap().token, None);
        assert_eq!(serde_json::from_value::<SocketAuth>(json!({ "token": "k" })).unwrap().token.as_deref(), Some("k"));
    }
}
