//! Daytona's toolbox API for one sandbox: what the SDKs call at
//! `{toolboxProxyUrl}/{sandboxId}/...` (`shared/daytona-wire.md` §4).
//!
//! Boundary: this crate knows nothing about the database, organizations, authentication or the
//! sandbox lifecycle. The server resolves and authorizes the sandbox a request addresses and
//! hands it over as a [`Target`] request extension; every process starts through
//! `sandbar_runtime::Runtime::exec`, inside the sandbox's namespaces and cgroup.

mod error;
mod file_info;
mod file_url;
mod files;
mod git;
mod git_extra;
mod interpreter;
mod process;
mod pty;
mod registry;
mod sessions;
mod system;
mod warm;

pub use interpreter::Interpreters;
pub use pty::Ptys;
pub use sessions::Sessions;
pub use warm::WarmShells;

pub use error::ToolboxError;

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use sandbar_api::toolbox::system::{Dir, Version};
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

/// The toolbox routes, relative to `/toolbox/{sandboxId}`; handlers read [`Target`] from the
/// request extensions.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/process/execute", post(process::execute))
        .route("/process/code-run", post(process::code_run))
        .route("/files", get(files::list).delete(files::delete))
        .route("/files/info", get(files::info))
        .route("/files/folder", post(files::create_folder))
        .route("/files/move", post(files::move_file))
        .route("/files/permissions", post(files::set_permissions))
        // Uploads stream to disk chunk by chunk, so no body limit applies (axum's default is 2 MB).
        .route("/files/bulk-upload", post(files::bulk_upload).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/files/bulk-download", post(files::bulk_download))
        .route("/files/download", get(file_url::download))
        .route("/files/upload-v2", post(file_url::upload).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/files/find", get(files::find))
        .route("/files/search", get(files::search))
        .route("/files/replace", post(files::replace))
        .route("/process/session", get(sessions::list).post(sessions::create))
        .route("/process/session/{session}", get(sessions::get).delete(sessions::delete))
        .route("/process/session/{session}/exec", post(sessions::exec))
        .route("/process/session/entrypoint/logs", get(sessions::entrypoint_logs))
        .route("/process/session/{session}/command/{command}", get(sessions::get_command))
        .route("/process/session/{session}/command/{command}/logs", get(sessions::logs))
        .route("/process/session/{session}/command/{command}/input", post(sessions::input))
        .route("/process/pty", get(pty::list).post(pty::create))
        .route("/process/pty/create-connect", get(pty::create_connect))
        .route("/process/pty/{pty}", get(pty::info).delete(pty::kill))
        .route("/process/pty/{pty}/resize", post(pty::resize))
        .route("/process/pty/{pty}/connect", get(pty::connect))
        .route("/process/interpreter/context", get(interpreter::list).post(interpreter::create))
        .route("/process/interpreter/context/{context}", axum::routing::delete(interpreter::delete))
        .route("/process/interpreter/execute", get(interpreter::execute))
        .route("/git/clone", post(git::clone))
        .route("/git/status", get(git::status))
        .route("/git/add", post(git::add))
        .route("/git/commit", post(git::commit))
        .route("/git/branches", get(git::branches).post(git::create_branch).delete(git::delete_branch))
        .route("/git/checkout", post(git::checkout))
        .route("/git/push", post(git::push))
        .route("/git/pull", post(git::pull))
        .route("/git/history", get(git::history))
        .route("/git/init", post(git::init))
        .route("/git/reset", post(git_extra::reset))
        .route("/git/restore", post(git_extra::restore))
        .route("/git/remotes", get(git_extra::remotes).post(git_extra::add_remote))
        .route("/git/config", get(git_extra::get_config).post(git_extra::set_config))
        .route("/git/config/user", post(git_extra::set_user))
        .route("/git/credentials", post(git_extra::credentials))
        .route("/env", post(system::update_env))
        .route("/system/metrics", get(system::metrics))
        .route("/user-home-dir", get(user_home_dir))
        .route("/work-dir", get(work_dir))
        .route("/version", get(version))
}

async fn user_home_dir(Extension(target): Extension<Target>) -> Json<Dir> {
    Json(Dir { dir: target.home })
}

async fn work_dir(Extension(target): Extension<Target>) -> Json<Dir> {
    Json(Dir { dir: target.workdir })
}

async fn version() -> Json<Version> {
    Json(Version { version: env!("CARGO_PKG_VERSION").to_string() })
}
