//! Daytona's toolbox API for one sandbox: what the SDKs call at
//! `{toolboxProxyUrl}/{sandboxId}/...` (`shared/daytona-wire.md` §4).
//!
//! Boundary: this crate knows nothing about the database, organizations, authentication or the
//! sandbox lifecycle. The server resolves and authorizes the sandbox a request addresses and
//! hands it over as a [`Target`] request extension; every process starts through
//! `sandbar_runtime::Runtime::exec`, inside the sandbox's namespaces and cgroup.

//!
//! # Layout
//!
//! One folder per area. In `fs/` (`SandboxFs`, the path-safe view, and the file routes),
//! `session/` (the session log and its commands) and `pty/` (the PTY session, its WebSocket
//! bridge and routes) the domain types know nothing of HTTP and the axum routes sit beside them;
//! `git/` is handlers over the image's git, split by what they touch. `process.rs`,
//! `interpreter.rs`, `system.rs` and `warm.rs` are single files; `routes.rs` is the router,
//! `registry.rs` the per-sandbox tables, `error.rs` the daemon-shaped error.

mod error;
mod fs;
mod git;
mod interpreter;
mod process;
mod pty;
mod registry;
mod routes;
mod session;
mod system;
mod warm;

pub use interpreter::Interpreters;
pub use pty::Ptys;
pub use routes::router;
pub use session::Sessions;
pub use warm::WarmShells;

pub use error::ToolboxError;

use sandbar_runtime::{Runtime, SandboxId};
use std::sync::Arc;

/// The running sandbox a toolbox request addresses, with its defaults.
#[derive(Clone)]
pub struct Target {
    /// The runtime that runs it.
    pub runtime: Arc<Runtime>,
    /// Its runtime id.
    pub id: SandboxId,
    /// OS user processes run as.
    pub user: String,
    /// That user's home directory.
    pub home: String,
    /// The working directory relative paths resolve against.
    pub workdir: String,
    /// Value of the `code-toolbox-language` label, the default for code runs.
    pub language: Option<String>,
    /// Sessions of every sandbox (shared by all requests).
    pub sessions: Arc<Sessions>,
    /// PTY sessions of every sandbox (shared by all requests).
    pub ptys: Arc<Ptys>,
    /// Interpreter contexts of every sandbox (shared by all requests).
    pub interpreters: Arc<Interpreters>,
    /// Spare shells for `process/execute` (shared by all requests).
    pub warm: Arc<WarmShells>,
}
