//! Git bodies (`shared/daytona-wire.md` §4.7): `/git/...`. Request bodies use snake_case keys
//! (G17); answers use camelCase like the rest of the API.

use serde::{Deserialize, Serialize};

/// `POST /git/clone` (the daemon's `GitCloneRequest`; `depth` from SDK 0.226).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitCloneRequest {
    /// What to clone.
    pub url: String,
    /// Where to.
    pub path: String,
    /// The branch to check out.
    pub branch: Option<String>,
    /// A commit to check out (detached) after the clone.
    pub commit_id: Option<String>,
    /// Credentials, given to git's credential helper only.
    pub username: Option<String>,
    /// Credentials, given to git's credential helper only.
    pub password: Option<String>,
    /// Skip TLS certificate verification for this clone.
    #[serde(default)]
    pub insecure_skip_tls: bool,
    /// A shallow clone of this many commits.
    pub depth: Option<u32>,
}

/// `GET /git/status?path=` (the daemon's `GitStatus`); every key is always sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitStatus {
    /// The checked-out branch.
    pub current_branch: String,
    /// Changed files.
    pub file_status: Vec<FileStatus>,
    /// Whether the branch tracks a remote one.
    pub branch_published: bool,
    /// Commits ahead of the tracked branch (0 without one).
    pub ahead: i64,
    /// Commits behind it.
    pub behind: i64,
}

/// One changed file of a [`GitStatus`] (the daemon's `FileStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileStatus {
    /// Its path in the repository.
    pub name: String,
    /// The old name of a rename or copy, else empty.
    pub extra: String,
    /// Its state in the index.
    pub staging: Status,
    /// Its state in the work tree.
    pub worktree: Status,
}

/// A file's state (the daemon's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[allow(missing_docs)]
pub enum Status {
    Unmodified,
    Untracked,
    Modified,
    Added,
    Deleted,
    Renamed,
    Copied,
    #[serde(rename = "Updated but unmerged")]
    UpdatedButUnmerged,
}

impl Status {
    /// The state of one letter of `git status --porcelain` (`?`, `M`, `A`, `D`, `R`, `C`, `U`).
    pub fn from_porcelain(code: &str) -> Status {
        match code {
            "?" => Status::Untracked,
            "M" => Status::Modified,
            "A" => Status::Added,
            "D" => Status::Deleted,
            "R" => Status::Renamed,
            "C" => Status::Copied,
            "U" => Status::UpdatedButUnmerged,
            _ => Status::Unmodified,
        }
    }
}

/// `POST /git/add` (the daemon's `GitAddRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitAddRequest {
    /// The repository.
    pub path: String,
    /// Paths to stage; everything when empty.
    #[serde(default)]
    pub files: Vec<String>,
}

/// `POST /git/commit` (the daemon's `GitCommitRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitCommitRequest {
    /// The repository.
    pub path: String,
    /// The commit message.
    pub message: String,
    /// Author (and committer) name.
    pub author: String,
    /// Author (and committer) email.
    pub email: String,
    /// Commit even without changes.
    #[serde(default)]
    pub allow_empty: bool,
}

/// Answer of `POST /git/commit` (the daemon's `GitCommitResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitCommitResponse {
    /// The new commit's sha.
    pub hash: String,
}

/// `GET /git/branches?path=` (the daemon's `ListBranchResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListBranchResponse {
    /// Local branch names.
    pub branches: Vec<String>,
}

/// `POST /git/branches` (→ 201) and `DELETE /git/branches` with a JSON body (→ 204; G16): the
/// daemon's `GitBranchRequest` and `GitDeleteBranchRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitBranchRequest {
    /// The repository.
    pub path: String,
    /// The branch.
    pub name: String,
}

/// `POST /git/checkout` (the daemon's `GitCheckoutRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitCheckoutRequest {
    /// The repository.
    pub path: String,
    /// Branch (or other revision) to check out.
    pub branch: String,
}

/// `POST /git/push` and `POST /git/pull` (the daemon's `GitRepoRequest`; `branch`, `remote` and
/// `set_upstream` from SDK 0.226).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitRepoRequest {
    /// The repository.
    pub path: String,
    /// Credentials, given to git's credential helper only.
    pub username: Option<String>,
    /// Credentials, given to git's credential helper only.
    pub password: Option<String>,
    /// The branch; needs a remote, `origin` when absent.
    pub branch: Option<String>,
    /// The remote.
    pub remote: Option<String>,
    /// Push with `--set-upstream`.
    #[serde(default)]
    pub set_upstream: bool,
}

/// One commit of `GET /git/history?path=` (the daemon's `GitCommitInfo`); the answer is an array
/// of them, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitCommitInfo {
    /// Its sha.
    pub hash: String,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// The subject line.
    pub message: String,
    /// Author date, ISO 8601.
    pub timestamp: String,
}

/// `POST /git/init` (SDK 0.226) → 201.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitInitRequest {
    /// Where the repository goes.
    pub path: String,
    /// A bare repository.
    #[serde(default)]
    pub bare: bool,
    /// Name of the first branch.
    pub initial_branch: Option<String>,
}

/// `POST /git/reset` (SDK 0.226): `git reset --<mode> [<target>] [-- <files>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitResetRequest {
    /// The repository.
    pub path: String,
    /// `soft`, `mixed` (the default), `hard`, `merge` or `keep`.
    pub mode: Option<String>,
    /// The revision; `HEAD` when absent.
    pub target: Option<String>,
    /// Limit a mixed reset to these paths.
    #[serde(default)]
    pub files: Vec<String>,
}

/// `POST /git/restore` (SDK 0.226): `git restore [--source] [--staged] [--worktree] -- <files>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitRestoreRequest {
    /// The repository.
    pub path: String,
    /// Paths to restore (at least one).
    #[serde(default)]
    pub files: Vec<String>,
    /// The revision to restore from.
    pub source: Option<String>,
    /// Restore the index.
    pub staged: Option<bool>,
    /// Restore the work tree (the default when `staged` is not set).
    pub worktree: Option<bool>,
}

/// `GET /git/remotes?path=` (SDK 0.226).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListRemotesResponse {
    /// Each remote with its fetch URL.
    pub remotes: Vec<GitRemote>,
}

/// One remote of [`ListRemotesResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitRemote {
    /// Its name.
    pub name: String,
    /// Its fetch URL.
    pub url: String,
}

/// `POST /git/remotes` (SDK 0.226) → 201.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitAddRemoteRequest {
    /// The repository.
    pub path: String,
    /// The remote's name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Fetch it right away.
    #[serde(default)]
    pub fetch: bool,
    /// Point an existing remote of that name at `url` instead of failing with 409.
    #[serde(default)]
    pub overwrite: bool,
}

/// `?key=&scope=[&path=]` of `GET /git/config` (SDK 0.226).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitConfigQuery {
    /// The key, such as `user.name`.
    #[serde(default)]
    pub key: String,
    /// The repository (required for the local scope).
    pub path: Option<String>,
    /// `global` (the default), `local` or `system`.
    pub scope: Option<String>,
}

/// Answer of `GET /git/config` (SDK 0.226): `value` is always sent, `null` when unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitConfigValue {
    /// The value.
    pub value: Option<String>,
}

/// `POST /git/config` (SDK 0.226).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitSetConfigRequest {
    /// The key.
    pub key: String,
    /// Its new value.
    pub value: String,
    /// The repository (required for the local scope).
    pub path: Option<String>,
    /// `global` (the default), `local` or `system`.
    pub scope: Option<String>,
}

/// `POST /git/config/user` (SDK 0.226): `user.name` and `user.email` in one call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitSetUserRequest {
    /// `user.name`.
    pub name: String,
    /// `user.email`.
    pub email: String,
    /// The repository (required for the local scope).
    pub path: Option<String>,
    /// `global` (the default), `local` or `system`.
    pub scope: Option<String>,
}

/// `POST /git/credentials` (SDK 0.226): stored with git's `store` helper.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GitCredentialsRequest {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
    /// `github.com` when absent.
    pub host: Option<String>,
    /// `https` when absent.
    pub protocol: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_has_every_key_and_the_daemon_state_names() {
        let body = json!({
            "currentBranch": "main",
            "fileStatus": [
                { "name": "new.txt", "extra": "", "staging": "Untracked", "worktree": "Untracked" },
                { "name": "b", "extra": "a", "staging": "Renamed", "worktree": "Unmodified" },
                { "name": "c", "extra": "", "staging": "Updated but unmerged", "worktree": "Modified" },
            ],
            "branchPublished": false,
            "ahead": 0,
            "behind": 0,
        });
        let parsed: GitStatus = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(parsed.file_status[2].staging, Status::UpdatedButUnmerged);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
    }

    #[test]
    fn porcelain_letters_map_to_states() {
        let names: Vec<Status> =
            ["?", "M", "A", "D", "R", "C", "U", " "].into_iter().map(Status::from_porcelain).collect();
        let json = serde_json::to_value(names).unwrap();
        assert_eq!(
            json,
            json!([
                "Untracked",
                "Modified",
                "Added",
                "Deleted",
                "Renamed",
                "Copied",
                "Updated but unmerged",
                "Unmodified"
            ])
        );
    }

    #[test]
    fn request_keys_are_snake_case() {
        let clone: GitCloneRequest = serde_json::from_value(json!({
            "url": "/r", "path": "p", "commit_id": "abc", "insecure_skip_tls": true, "depth": 1
        }))
        .unwrap();
        assert_eq!((clone.commit_id.as_deref(), clone.insecure_skip_tls, clone.depth), (Some("abc"), true, Some(1)));
        let push: GitRepoRequest = serde_json::from_value(json!({ "path": "p", "set_upstream": true })).unwrap();
        assert!(push.set_upstream);
        let commit = serde_json::from_value::<GitCommitRequest>(
            json!({ "path": "p", "message": "m", "author": "a", "email": "e" }),
        );
        assert!(!commit.unwrap().allow_empty, "allow_empty defaults to false (TS omits it)");
        assert!(serde_json::from_value::<GitCloneRequest>(json!({ "path": "p" })).is_err(), "url is required");
    }

    #[test]
    fn an_unset_config_value_is_null() {
        assert_eq!(serde_json::to_value(GitConfigValue { value: None }).unwrap(), json!({ "value": null }));
    }
}
