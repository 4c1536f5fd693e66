//! Daytona's wire contract as Sandbar speaks it: every JSON body of the control-plane API, of the
//! toolbox (REST and WebSocket frames) and of the Socket.IO events, so a client can be built on
//! this crate alone.
//!
//! Only this crate derives serde for the wire (a tidy test enforces it). Every type is
//! wire-visible: renaming a field is an API change. Field names follow Daytona's camelCase (the
//! git request bodies use snake_case, G17); each type's doc names the Daytona type it mirrors.
//! Gotcha ids (G1-G22) refer to `shared/daytona-wire.md`.

mod error;
mod message;
mod sandbox;
mod snapshot;
mod volume;

/// Toolbox bodies, one module per area.
pub mod toolbox;

/// Socket.IO auth and event payloads.
pub mod events;

pub use error::ErrorBody;
pub use message::{Health, Message};
pub use sandbox::{
    BuildInfo, CreateBuildInfo, CreateSandbox, CreateSandboxSnapshot, ForkSandbox, Labels, NetworkSettings,
    PaginatedSandboxes, ResizeSandbox, Sandbox, SandboxList, SandboxState, SandboxVolume, Url,
};
pub use snapshot::{CreateSnapshot, PaginatedSnapshots, Snapshot, SnapshotState};
pub use volume::{CreateVolume, Volume, VolumeState};

/// `GET /api/config`: what the dashboard and SDK 0.226 read.
pub mod config;
