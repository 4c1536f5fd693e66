//! Sandbar's sandbox runtime: isolated Linux sandboxes from namespaces, overlayfs layers and
//! cgroups, started by Sandbar itself (no runc, no Docker).
//!
//! A sandbox is a directory under the data directory (its spec, writable layer and control
//! socket) plus, while it runs, one `sandbar-init` process: PID 1 of fresh mount, pid, uts, ipc,
//! cgroup and network namespaces, in its own cgroup, with an overlay root over the image's
//! read-only layers. Every process of the sandbox is started by that init on request.
//!
//! ```no_run
//! use sandbar_runtime::{ExecSpec, ImageStore, Runtime, RuntimeConfig, SandboxId, SandboxSpec};
//! # fn main() -> Result<(), sandbar_runtime::Error> {
//! let images = ImageStore::open("/var/cache/sandbar")?;
//! images.ensure_default(&mut ())?;
//! let runtime = Runtime::new(RuntimeConfig::new("/var/lib/sandbar", images))?;
//! let id = SandboxId::new("demo")?;
//! runtime.create(&id, &SandboxSpec::new("default"))?;
//! runtime.start(&id)?;
//! let output = runtime.exec(&id, &ExecSpec::new(["echo", "hello"]))?.output()?;
//! assert_eq!(output.stdout, b"hello\n");
//! runtime.delete(&id)?;
//! # Ok(()) }
//! ```

pub mod archive;
mod capacity;
mod cgroup;
mod disk;
pub mod env;
mod error;
mod host_tools;
mod image;
mod pool;
mod process;
mod runtime;
mod spec;
mod sync;
mod sys;
mod usage;

pub use capacity::{Capacity, HostBounds, HostFacts};
pub use disk::DataDisk;
pub use error::Error;
pub use image::{BuildProgress, ImageManifest, ImageStore, DEFAULT_IMAGE};
pub use process::{Collected, Output, Process, Pty};
pub use runtime::{InitExit, InitWatch, Leftovers, Recovered, Runtime, RuntimeConfig, SandboxState};
pub use sandbar_init::{ExitStatus, SpawnErrorKind};
pub use spec::{
    validate_env_name, validate_mount_target, BindMount, ExecSpec, ExecStdio, Limits, NetworkMode, SandboxId,
    SandboxSpec, DEFAULT_STOP_GRACE,
};
pub use sync::lock;
pub use usage::Usage;
