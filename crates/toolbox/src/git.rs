//! Git routes (`shared/daytona-wire.md` §4.7), run with the `git` of the sandbox's image, as its
//! user, with arguments passed as argv (never through a shell). Request bodies use snake_case
//! keys (G17). Failures carry the daemon's git error codes.
//!
//! Sandboxes have loopback networking only until the networking work lands, so clone, push and
//! pull reach local repositories only; a remote URL fails with `GIT_TRANSPORT_FAILED`.

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
        let mut process = runtime.exec(&id, &exec)?;
        if let Some(mut stdin) = process.stdin.take() {
            // git may exit without reading (EPIPE is fine); dropping stdin closes it.
            let _ = std::io::Write::write_all(&mut stdin, &input);
        }
        process.collect(Some(GIT_TIMEOUT))
    })
    .await
    .map_err(|e| ToolboxError::internal(&e))?
    .map_err(|e| match e {
        sandbar_runtime::Error::Request { error, .. } => ToolboxError::bad_request(format!("cannot run git: {error}")),
        other => ToolboxError::internal(&other),
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
            || lower.contains("unable to access")
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

/// `POST /git/clone`.
pub(crate) async fn clone(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitCloneRequest = parse_json(&body)?;
    if request.url.is_empty() || request.path.is_empty() {
        return Err(ToolboxError::bad_request("url and path are required"));
    }
    let (mut args, env) = credential_env(&request.username, &request.password);
    if request.insecure_skip_tls {
        args.extend(["-c", "http.sslVerify=false"]);
    }
    args.push("clone");
    let depth = request.depth.map(|d| d.to_string());
    if let Some(depth) = &depth {
        args.extend(["--depth", depth.as_str()]);
    }
    if let Some(branch) = &request.branch {
        args.extend(["--branch", branch.as_str()]);
    }
    let destination = absolute(&target, &request.path);
    args.extend(["--", request.url.as_str(), destination.as_str()]);
    git(&target, "", &args, env.clone()).await?;
    if let Some(commit) = &request.commit_id {
        git(&target, &request.path, &["checkout", "--detach", commit.as_str()], env).await?;
    }
    Ok(ok())
}

/// `GET /git/status?path=`.
pub(crate) async fn status(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<GitStatus>, ToolboxError> {
    let out = git(&target, &query.path, &["status", "--porcelain=v1", "--branch", "-z"], Vec::new()).await?;
    let mut entries = out.split('\0').filter(|e| !e.is_empty());
    let header = entries.next().unwrap_or_default();
    let header = header.strip_prefix("## ").unwrap_or(header);
    let (branch_part, tracking) = header.split_once("...").map(|(b, t)| (b, Some(t))).unwrap_or((header, None));
    let current_branch = branch_part.strip_prefix("No commits yet on ").unwrap_or(branch_part).to_string();
    let ahead = tracking.and_then(|t| number_after(t, "ahead "));
    let behind = tracking.and_then(|t| number_after(t, "behind "));
    let mut files = Vec::new();
    let mut rest: Vec<&str> = entries.collect();
    rest.reverse();
    while let Some(entry) = rest.pop() {
        if entry.len() < 3 {
            continue;
        }
        let (x, y, name) = (&entry[0..1], &entry[1..2], &entry[3..]);
        // Renames and copies carry the old name as the next entry.
        let extra = if x == "R" || x == "C" { rest.pop().unwrap_or_default() } else { "" };
        files.push(FileStatus {
            name: name.to_string(),
            extra: extra.to_string(),
            staging: Status::from_porcelain(x),
            worktree: Status::from_porcelain(y),
        });
    }
    Ok(Json(GitStatus {
        current_branch,
        file_status: files,
        branch_published: tracking.is_some(),
        ahead: ahead.unwrap_or(0),
        behind: behind.unwrap_or(0),
    }))
}

fn number_after(text: &str, label: &str) -> Option<i64> {
    let start = text.find(label)? + label.len();
    text[start..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
}

/// `POST /git/add`.
pub(crate) async fn add(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitAddRequest = parse_json(&body)?;
    let mut args = vec!["add", "--"];
    if request.files.is_empty() {
        args.push(".");
    }
    args.extend(request.files.iter().map(String::as_str));
    git(&target, &request.path, &args, Vec::new()).await?;
    Ok(ok())
}

/// `POST /git/commit` → `{"hash": ...}`.
pub(crate) async fn commit(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Json<GitCommitResponse>, ToolboxError> {
    let request: GitCommitRequest = parse_json(&body)?;
    if request.message.is_empty() {
        return Err(ToolboxError::bad_request("commit message is empty"));
    }
    let author = format!("{} <{}>", request.author, request.email);
    let env = vec![
        ("GIT_COMMITTER_NAME".to_string(), request.author.clone()),
        ("GIT_COMMITTER_EMAIL".to_string(), request.email.clone()),
    ];
    let mut args = vec!["commit", "-m", request.message.as_str(), "--author", author.as_str()];
    if request.allow_empty {
        args.push("--allow-empty");
    }
    git(&target, &request.path, &args, env).await?;
    let hash = git(&target, &request.path, &["rev-parse", "HEAD"], Vec::new()).await?;
    Ok(Json(GitCommitResponse { hash: hash.trim().to_string() }))
}

/// `GET /git/branches?path=` → `{"branches": [...]}`.
pub(crate) async fn branches(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<ListBranchResponse>, ToolboxError> {
    let out = git(&target, &query.path, &["branch", "--format=%(refname:short)"], Vec::new()).await?;
    let branches = out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    Ok(Json(ListBranchResponse { branches }))
}

/// `POST /git/branches` → 201.
pub(crate) async fn create_branch(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitBranchRequest = parse_json(&body)?;
    git(&target, &request.path, &["branch", "--", request.name.as_str()], Vec::new()).await?;
    Ok(created())
}

/// `DELETE /git/branches` with a JSON body (G16) → 204.
pub(crate) async fn delete_branch(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ToolboxError> {
    let request: GitBranchRequest = parse_json(&body)?;
    git(&target, &request.path, &["branch", "-D", "--", request.name.as_str()], Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /git/checkout`.
pub(crate) async fn checkout(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitCheckoutRequest = parse_json(&body)?;
    git(&target, &request.path, &["checkout", request.branch.as_str(), "--"], Vec::new()).await?;
    Ok(ok())
}

/// `POST /git/push`.
pub(crate) async fn push(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitRepoRequest = parse_json(&body)?;
    let command: &[&str] = if request.set_upstream { &["push", "--set-upstream"] } else { &["push"] };
    sync_remote(&target, &request, command).await
}

/// `POST /git/pull`.
pub(crate) async fn pull(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitRepoRequest = parse_json(&body)?;
    sync_remote(&target, &request, &["pull", "--no-rebase"]).await
}

/// Runs a push or pull `command` with the request's credentials, remote and branch (the
/// branch only counts with a remote, as git's own argument order requires).
async fn sync_remote(target: &Target, request: &GitRepoRequest, command: &[&str]) -> Result<Response, ToolboxError> {
    let (mut args, env) = credential_env(&request.username, &request.password);
    args.extend(command);
    // A branch needs a remote before it on git's command line; the remote defaults to origin.
    let remote = request.remote.as_deref().or(request.branch.as_ref().map(|_| "origin"));
    if let Some(remote) = remote {
        args.push(remote);
        args.extend(request.branch.as_deref());
    }
    git(target, &request.path, &args, env).await?;
    Ok(ok())
}

/// `GET /git/history?path=` → commits, newest first.
pub(crate) async fn history(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<Vec<GitCommitInfo>>, ToolboxError> {
    let out = git(&target, &query.path, &["log", "--format=%H%x1f%an%x1f%ae%x1f%s%x1f%aI%x1e"], Vec::new()).await?;
    let commits: Vec<GitCommitInfo> = out
        .split('\x1e')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .filter_map(|record| {
            let fields: Vec<&str> = record.split('\x1f').collect();
            (fields.len() == 5).then(|| GitCommitInfo {
                hash: fields[0].to_string(),
                author: fields[1].to_string(),
                email: fields[2].to_string(),
                message: fields[3].to_string(),
                timestamp: fields[4].to_string(),
            })
        })
        .collect();
    Ok(Json(commits))
}

/// `POST /git/init` → 201 (SDK 0.226).
pub(crate) async fn init(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitInitRequest = parse_json(&body)?;
    let mut args = vec!["init"];
    if request.bare {
        args.push("--bare");
    }
    if let Some(branch) = &request.initial_branch {
        args.extend(["--initial-branch", branch.as_str()]);
    }
    let destination = absolute(&target, &request.path);
    args.push(destination.as_str());
    git(&target, "", &args, Vec::new()).await?;
    Ok(created())
}
