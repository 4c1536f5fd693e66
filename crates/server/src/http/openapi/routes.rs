//! The operation table of the OpenAPI document: one entry per route and method the router serves
//! (`http::router` for `/api`, `sandbar_toolbox::router` under `/toolbox/{sandboxId}`), with the
//! types each handler decodes and answers. Path parameters carry Daytona's names.

use super::{binary, text, Kind, Op};
use sandbar_api::config::Configuration;
use sandbar_api::toolbox::{fs, git, interpreter, process, pty, session, system, Empty, PathQuery};
use sandbar_api::{
    CreateSandbox, CreateSandboxSnapshot, CreateSnapshot, CreateVolume, ForkSandbox, Health, Labels, Message,
    NetworkSettings, PaginatedSandboxes, PaginatedSnapshots, ResizeSandbox, Sandbox, SandboxList, Snapshot, Url,
    Volume,
};
use utoipa::openapi::path::HttpMethod::{Delete, Get, Post, Put};
use utoipa::openapi::schema::{ObjectBuilder, Type};

/// Every operation, control plane first, then the toolbox.
pub(super) fn table() -> Vec<Op> {
    let mut ops = control_plane();
    ops.extend(toolbox());
    ops
}

/// The filters `GET /api/sandbox` and `GET /api/sandbox/paginated` read.
fn list_filters(op: Op) -> Op {
    op.query("limit", Kind::Integer)
        .query("id", Kind::Text)
        .query("name", Kind::Text)
        .query("labels", Kind::Text)
        .query("includeErroredDeleted", Kind::Boolean)
        .query("states", Kind::List)
        .query("snapshots", Kind::List)
        .query("minCpu", Kind::Integer)
        .query("maxCpu", Kind::Integer)
        .query("minMemoryGiB", Kind::Integer)
        .query("maxMemoryGiB", Kind::Integer)
        .query("minDiskGiB", Kind::Integer)
        .query("maxDiskGiB", Kind::Integer)
        .query("isPublic", Kind::Boolean)
        .query("isRecoverable", Kind::Boolean)
        .query("createdAtAfter", Kind::Time)
        .query("createdAtBefore", Kind::Time)
        .query("lastEventAfter", Kind::Time)
        .query("lastEventBefore", Kind::Time)
        .query("sort", Kind::Text)
        .query("order", Kind::Text)
}

fn control_plane() -> Vec<Op> {
    const ONE: &str = "/api/sandbox/{sandboxIdOrName}";
    let sandbox_op = |path: &'static str, id: &str, summary: &str| Op::new(Post, path, id, summary).ok::<Sandbox>(200);
    let interval = |path: &'static str, id: &str, summary: &str| {
        Op::new(Post, path, id, summary).path_param("interval", Kind::Integer).ok::<Sandbox>(200)
    };
    vec![
        list_filters(Op::new(Get, "/api/sandbox", "listSandboxes", "list sandboxes, a cursor page at a time"))
            .query("cursor", Kind::Text)
            .ok::<SandboxList>(200),
        Op::new(Post, "/api/sandbox", "createSandbox", "create a sandbox and start it")
            .body::<CreateSandbox>()
            .ok::<Sandbox>(200),
        list_filters(Op::new(Get, "/api/sandbox/paginated", "listSandboxesPaginated", "list sandboxes by page"))
            .query("page", Kind::Integer)
            .ok::<PaginatedSandboxes>(200),
        Op::new(Get, ONE, "getSandbox", "a sandbox").ok::<Sandbox>(200),
        Op::new(Delete, ONE, "deleteSandbox", "delete a sandbox").ok::<Sandbox>(200),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/start", "startSandbox", "start (or resume) a sandbox"),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/stop", "stopSandbox", "stop a sandbox")
            .query("force", Kind::Boolean),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/recover", "recoverSandbox", "recover a sandbox in error"),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/archive", "archiveSandbox", "archive a stopped sandbox"),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/pause", "pauseSandbox", "freeze a sandbox's processes"),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/resize", "resizeSandbox", "change a sandbox's resources")
            .body::<ResizeSandbox>(),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/fork", "forkSandbox", "copy a sandbox into a new one")
            .body::<ForkSandbox>(),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/snapshot", "createSandboxSnapshot", "snapshot a sandbox")
            .body::<CreateSandboxSnapshot>(),
        Op::new(Put, "/api/sandbox/{sandboxIdOrName}/labels", "replaceLabels", "replace a sandbox's labels")
            .body::<Labels>()
            .ok::<Labels>(200),
        interval("/api/sandbox/{sandboxIdOrName}/autostop/{interval}", "setAutostopInterval", "minutes idle to stop"),
        interval(
            "/api/sandbox/{sandboxIdOrName}/autoarchive/{interval}",
            "setAutoArchiveInterval",
            "minutes to archive",
        ),
        interval("/api/sandbox/{sandboxIdOrName}/autodelete/{interval}", "setAutoDeleteInterval", "minutes to delete"),
        interval(
            "/api/sandbox/{sandboxIdOrName}/autopause/{interval}",
            "setAutoPauseInterval",
            "minutes idle to pause",
        ),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/public/{isPublic}", "updatePublicStatus", "make previews public")
            .path_param("isPublic", Kind::Boolean),
        sandbox_op("/api/sandbox/{sandboxIdOrName}/network-settings", "updateNetworkSettings", "network rules")
            .body::<NetworkSettings>(),
        Op::new(Post, "/api/sandbox/{sandboxId}/last-activity", "updateLastActivity", "record activity now")
            .ok_empty(201),
        Op::new(Get, "/api/sandbox/{sandboxId}/toolbox-proxy-url", "getToolboxProxyUrl", "the toolbox base URL")
            .ok::<Url>(200),
        Op::new(Get, "/api/sandbox/{sandboxIdOrName}/build-logs-url", "getBuildLogsUrl", "the build log's URL")
            .ok::<Url>(200),
        Op::new(Get, "/api/sandbox/{sandboxIdOrName}/build-logs", "getBuildLogs", "the image build's log")
            .query("follow", Kind::Boolean)
            .ok_raw(200, "application/octet-stream", text()),
        Op::new(Get, "/api/sandbox/{sandboxIdOrName}/signing-key", "getSigningKey", "the key of signed file URLs")
            .ok_raw(200, "text/plain", text()),
        Op::new(Post, "/api/sandbox/{sandboxIdOrName}/signing-key/rotate", "rotateSigningKey", "a new signing key")
            .ok_raw(200, "text/plain", text()),
        Op::new(Get, "/api/snapshots", "getAllSnapshots", "list snapshots by page")
            .query("page", Kind::Integer)
            .query("limit", Kind::Integer)
            .query("sourceSandboxId", Kind::Text)
            .ok::<PaginatedSnapshots>(200),
        Op::new(Post, "/api/snapshots", "createSnapshot", "create a snapshot from an image")
            .body::<CreateSnapshot>()
            .ok::<Snapshot>(200),
        Op::new(Get, "/api/snapshots/{id}", "getSnapshot", "a snapshot by id or name").ok::<Snapshot>(200),
        Op::new(Delete, "/api/snapshots/{id}", "removeSnapshot", "delete an unused snapshot").ok::<Message>(200),
        Op::new(Post, "/api/snapshots/{id}/activate", "activateSnapshot", "activate a snapshot").ok::<Snapshot>(200),
        Op::new(Get, "/api/volumes", "listVolumes", "list volumes").ok_list::<Volume>(200),
        Op::new(Post, "/api/volumes", "createVolume", "create a volume").body::<CreateVolume>().ok::<Volume>(200),
        Op::new(Get, "/api/volumes/by-name/{name}", "getVolumeByName", "a volume by name").ok::<Volume>(200),
        Op::new(Get, "/api/volumes/{volumeId}", "getVolume", "a volume").ok::<Volume>(200),
        Op::new(Delete, "/api/volumes/{volumeId}", "deleteVolume", "delete an unmounted volume").ok::<Message>(200),
        Op::new(Get, "/api/health", "health", "ready to create sandboxes").ok::<Health>(200).public(),
        Op::new(Get, "/api/config", "getConfig", "the server's configuration").ok::<Configuration>(200).public(),
        Op::new(Get, "/api-json", "getOpenApi", "this document")
            .ok_raw(200, "application/json", ObjectBuilder::new().schema_type(Type::Object).into())
            .public(),
    ]
}

fn toolbox() -> Vec<Op> {
    macro_rules! at {
        ($path:literal) => {
            concat!("/toolbox/{sandboxId}", $path)
        };
    }
    vec![
        Op::new(Post, at!("/process/execute"), "executeCommand", "run a command and wait for it")
            .body::<process::ExecuteRequest>()
            .ok::<process::ExecuteResponse>(200),
        Op::new(Post, at!("/process/code-run"), "codeRun", "run code in the sandbox's language")
            .body::<process::CodeRunRequest>()
            .ok::<process::CodeRunResponse>(200),
        Op::new(Get, at!("/files"), "listFiles", "a directory's entries")
            .query_of::<fs::ListFilesQuery>()
            .ok_list::<fs::FileInfo>(200),
        Op::new(Delete, at!("/files"), "deleteFile", "delete a file or, recursively, a directory")
            .query_of::<fs::DeleteFileQuery>()
            .ok_empty(204),
        Op::new(Get, at!("/files/info"), "getFileInfo", "a file's details")
            .query_of::<PathQuery>()
            .ok::<fs::FileInfo>(200),
        Op::new(Post, at!("/files/folder"), "createFolder", "create a directory with its parents")
            .query_of::<fs::CreateFolderQuery>()
            .ok_empty(201),
        Op::new(Post, at!("/files/move"), "moveFile", "move or rename").query_of::<fs::MoveQuery>().ok_empty(200),
        Op::new(Post, at!("/files/permissions"), "setFilePermissions", "mode, owner, group")
            .query_of::<fs::SetPermissionsQuery>()
            .ok_empty(200),
        Op::new(Post, at!("/files/bulk-upload"), "uploadFiles", "upload files (files[i].path, files[i].file)")
            .body_raw("multipart/form-data", multipart())
            .ok::<fs::BulkUploadResponse>(200),
        Op::new(Post, at!("/files/bulk-download"), "downloadFiles", "download files as one multipart answer")
            .body::<fs::FilesDownloadRequest>()
            .ok_raw(200, "multipart/form-data", binary()),
        Op::new(Get, at!("/files/download"), "downloadFile", "a file's bytes").query_of::<PathQuery>().ok_raw(
            200,
            "application/octet-stream",
            binary(),
        ),
        Op::new(Post, at!("/files/upload-v2"), "uploadFile", "store one file (multipart or raw bytes)")
            .query_of::<PathQuery>()
            .body_raw("multipart/form-data", multipart())
            .body_raw("application/octet-stream", binary())
            .ok::<fs::FileUploadResponse>(200),
        Op::new(Get, at!("/files/find"), "findInFiles", "lines that contain a text")
            .query_of::<fs::PatternQuery>()
            .ok_list::<fs::Match>(200),
        Op::new(Get, at!("/files/search"), "searchFiles", "files whose names match a glob")
            .query_of::<fs::PatternQuery>()
            .ok::<fs::SearchFilesResponse>(200),
        Op::new(Post, at!("/files/replace"), "replaceInFiles", "replace a text in files")
            .body::<fs::ReplaceRequest>()
            .ok_list::<fs::ReplaceResult>(200),
        Op::new(Get, at!("/process/session"), "listSessions", "the sessions").ok_list::<session::Session>(200),
        Op::new(Post, at!("/process/session"), "createSession", "create a shell session")
            .body::<session::CreateSessionRequest>()
            .ok_empty(201),
        Op::new(Get, at!("/process/session/{sessionId}"), "getSession", "a session and its commands")
            .ok::<session::Session>(200),
        Op::new(Delete, at!("/process/session/{sessionId}"), "deleteSession", "end a session").ok_empty(204),
        Op::new(Post, at!("/process/session/{sessionId}/exec"), "sessionExecuteCommand", "run a command in a session")
            .body::<session::SessionExecuteRequest>()
            .ok::<session::SessionExecuteResponse>(200)
            .ok::<session::SessionExecuteResponse>(202),
        Op::new(Get, at!("/process/session/entrypoint/logs"), "getEntrypointLogs", "the entrypoint's log")
            .query_of::<session::SessionLogsQuery>()
            .ok::<session::SessionCommandLogsResponse>(200)
            .websocket(),
        Op::new(Get, at!("/process/session/{sessionId}/command/{commandId}"), "getSessionCommand", "a command")
            .ok::<session::Command>(200),
        Op::new(Get, at!("/process/session/{sessionId}/command/{commandId}/logs"), "getSessionCommandLogs", "its log")
            .query_of::<session::SessionLogsQuery>()
            .ok::<session::SessionCommandLogsResponse>(200)
            .websocket(),
        Op::new(Post, at!("/process/session/{sessionId}/command/{commandId}/input"), "sendInput", "a line of input")
            .body::<session::SessionSendInputRequest>()
            .ok_empty(204),
        Op::new(Get, at!("/process/pty"), "listPtySessions", "the PTY sessions").ok::<pty::PtyListResponse>(200),
        Op::new(Post, at!("/process/pty"), "createPtySession", "start a PTY session")
            .body::<pty::PtyCreateRequest>()
            .ok::<pty::PtyCreateResponse>(201),
        Op::new(Get, at!("/process/pty/create-connect"), "createPtyConnect", "start a PTY session and attach")
            .query_of::<pty::PtyCreateConnectQuery>()
            .websocket(),
        Op::new(Get, at!("/process/pty/{sessionId}"), "getPtySession", "a PTY session").ok::<pty::PtySessionInfo>(200),
        Op::new(Delete, at!("/process/pty/{sessionId}"), "deletePtySession", "kill a PTY session").ok::<Message>(200),
        Op::new(Post, at!("/process/pty/{sessionId}/resize"), "resizePtySession", "resize a PTY")
            .body::<pty::PtyResizeRequest>()
            .ok::<pty::PtySessionInfo>(200),
        Op::new(Get, at!("/process/pty/{sessionId}/connect"), "connectPtySession", "attach to a PTY").websocket(),
        Op::new(Get, at!("/process/interpreter/context"), "listInterpreterContexts", "the interpreter contexts")
            .ok::<interpreter::ListContextsResponse>(200),
        Op::new(Post, at!("/process/interpreter/context"), "createInterpreterContext", "a new interpreter context")
            .body::<interpreter::CreateContextRequest>()
            .ok::<interpreter::InterpreterContext>(200),
        Op::new(Delete, at!("/process/interpreter/context/{id}"), "deleteInterpreterContext", "end a context")
            .ok::<Message>(200),
        Op::new(Get, at!("/process/interpreter/execute"), "executeInterpreterCode", "run code over a WebSocket")
            .websocket(),
        Op::new(Post, at!("/git/clone"), "cloneRepository", "clone a repository")
            .body::<git::GitCloneRequest>()
            .ok::<Empty>(200),
        Op::new(Get, at!("/git/status"), "getStatus", "a repository's status")
            .query_of::<PathQuery>()
            .ok::<git::GitStatus>(200),
        Op::new(Post, at!("/git/add"), "addFiles", "stage files").body::<git::GitAddRequest>().ok::<Empty>(200),
        Op::new(Post, at!("/git/commit"), "commitChanges", "commit the staged changes")
            .body::<git::GitCommitRequest>()
            .ok::<git::GitCommitResponse>(200),
        Op::new(Get, at!("/git/branches"), "listBranches", "the branches")
            .query_of::<PathQuery>()
            .ok::<git::ListBranchResponse>(200),
        Op::new(Post, at!("/git/branches"), "createBranch", "create a branch")
            .body::<git::GitBranchRequest>()
            .ok::<Empty>(201),
        Op::new(Delete, at!("/git/branches"), "deleteBranch", "delete a branch")
            .body::<git::GitBranchRequest>()
            .ok_empty(204),
        Op::new(Post, at!("/git/checkout"), "checkoutBranch", "check out a branch")
            .body::<git::GitCheckoutRequest>()
            .ok::<Empty>(200),
        Op::new(Post, at!("/git/push"), "pushChanges", "push").body::<git::GitRepoRequest>().ok::<Empty>(200),
        Op::new(Post, at!("/git/pull"), "pullChanges", "pull").body::<git::GitRepoRequest>().ok::<Empty>(200),
        Op::new(Get, at!("/git/history"), "getCommitHistory", "the commits, newest first")
            .query_of::<PathQuery>()
            .ok_list::<git::GitCommitInfo>(200),
        Op::new(Post, at!("/git/init"), "initRepository", "create a repository")
            .body::<git::GitInitRequest>()
            .ok::<Empty>(201),
        Op::new(Post, at!("/git/reset"), "resetChanges", "reset").body::<git::GitResetRequest>().ok::<Empty>(200),
        Op::new(Post, at!("/git/restore"), "restoreFiles", "restore files")
            .body::<git::GitRestoreRequest>()
            .ok::<Empty>(200),
        Op::new(Get, at!("/git/remotes"), "listRemotes", "the remotes")
            .query_of::<PathQuery>()
            .ok::<git::ListRemotesResponse>(200),
        Op::new(Post, at!("/git/remotes"), "addRemote", "add a remote")
            .body::<git::GitAddRemoteRequest>()
            .ok::<Empty>(201),
        Op::new(Get, at!("/git/config"), "getGitConfig", "a configuration value")
            .query_of::<git::GitConfigQuery>()
            .ok::<git::GitConfigValue>(200),
        Op::new(Post, at!("/git/config"), "setGitConfig", "set a configuration value")
            .body::<git::GitSetConfigRequest>()
            .ok::<Empty>(200),
        Op::new(Post, at!("/git/config/user"), "setGitUser", "set user.name and user.email")
            .body::<git::GitSetUserRequest>()
            .ok::<Empty>(200),
        Op::new(Post, at!("/git/credentials"), "setGitCredentials", "store credentials for a host")
            .body::<git::GitCredentialsRequest>()
            .ok::<Empty>(200),
        Op::new(Post, at!("/env"), "updateEnv", "change the environment of later processes")
            .body::<system::UpdateEnvRequest>()
            .ok_map(200),
        Op::new(Get, at!("/system/metrics"), "getSystemMetrics", "CPU, memory and disk use")
            .ok::<system::SystemMetrics>(200),
        Op::new(Get, at!("/user-home-dir"), "getUserHomeDir", "the user's home directory").ok::<system::Dir>(200),
        Op::new(Get, at!("/work-dir"), "getWorkDir", "the working directory").ok::<system::Dir>(200),
        Op::new(Get, at!("/version"), "getVersion", "the toolbox's version").ok::<system::Version>(200),
    ]
}

/// A multipart form with any fields (bulk upload: `files[i].path` text, `files[i].file` bytes).
fn multipart() -> utoipa::openapi::schema::Schema {
    ObjectBuilder::new().schema_type(Type::Object).additional_properties(Some(binary())).into()
}
