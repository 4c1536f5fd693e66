//! The router: every toolbox route, relative to `/toolbox/{sandboxId}`, and the handlers too small
//! for an area of their own. The SSH gateway will drive the same domain types without it.

use crate::{fs, git, interpreter, process, pty, session, system, Target};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use sandbar_api::toolbox::system::{Dir, Version};

/// The toolbox routes, relative to `/toolbox/{sandboxId}`; handlers read [`Target`] from the
/// request extensions.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/process/execute", post(process::execute))
        .route("/process/code-run", post(process::code_run))
        .route("/files", get(fs::routes::list).delete(fs::routes::delete))
        .route("/files/info", get(fs::routes::info))
        .route("/files/folder", post(fs::routes::create_folder))
        .route("/files/move", post(fs::routes::move_file))
        .route("/files/permissions", post(fs::routes::set_permissions))
        // Uploads stream to disk chunk by chunk, so no body limit applies (axum's default is 2 MB).
        .route("/files/bulk-upload", post(fs::transfer::bulk_upload).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/files/bulk-download", post(fs::transfer::bulk_download))
        .route("/files/download", get(fs::transfer::download))
        .route("/files/upload-v2", post(fs::transfer::upload).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/files/find", get(fs::search::find))
        .route("/files/search", get(fs::search::search))
        .route("/files/replace", post(fs::search::replace))
        .route("/process/session", get(session::routes::list).post(session::routes::create))
        .route("/process/session/{session}", get(session::routes::get).delete(session::routes::delete))
        .route("/process/session/{session}/exec", post(session::routes::exec))
        .route("/process/session/entrypoint/logs", get(session::routes::entrypoint_logs))
        .route("/process/session/{session}/command/{command}", get(session::routes::get_command))
        .route("/process/session/{session}/command/{command}/logs", get(session::routes::logs))
        .route("/process/session/{session}/command/{command}/input", post(session::routes::input))
        .route("/process/pty", get(pty::routes::list).post(pty::routes::create))
        .route("/process/pty/create-connect", get(pty::routes::create_connect))
        .route("/process/pty/{pty}", get(pty::routes::info).delete(pty::routes::kill))
        .route("/process/pty/{pty}/resize", post(pty::routes::resize))
        .route("/process/pty/{pty}/connect", get(pty::routes::connect))
        .route("/process/interpreter/context", get(interpreter::list).post(interpreter::create))
        .route("/process/interpreter/context/{context}", axum::routing::delete(interpreter::delete))
        .route("/process/interpreter/execute", get(interpreter::execute))
        .route("/git/clone", post(git::repo::clone))
        .route("/git/status", get(git::status::status))
        .route("/git/add", post(git::repo::add))
        .route("/git/commit", post(git::repo::commit))
        .route(
            "/git/branches",
            get(git::branches::branches).post(git::branches::create_branch).delete(git::branches::delete_branch),
        )
        .route("/git/checkout", post(git::branches::checkout))
        .route("/git/push", post(git::remotes::push))
        .route("/git/pull", post(git::remotes::pull))
        .route("/git/history", get(git::repo::history))
        .route("/git/init", post(git::repo::init))
        .route("/git/reset", post(git::repo::reset))
        .route("/git/restore", post(git::repo::restore))
        .route("/git/remotes", get(git::remotes::remotes).post(git::remotes::add_remote))
        .route("/git/config", get(git::config::get_config).post(git::config::set_config))
        .route("/git/config/user", post(git::config::set_user))
        .route("/git/credentials", post(git::remotes::credentials))
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
