//! Talking to other repositories: push, pull, the remotes list and git's stored credentials.

use super::*;

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
