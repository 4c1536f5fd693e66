//! The git calls SDK 0.226 added (`shared/daytona-wire.md` §4.7): reset, restore, remotes,
//! config, user identity and stored credentials. Same rules as `git.rs`: the image's git, as the
//! sandbox's user, argv never through a shell, snake_case bodies, daemon error codes.

use crate::error::parse_json;
use crate::git::{created, git, git_with_input, ok};
use crate::{Target, ToolboxError};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use sandbar_api::toolbox::git::{
    GitAddRemoteRequest, GitConfigQuery, GitConfigValue, GitCredentialsRequest, GitRemote, GitResetRequest,
    GitRestoreRequest, GitSetConfigRequest, GitSetUserRequest, ListRemotesResponse,
};
use sandbar_api::toolbox::PathQuery;

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

/// `GET /git/remotes?path=` → `{"remotes": [{"name", "url"}]}` (fetch URLs).
pub(crate) async fn remotes(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<ListRemotesResponse>, ToolboxError> {
    let out = git(&target, &query.path, &["remote", "-v"], Vec::new()).await?;
    let remotes: Vec<GitRemote> = out
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once('\t')?;
            let url = rest.strip_suffix(" (fetch)")?;
            Some(GitRemote { name: name.to_string(), url: url.to_string() })
        })
        .collect();
    Ok(Json(ListRemotesResponse { remotes }))
}

/// `POST /git/remotes` → 201: adds a remote (or, with `overwrite`, points an existing one at
/// the new URL); `fetch` fetches it right away.
pub(crate) async fn add_remote(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitAddRemoteRequest = parse_json(&body)?;
    if request.name.is_empty() || request.url.is_empty() {
        return Err(ToolboxError::bad_request("name and url are required"));
    }
    let existing = git(&target, &request.path, &["remote"], Vec::new()).await?;
    let exists = existing.lines().any(|line| line == request.name);
    match (exists, request.overwrite) {
        (true, false) => {
            return Err(ToolboxError {
                status: StatusCode::CONFLICT,
                code: "CONFLICT",
                message: format!("remote {} already exists; pass overwrite to replace its URL", request.name),
            })
        }
        (true, true) => {
            git(&target, &request.path, &["remote", "set-url", "--", &request.name, &request.url], Vec::new()).await?
        }
        (false, _) => {
            git(&target, &request.path, &["remote", "add", "--", &request.name, &request.url], Vec::new()).await?
        }
    };
    if request.fetch {
        git(&target, &request.path, &["fetch", "--", &request.name], Vec::new()).await?;
    }
    Ok(created())
}

/// `--global` (the default), `--local` or `--system`.
fn scope_flag(scope: Option<&str>) -> Result<&'static str, ToolboxError> {
    match scope.unwrap_or("global") {
        "global" => Ok("--global"),
        "local" => Ok("--local"),
        "system" => Ok("--system"),
        other => Err(ToolboxError::bad_request(format!("config scope {other:?} is not one of global, local, system"))),
    }
}

/// The repository a config call runs in: local scope needs one.
fn config_path<'a>(scope: &str, path: Option<&'a str>) -> Result<&'a str, ToolboxError> {
    match (scope, path) {
        ("--local", None | Some("")) => Err(ToolboxError::bad_request("path is required for the local scope")),
        (_, path) => Ok(path.unwrap_or("")),
    }
}

/// `GET /git/config?key=&scope=[&path=]` → `{"value": ...}`, null when unset.
pub(crate) async fn get_config(
    Extension(target): Extension<Target>,
    Query(query): Query<GitConfigQuery>,
) -> Result<Json<GitConfigValue>, ToolboxError> {
    if query.key.is_empty() {
        return Err(ToolboxError::bad_request("key is required"));
    }
    let scope = scope_flag(query.scope.as_deref())?;
    let path = config_path(scope, query.path.as_deref())?;
    // `git config --get` exits 1 for an unset key: ask for a default instead so that unset is
    // told apart from a failure. The default is a value git cannot store (it has a newline).
    const UNSET: &str = "\n<unset>";
    let out = git(&target, path, &["config", scope, "--default", UNSET, "--get", "--", &query.key], Vec::new()).await?;
    let value = out.strip_suffix('\n').unwrap_or(&out);
    Ok(Json(GitConfigValue { value: (value != UNSET).then(|| value.to_string()) }))
}

/// `POST /git/config`.
pub(crate) async fn set_config(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitSetConfigRequest = parse_json(&body)?;
    if request.key.is_empty() {
        return Err(ToolboxError::bad_request("key is required"));
    }
    let scope = scope_flag(request.scope.as_deref())?;
    let path = config_path(scope, request.path.as_deref())?;
    git(&target, path, &["config", scope, "--", &request.key, &request.value], Vec::new()).await?;
    Ok(ok())
}

/// `POST /git/config/user`: `user.name` and `user.email` in one call.
pub(crate) async fn set_user(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitSetUserRequest = parse_json(&body)?;
    let scope = scope_flag(request.scope.as_deref())?;
    let path = config_path(scope, request.path.as_deref())?;
    git(&target, path, &["config", scope, "--", "user.name", &request.name], Vec::new()).await?;
    git(&target, path, &["config", scope, "--", "user.email", &request.email], Vec::new()).await?;
    Ok(ok())
}

/// `POST /git/credentials`: stores the pair with git's `store` helper (`~/.git-credentials`,
/// plain text, mode 0600, as the SDK documents) and makes that helper the user's default, so
/// later clones, pushes and pulls without credentials in the body use it.
pub(crate) async fn credentials(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitCredentialsRequest = parse_json(&body)?;
    let host = request.host.as_deref().unwrap_or("github.com");
    let protocol = request.protocol.as_deref().unwrap_or("https");
    let fields = [
        ("username", request.username.as_str()),
        ("password", &request.password),
        ("host", host),
        ("protocol", protocol),
    ];
    for (name, value) in fields {
        // git's credential protocol is line based: a newline would inject another attribute.
        if value.is_empty() || value.contains(['\n', '\0']) {
            return Err(ToolboxError::bad_request(format!("{name} must be non-empty and on one line")));
        }
    }
    git(&target, "", &["config", "--global", "credential.helper", "store"], Vec::new()).await?;
    let input =
        format!("protocol={protocol}\nhost={host}\nusername={}\npassword={}\n\n", request.username, request.password);
    git_with_input(&target, "", &["credential-store", "store"], Vec::new(), input.into_bytes()).await?;
    Ok(ok())
}
