//! Git (`shared/daytona-wire.md` §4.7), run with the `git` of the sandbox's image, as its user,
//! with arguments passed as argv (never through a shell). Request bodies use snake_case keys
//! (G17). Failures carry the daemon's git error codes.
//!
//! Sandboxes have loopback networking only until the networking work lands, so clone, push and
//! pull reach local repositories only; a remote URL fails with `GIT_TRANSPORT_FAILED`.
//!
//! Layout: `mod.rs` (running git, its errors, credentials), `repo.rs` (clone, init, add, commit,
//! history, reset, restore), `status.rs` (porcelain parsing), `branches.rs`, `remotes.rs` (push,
//! pull, remotes, stored credentials), `config.rs`.

pub(crate) mod branches;
pub(crate) mod config;
pub(crate) mod remotes;
pub(crate) mod repo;
pub(crate) mod status;

use crate::error::parse_json;
use crate::{Target, ToolboxError};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sandbar_api::toolbox::git::{
    FileStatus, GitAddRequest, GitBranchRequest, GitCheckoutRequest, GitCloneRequest, GitCommitInfo, GitCommitRequest,
    GitCommitResponse, GitInitRequest, GitRepoRequest, GitStatus, ListBranchResponse, Status,
};
use sandbar_api::toolbox::git::{
    GitAddRemoteRequest, GitConfigQuery, GitConfigValue, GitCredentialsRequest, GitRemote, GitResetRequest,
    GitRestoreRequest, GitSetConfigRequest, GitSetUserRequest, ListRemotesResponse,
};
use sandbar_api::toolbox::{Empty, PathQuery};
use sandbar_runtime::ExecSpec;
use std::time::Duration;

/// Git operations that take longer are stopped.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `git -C <path> <args>` in the sandbox; returns stdout, or the daemon-style error.
pub(crate) async fn git(
    target: &Target,
    path: &str,
    args: &[&str],
    env: Vec<(String, String)>,
) -> Result<String, ToolboxError> {
    git_with_input(target, path, args, env, Vec::new()).await
}

/// [`git`] with `input` on its stdin (closed after it).
pub(crate) async fn git_with_input(
    target: &Target,
    path: &str,
    args: &[&str],
    env: Vec<(String, String)>,
    input: Vec<u8>,
) -> Result<String, ToolboxError> {
    let path = absolute(target, path);
    let mut argv = vec!["git".to_string(), "-C".to_string(), path];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut exec = ExecSpec::new(argv);
    exec.user = Some(target.user.clone());
    exec.cwd = Some(target.workdir.clone());
    exec.env = env;
    exec.env.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
    let runtime = std::sync::Arc::clone(&target.runtime);
    let id = target.id.clone();
    let collected = tokio::task::spawn_blocking(move || {
        // The deadline covers feeding the input; git may exit without reading it (fine).
        runtime.exec(&id, &exec)?.collect_with_input(input, Some(GIT_TIMEOUT))
    })
    .await
    .map_err(|e| ToolboxError::internal(&e))?
    .map_err(|e| match e {
        sandbar_runtime::Error::Request { error, .. } => ToolboxError::bad_request(format!("cannot run git: {error}")),
        // An author, email or credential with a NUL byte is an invalid spec: a 400.
        other => ToolboxError::runtime(other),
    })?;
    if collected.timed_out {
        return Err(ToolboxError::timeout(format!(
            "git {} took longer than {} s",
            args.first().unwrap_or(&""),
            GIT_TIMEOUT.as_secs()
        )));
    }
    let stdout = String::from_utf8_lossy(&collected.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&collected.stderr).into_owned();
    if collected.status.shell_code() == 0 {
        Ok(stdout)
    } else {
        Err(git_error(&stderr, &stdout))
    }
}

/// A request path made absolute: relative paths are under the working directory.
pub(crate) fn absolute(target: &Target, path: &str) -> String {
    if path.is_empty() {
        target.workdir.clone()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{}", target.workdir.trim_end_matches('/'), path)
    }
}

/// Whether git could not reach a remote: "unable to access 'https://…/': …". The same words
/// about a local file ("unable to access '/repo/.git/config': Is a directory") are the request's
/// fault, not the network's.
fn unable_to_access_remote(lower: &str) -> bool {
    lower.match_indices("unable to access '").any(|(at, prefix)| {
        let quoted = &lower[at + prefix.len()..];
        quoted.split('\'').next().is_some_and(|target| target.contains("://"))
    })
}

/// Maps git's complaint to the daemon's codes (SDK 0.226 raises precise classes from them).
fn git_error(stderr: &str, stdout: &str) -> ToolboxError {
    let text = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
    let lower = text.to_lowercase();
    let (status, code) =
        if lower.contains("not a git repository") || lower.contains("does not appear to be a git repository") {
            (StatusCode::NOT_FOUND, "GIT_REPO_NOT_FOUND")
        } else if lower.contains("authentication failed") || lower.contains("could not read username") {
            (StatusCode::UNAUTHORIZED, "GIT_AUTH_FAILED")
        } else if lower.contains("already exists") && lower.contains("branch") {
            (StatusCode::CONFLICT, "GIT_BRANCH_EXISTS")
        } else if lower.contains("already exists") && lower.contains("remote") {
            (StatusCode::CONFLICT, "CONFLICT")
        } else if (lower.contains("not found") && lower.contains("branch"))
            || lower.contains("did not match any")
            || lower.contains("invalid reference")
        {
            (StatusCode::NOT_FOUND, "GIT_BRANCH_NOT_FOUND")
        } else if lower.contains("rejected") {
            (StatusCode::CONFLICT, "GIT_PUSH_REJECTED")
        } else if lower.contains("conflict") {
            (StatusCode::CONFLICT, "GIT_MERGE_CONFLICT")
        } else if lower.contains("would be overwritten") || lower.contains("please commit your changes") {
            (StatusCode::CONFLICT, "GIT_DIRTY_WORKTREE")
        } else if lower.contains("could not resolve host")
            || unable_to_access_remote(&lower)
            || lower.contains("network is unreachable")
            || lower.contains("connection refused")
        {
            (StatusCode::BAD_GATEWAY, "GIT_TRANSPORT_FAILED")
        } else {
            (StatusCode::BAD_REQUEST, "BAD_REQUEST")
        };
    ToolboxError { status, code, message: format!("git failed: {text}") }
}

pub(crate) fn ok() -> Response {
    (StatusCode::OK, Json(Empty {})).into_response()
}

/// 201 with `{}`.
pub(crate) fn created() -> Response {
    (StatusCode::CREATED, Json(Empty {})).into_response()
}

/// Credentials go into the URL of a clone only through git's own credential helper input, never
/// into the stored remote: a one-shot helper answers from environment variables.
fn credential_env(username: &Option<String>, password: &Option<String>) -> (Vec<&'static str>, Vec<(String, String)>) {
    match (username, password) {
        (Some(user), Some(pass)) => (
            vec![
                "-c",
                "credential.helper=",
                "-c",
                "credential.helper=!f() { echo username=$SANDBAR_GIT_USER; echo password=$SANDBAR_GIT_PASS; }; f",
            ],
            vec![("SANDBAR_GIT_USER".into(), user.clone()), ("SANDBAR_GIT_PASS".into(), pass.clone())],
        ),
        _ => (Vec::new(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unreachable_remote_is_a_transport_failure() {
        let remote = git_error("fatal: unable to access 'https://example.invalid/r.git/': Could not resolve host", "");
        assert_eq!((remote.status, remote.code), (StatusCode::BAD_GATEWAY, "GIT_TRANSPORT_FAILED"));
        let local = git_error("error: unable to access '/home/daytona/x/.git/config': Is a directory", "");
        assert_eq!((local.status, local.code), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
        assert!(local.message.contains("Is a directory"), "{}", local.message);
    }
}
