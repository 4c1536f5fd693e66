//! `git config` reads and writes in a scope, and the user identity.

use super::*;

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
