//! A repository's life: clone, init, add, commit, history, reset and restore.

use super::*;

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

/// `POST /git/reset`: `git reset --<mode> [<target>] [-- <files>]`.
pub(crate) async fn reset(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitResetRequest = parse_json(&body)?;
    let mode = request.mode.as_deref().unwrap_or("mixed");
    if !["soft", "mixed", "hard", "merge", "keep"].contains(&mode) {
        return Err(ToolboxError::bad_request(format!(
            "reset mode {mode:?} is not one of soft, mixed, hard, merge, keep"
        )));
    }
    if !request.files.is_empty() && mode != "mixed" {
        return Err(ToolboxError::bad_request(format!("a {mode} reset cannot be limited to files; use mixed")));
    }
    let mode_flag = format!("--{mode}");
    // With files, git takes no mode flag (mixed is the only one it allows there).
    let mut args = vec!["reset"];
    if request.files.is_empty() {
        args.push(&mode_flag);
    }
    args.push(request.target.as_deref().unwrap_or("HEAD"));
    if !request.files.is_empty() {
        args.push("--");
        args.extend(request.files.iter().map(String::as_str));
    }
    git(&target, &request.path, &args, Vec::new()).await?;
    Ok(ok())
}

/// `POST /git/restore`: `git restore [--source=<rev>] [--staged] [--worktree] -- <files>`; the
/// work tree is restored when neither is asked for.
pub(crate) async fn restore(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitRestoreRequest = parse_json(&body)?;
    if request.files.is_empty() {
        return Err(ToolboxError::bad_request("files is empty: name the paths to restore"));
    }
    let source = request.source.as_ref().map(|s| format!("--source={s}"));
    let staged = request.staged.unwrap_or(false);
    let worktree = request.worktree.unwrap_or(!staged);
    let mut args = vec!["restore"];
    args.extend(source.as_deref());
    if staged {
        args.push("--staged");
    }
    if worktree {
        args.push("--worktree");
    }
    args.push("--");
    args.extend(request.files.iter().map(String::as_str));
    git(&target, &request.path, &args, Vec::new()).await?;
    Ok(ok())
}
