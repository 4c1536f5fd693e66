//! Daytona's wire contract as Sandbar speaks it: the JSON bodies of the control-plane API.
//!
//! Only this crate derives serde for the wire. Every type is wire-visible: renaming a field is an
//! API change. Field names follow Daytona's camelCase; gotcha ids (G1-G22) refer to
//! `shared/daytona-wire.md`.

mod error;
mod sandbox;
mod snapshot;
mod volume;

/// Toolbox bodies.
pub mod toolbox;

pub use error::ErrorBody;
pub use sandbox::{
    BuildInfo, CreateBuildInfo, CreateSandbox, Labels, NetworkSettings, PaginatedSandboxes, ResizeSandbox, Sandbox,
    SandboxList, SandboxState, SandboxVolume, Url,
};
pub use snapshot::{CreateSnapshot, PaginatedSnapshots, Snapshot, SnapshotState};
pub use volume::{CreateVolume, Volume, VolumeState};

/// `GET /api/config`: what the dashboard and SDK 0.226 read.
pub mod config;
