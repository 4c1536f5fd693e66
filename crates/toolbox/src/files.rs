//! The file-system routes (`shared/daytona-wire.md` §4.6).
//!
//! Every path is resolved inside the sandbox's root (`/proc/<init pid>/root`) with `pathrs`
//! (`openat2` with `RESOLVE_IN_ROOT`), so `..`, absolute symlinks and symlinks swapped in during
//! an operation all stay inside the sandbox: the host and other sandboxes are unreachable. Files
//! and directories the toolbox creates belong to the sandbox's user, as if that user made them.

use crate::error::parse_json;
use crate::file_info::file_info;
use crate::{Target, ToolboxError};
use axum::extract::{Multipart, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pathrs::flags::{OpenFlags, RenameFlags};
use pathrs::Root;
use sandbar_api::toolbox::fs::{
    BulkUploadResponse, CreateFolderQuery, DeleteFileQuery, DownloadError, FileInfo, FilesDownloadRequest,
    ListFilesQuery, Match, MoveQuery, PatternQuery, ReplaceRequest, ReplaceResult, SearchFilesResponse,
    SetPermissionsQuery, UploadedFile,
};
use sandbar_api::toolbox::PathQuery;
use std::fs::Permissions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// procfs, sysfs, debugfs, tracefs, securityfs, cgroup v1 and v2, bpf (`statfs` magic numbers).
const KERNEL_FILE_SYSTEMS: &[i64] =
    &[0x9fa0, 0x62656572, 0x64626720, 0x74726163, 0x73636673, 0x27e0eb, 0x63677270, 0xcafe4a11];
/// Largest `/etc/passwd` or `/etc/group` the toolbox reads.
const ACCOUNT_FILE_LIMIT: u64 = 1 << 20;
/// Largest file `replace` rewrites.
const REPLACE_LIMIT: u64 = 64 << 20;

/// `lstat` results of a path inside the sandbox.
struct Stat(nix::sys::stat::FileStat);

impl Stat {
    fn is_dir(&self) -> bool {
        self.0.st_mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// The multipart boundary of bulk downloads, as the reference daemon uses it.
const BOUNDARY: &str = "DAYTONA-FILE-BOUNDARY";

/// A sandbox's file system as seen from the host, for one request.
pub(crate) struct SandboxFs {
    root: Root,
    workdir: String,
    uid: u32,
    gid: u32,
    /// The run this view belongs to: streams stop when the sandbox stops (see `still_running`).
    runtime: std::sync::Arc<sandbar_runtime::Runtime>,
    id: sandbar_runtime::SandboxId,
    init: i32,
}

impl SandboxFs {
    pub(crate) fn open(target: &Target) -> Result<SandboxFs, ToolboxError> {
        let pid = target.runtime.init_pid(&target.id).map_err(|e| ToolboxError::conflict(e.to_string()))?;
        // `/proc/<pid>/root` is a magic link that must be followed once; pathrs's own open refuses
        // to follow links, so the directory is opened here and handed over as the root.
        let directory = std::fs::File::open(format!("/proc/{pid}/root")).map_err(|e| ToolboxError::internal(&e))?;
        let root = Root::from_fd(std::os::fd::OwnedFd::from(directory));
        let (uid, gid) = lookup_user(&root, &target.user).unwrap_or((0, 0));
        Ok(SandboxFs {
            root,
            workdir: target.workdir.clone(),
            uid,
            gid,
            runtime: std::sync::Arc::clone(&target.runtime),
            id: target.id.clone(),
            init: pid,
        })
    }

    /// Whether the sandbox still runs with the init this view was opened through. A transfer
    /// checks it between chunks and ends when the sandbox stopped: its open files would keep the
    /// stopped sandbox's overlay mounted, and a restart could not mount its writable layer again.
    pub(crate) fn still_running(&self) -> bool {
        self.runtime.init_pid(&self.id).is_ok_and(|pid| pid == self.init)
    }

    /// The absolute in-sandbox path of a request path (relative ones are under the workdir).
    pub(crate) fn absolute(&self, path: &str) -> Result<PathBuf, ToolboxError> {
        if path.contains('\0') {
            return Err(invalid_path(path, "contains a NUL byte"));
        }
        Ok(if path.is_empty() {
            PathBuf::from(&self.workdir)
        } else if path.starts_with('/') {
            PathBuf::from(path)
        } else {
            Path::new(&self.workdir).join(path)
        })
    }

    /// `lstat` inside the root (a symlink reports itself).
    fn metadata(&self, path: &Path) -> Result<Stat, ToolboxError> {
        let handle = self.root.resolve_nofollow(path).map_err(|e| fs_error(path, &e))?;
        nix::sys::stat::fstat(std::os::fd::AsFd::as_fd(&handle).as_raw_fd())
            .map(Stat)
            .map_err(|e| io_error(path, &e.into()))
    }

    /// Opens a regular file inside the root, refusing everything else before any I/O: FIFOs
    /// (they block), devices (the sandbox's `/dev/tty` is the server's terminal when opened by
    /// the server) and files of kernel file systems (`/proc/kmsg`, `/proc/kallsyms`, sysfs:
    /// read with the server's credentials they would leak or consume host state).
    pub(crate) fn open_regular(&self, path: &Path, write: bool) -> Result<std::fs::File, ToolboxError> {
        let handle = self.root.resolve(path).map_err(|e| fs_error(path, &e))?;
        let raw = std::os::fd::AsFd::as_fd(&handle).as_raw_fd();
        let stat = nix::sys::stat::fstat(raw).map_err(|e| io_error(path, &e.into()))?;
        if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(invalid_path(&path.display().to_string(), "is not a regular file"));
        }
        let fs = nix::sys::statfs::fstatfs(std::os::fd::AsFd::as_fd(&handle)).map_err(|e| io_error(path, &e.into()))?;
        if KERNEL_FILE_SYSTEMS.contains(&(fs.filesystem_type().0 as i64)) {
            return Err(ToolboxError {
                status: StatusCode::FORBIDDEN,
                code: "FILE_ACCESS_DENIED",
                message: format!(
                    "{} is a kernel interface file; read it with process.exec inside the sandbox",
                    path.display()
                ),
            });
        }
        let access = if write { OpenFlags::O_RDWR } else { OpenFlags::O_RDONLY };
        handle.reopen(access | OpenFlags::O_NOCTTY | OpenFlags::O_CLOEXEC).map_err(|e| fs_error(path, &e))
    }

    /// Gives `path` (already created, inside the root) to the sandbox's user.
    fn give_to_user(&self, path: &Path) {
        if let Ok(handle) = self.root.resolve_nofollow(path) {
            if let Ok(file) = handle.reopen(OpenFlags::O_PATH | OpenFlags::O_NOFOLLOW) {
                let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
                let _ = std::os::unix::fs::chown(proc_path, Some(self.uid), Some(self.gid));
            }
        }
    }

    /// `mkdir -p` inside the root; new directories belong to the user.
    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), ToolboxError> {
        let mut missing = Vec::new();
        let mut current = path.to_path_buf();
        while self.metadata(&current).is_err() {
            missing.push(current.clone());
            if !current.pop() {
                break;
            }
        }
        self.root.mkdir_all(path, &Permissions::from_mode(mode)).map_err(|e| fs_error(path, &e))?;
        for dir in missing {
            self.give_to_user(&dir);
        }
        Ok(())
    }
}

/// `GET /files?path=&depth=`.
pub(crate) async fn list(
    Extension(target): Extension<Target>,
    Query(query): Query<ListFilesQuery>,
) -> Result<Json<Vec<FileInfo>>, ToolboxError> {
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let dir = fs.absolute(&query.path)?;
        let meta = fs.metadata(&dir)?;
        if !meta.is_dir() {
            return Err(invalid_path(&dir.display().to_string(), "is not a directory"));
        }
        let mut out = Vec::new();
        list_into(&fs, &dir, query.depth.unwrap_or(1).max(1), &mut out)?;
        Ok(Json(out))
    })
    .await
}

fn list_into(fs: &SandboxFs, dir: &Path, depth: u32, out: &mut Vec<FileInfo>) -> Result<(), ToolboxError> {
    let handle = fs.root.resolve(dir).map_err(|e| fs_error(dir, &e))?;
    let file = handle.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY).map_err(|e| fs_error(dir, &e))?;
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
    let mut names: Vec<String> = std::fs::read_dir(&proc_path)
        .map_err(|e| io_error(dir, &e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let Ok(meta) = fs.metadata(&path) else { continue };
        out.push(file_info(&name, &path, &meta.0));
        if meta.is_dir() && depth > 1 {
            list_into(fs, &path, depth - 1, out)?;
        }
    }
    Ok(())
}

/// `GET /files/info?path=`.
pub(crate) async fn info(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<FileInfo>, ToolboxError> {
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let path = fs.absolute(&query.path)?;
        let meta = fs.metadata(&path)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into());
        Ok(Json(file_info(&name, &path, &meta.0)))
    })
    .await
}

/// `POST /files/folder?path=&mode=` → 201.
pub(crate) async fn create_folder(
    Extension(target): Extension<Target>,
    Query(query): Query<CreateFolderQuery>,
) -> Result<StatusCode, ToolboxError> {
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let path = fs.absolute(&query.path)?;
        let mode = parse_mode(query.mode.as_deref().unwrap_or("755"))?;
        fs.mkdir_all(&path, mode)?;
        Ok(StatusCode::CREATED)
    })
    .await
}

/// `DELETE /files?path=&recursive=` → 204.
pub(crate) async fn delete(
    Extension(target): Extension<Target>,
    Query(query): Query<DeleteFileQuery>,
) -> Result<StatusCode, ToolboxError> {
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let path = fs.absolute(&query.path)?;
        if path == Path::new("/") {
            return Err(invalid_path("/", "is the sandbox root and cannot be deleted"));
        }
        let meta = fs.metadata(&path)?;
        let result = if meta.is_dir() {
            if !query.recursive {
                return Err(ToolboxError::bad_request(format!(
                    "{} is a directory: delete it with recursive=true",
                    path.display()
                )));
            }
            fs.root.remove_all(&path)
        } else {
            fs.root.remove_file(&path)
        };
        result.map_err(|e| fs_error(&path, &e))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `POST /files/move?source=&destination=`: 404 when the source or the destination's directory
/// is missing, 409 when the destination exists.
pub(crate) async fn move_file(
    Extension(target): Extension<Target>,
    Query(query): Query<MoveQuery>,
) -> Result<StatusCode, ToolboxError> {
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let source = fs.absolute(&query.source)?;
        let destination = fs.absolute(&query.destination)?;
        if query.source.is_empty() || query.destination.is_empty() {
            return Err(ToolboxError::bad_request("source and destination are required"));
        }
        fs.metadata(&source)?;
        if fs.metadata(&destination).is_ok() {
            return Err(ToolboxError::conflict(format!("destination {} already exists", destination.display())));
        }
        if let Some(parent) = destination.parent() {
            fs.metadata(parent)?;
        }
        fs.root.rename(&source, &destination, RenameFlags::RENAME_NOREPLACE).map_err(|e| fs_error(&destination, &e))?;
        Ok(StatusCode::OK)
    })
    .await
}

/// `POST /files/permissions?path=&mode=&owner=&group=` (only the given ones change).
pub(crate) async fn set_permissions(
    Extension(target): Extension<Target>,
    Query(query): Query<SetPermissionsQuery>,
) -> Result<StatusCode, ToolboxError> {
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let path = fs.absolute(&query.path)?;
        let handle = fs.root.resolve(&path).map_err(|e| fs_error(&path, &e))?;
        let statfs =
            nix::sys::statfs::fstatfs(std::os::fd::AsFd::as_fd(&handle)).map_err(|e| io_error(&path, &e.into()))?;
        if KERNEL_FILE_SYSTEMS.contains(&(statfs.filesystem_type().0 as i64)) {
            return Err(ToolboxError {
                status: StatusCode::FORBIDDEN,
                code: "FILE_ACCESS_DENIED",
                message: format!("{} is a kernel interface file", path.display()),
            });
        }
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsFd::as_fd(&handle).as_raw_fd());
        if let Some(mode) = query.mode.as_deref().filter(|m| !m.is_empty()) {
            let mode = parse_mode(mode)?;
            std::fs::set_permissions(&proc_path, Permissions::from_mode(mode)).map_err(|e| io_error(&path, &e))?;
        }
        let uid =
            numeric_or_named(query.owner.as_deref(), "owner", |name| lookup_user(&fs.root, name).map(|(uid, _)| uid))?;
        let gid = numeric_or_named(query.group.as_deref(), "group", |name| lookup_group(&fs.root, name))?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&proc_path, uid, gid).map_err(|e| io_error(&path, &e))?;
        }
        Ok(StatusCode::OK)
    })
    .await
}

/// An owner or group given as a number or a name in the sandbox's passwd/group files; `None`
/// when absent or empty (it is left unchanged), 400 when the name is unknown.
fn numeric_or_named(
    value: Option<&str>,
    what: &str,
    lookup: impl FnOnce(&str) -> Option<u32>,
) -> Result<Option<u32>, ToolboxError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else { return Ok(None) };
    let id = value.parse().ok().or_else(|| lookup(value));
    id.map(Some).ok_or_else(|| ToolboxError::bad_request(format!("unknown {what} {value:?}")))
}

/// `POST /files/bulk-upload`: multipart with `files[i].path` text parts and `files[i].file`
/// file parts (the file part's filename is the destination too, but `.path` wins; G10). Each file
/// streams to a temporary name beside its destination and is renamed into place only when
/// complete, so a failed or cut upload never leaves a half-written file. Every failure is
/// reported (never silently dropped).
pub(crate) async fn bulk_upload(
    Extension(target): Extension<Target>,
    mut multipart: Multipart,
) -> Result<Response, ToolboxError> {
    let fs = std::sync::Arc::new(
        blocking({
            let target = target.clone();
            move || SandboxFs::open(&target)
        })
        .await?,
    );
    let mut destinations: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut uploaded = Vec::new();
    let mut errors = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                errors.push(format!("reading the upload failed: {e}"));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if let Some(index) = name.strip_suffix(".path") {
            let text = field.text().await.map_err(|e| ToolboxError::bad_request(format!("{name}: {e}")))?;
            destinations.insert(index.to_string(), text);
            continue;
        }
        let Some(index) = name.strip_suffix(".file") else { continue };
        let destination =
            destinations.get(index).cloned().or_else(|| field.file_name().map(str::to_string)).unwrap_or_default();
        if destination.is_empty() {
            errors.push(format!("{name}: no destination path"));
            continue;
        }
        match upload_one(&fs, &destination, field).await {
            Ok(bytes) => uploaded.push(UploadedFile { path: destination, bytes }),
            Err(error) => errors.push(format!("{destination}: {error}")),
        }
    }
    if errors.is_empty() {
        Ok(Json(BulkUploadResponse { errors: None, files: uploaded }).into_response())
    } else {
        // The SDK raises with every message in `errors`; `files` says what did arrive.
        let answer = BulkUploadResponse { errors: Some(errors), files: uploaded };
        Ok((StatusCode::BAD_REQUEST, Json(answer)).into_response())
    }
}

/// Streams `chunks` into `destination` through a temporary file beside it, renamed into place only
/// when every byte arrived (an interrupted upload leaves the old file, or nothing). Answers the
/// number of bytes written.
pub(crate) async fn upload_one<E: std::fmt::Display>(
    fs: &std::sync::Arc<SandboxFs>,
    destination: &str,
    chunks: impl futures_util::Stream<Item = Result<axum::body::Bytes, E>>,
) -> Result<u64, String> {
    use futures_util::StreamExt;
    let mut chunks = std::pin::pin!(chunks);
    let path = fs.absolute(destination).map_err(|e| e.message)?;
    let parent = path.parent().map(Path::to_path_buf).ok_or("cannot upload over the sandbox root")?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or("destination has no file name")?;
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| format!("no randomness for a temporary name: {e}"))?;
    let temporary =
        parent.join(format!(".{name}.upload-{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()));
    let file = {
        let fs = std::sync::Arc::clone(fs);
        let (parent, temporary) = (parent.clone(), temporary.clone());
        tokio::task::spawn_blocking(move || -> Result<std::fs::File, String> {
            fs.mkdir_all(&parent, 0o755).map_err(|e| e.message)?;
            let flags = OpenFlags::O_WRONLY | OpenFlags::O_EXCL | OpenFlags::O_CLOEXEC;
            fs.root.create_file(&temporary, flags, &Permissions::from_mode(0o644)).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    let streamed: Result<(), String> = async {
        while let Some(chunk) = chunks.next().await.transpose().map_err(|e| format!("upload interrupted: {e}"))? {
            if !fs.still_running() {
                return Err("the sandbox stopped during the upload".to_string());
            }
            file.write_all(&chunk).await.map_err(|e| format!("write failed: {e}"))?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(|e| format!("write failed: {e}"))
    }
    .await;
    drop(file);
    let fs = std::sync::Arc::clone(fs);
    tokio::task::spawn_blocking(move || -> Result<u64, String> {
        if let Err(error) = streamed {
            let _ = fs.root.remove_file(&temporary);
            return Err(error);
        }
        fs.give_to_user(&temporary);
        // Replacing an existing file is what an upload means; the rename is atomic.
        fs.root.rename(&temporary, &path, RenameFlags::empty()).map_err(|e| {
            let _ = fs.root.remove_file(&temporary);
            format!("cannot move the upload into place: {e}")
        })?;
        Ok(written)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// `POST /files/bulk-download {"paths": [...]}` → a streamed `multipart/form-data` answer with one
/// part per requested path, in order: the file (`name="file"`) or a JSON error (`name="error"`);
/// the filename is the exact requested path (G9) and the closing boundary always ends it.
pub(crate) async fn bulk_download(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: FilesDownloadRequest = parse_json(&body)?;
    if request.paths.is_empty() {
        return Err(ToolboxError::bad_request("paths is empty: name at least one file to download"));
    }
    let fs = std::sync::Arc::new(blocking(move || SandboxFs::open(&target)).await?);
    let mut multipart: mpart_async::client::MultipartRequest<PartStream> =
        mpart_async::client::MultipartRequest::new(BOUNDARY);
    for requested in request.paths {
        let checked = {
            let fs = std::sync::Arc::clone(&fs);
            let requested = requested.clone();
            tokio::task::spawn_blocking(move || check_download(&fs, &requested))
                .await
                .map_err(|e| ToolboxError::internal(&e))?
        };
        match checked {
            Ok(path) => {
                let content_type = content_type_of(&path);
                multipart.add_stream(
                    "file",
                    requested.as_str(),
                    content_type,
                    lazy_file(std::sync::Arc::clone(&fs), path),
                );
            }
            Err((status, code, message)) => {
                let body = DownloadError {
                    status_code: status,
                    message,
                    code: code.to_string(),
                    source: crate::error::DAEMON.to_string(),
                    timestamp: crate::error::now(),
                    path: requested.clone(),
                    method: "POST".to_string(),
                };
                let body = serde_json::to_string(&body).unwrap_or_default();
                let stream: PartStream = Box::pin(futures_util::stream::once(async move {
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(body))
                }));
                multipart.add_stream("error", requested.as_str(), "application/json; charset=utf-8", stream);
            }
        }
    }
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    Ok(([(axum::http::header::CONTENT_TYPE, content_type)], axum::body::Body::from_stream(multipart)).into_response())
}

/// Resolves a download path to a regular file, or the error part's status, code and message.
fn check_download(fs: &SandboxFs, requested: &str) -> Result<PathBuf, (u16, &'static str, String)> {
    if requested.is_empty() {
        return Err((400, "INVALID_FILE_PATH", "empty path".into()));
    }
    let path = fs.absolute(requested).map_err(|e| (400, "INVALID_FILE_PATH", e.message))?;
    // The same checks run again when the body reaches this file (see lazy_file).
    fs.open_regular(&path, false).map(drop).map_err(|e| (e.status.as_u16(), e.code, e.message))?;
    Ok(path)
}

/// A part's body stream (boxed, so files and error messages share one type).
pub(crate) type PartStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send>>;

/// A stream of a file's bytes that opens the file only when the multipart body reaches it, so a
/// download of thousands of files holds one descriptor at a time.
pub(crate) fn lazy_file(fs: std::sync::Arc<SandboxFs>, path: PathBuf) -> PartStream {
    enum State {
        Pending(std::sync::Arc<SandboxFs>, PathBuf),
        Open(tokio::fs::File, std::sync::Arc<SandboxFs>),
        Done,
    }
    Box::pin(futures_util::stream::unfold(State::Pending(fs, path), |state| async move {
        use tokio::io::AsyncReadExt;
        let (mut file, fs) = match state {
            State::Done => return None,
            State::Open(file, fs) => (file, fs),
            State::Pending(fs, path) => {
                let opening = std::sync::Arc::clone(&fs);
                let opened = tokio::task::spawn_blocking(move || {
                    opening.open_regular(&path, false).map_err(|e| std::io::Error::other(e.message))
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
                match opened {
                    Ok(file) => (tokio::fs::File::from_std(file), fs),
                    Err(e) => return Some((Err(e), State::Done)),
                }
            }
        };
        if !fs.still_running() {
            let stopped = std::io::Error::other("the sandbox stopped during the download");
            return Some((Err(stopped), State::Done));
        }
        let mut buffer = vec![0u8; 256 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(axum::body::Bytes::from(buffer)), State::Open(file, fs)))
            }
            Err(e) => Some((Err(e), State::Done)),
        }
    }))
}

pub(crate) fn content_type_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "txt" | "md" | "py" | "rs" | "sh" | "toml" | "yaml" | "yml" | "csv" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

fn parse_mode(mode: &str) -> Result<u32, ToolboxError> {
    u32::from_str_radix(mode.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ToolboxError::bad_request(format!("mode {mode:?} must be octal, like 755")))
}

/// uid and gid of `user` from the sandbox's own `/etc/passwd`.
fn lookup_user(root: &Root, user: &str) -> Option<(u32, u32)> {
    let text = read_in_root(root, "/etc/passwd")?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4 && fields[0] == user).then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
    })
}

/// gid of `group` from the sandbox's own `/etc/group`.
fn lookup_group(root: &Root, group: &str) -> Option<u32> {
    let text = read_in_root(root, "/etc/group")?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 3 && fields[0] == group).then(|| fields[2].parse().ok())?
    })
}

/// Reads a small account file (`/etc/passwd`, `/etc/group`) of the sandbox: regular files only,
/// at most [`ACCOUNT_FILE_LIMIT`] bytes, so a FIFO or `/dev/zero` planted there cannot hang or
/// exhaust the server.
fn read_in_root(root: &Root, path: &str) -> Option<String> {
    use std::io::Read;
    let handle = root.resolve(path).ok()?;
    let stat = nix::sys::stat::fstat(std::os::fd::AsFd::as_fd(&handle).as_raw_fd()).ok()?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let file = handle.reopen(OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC).ok()?;
    let mut text = String::new();
    file.take(ACCOUNT_FILE_LIMIT).read_to_string(&mut text).ok()?;
    Some(text)
}

fn invalid_path(path: &str, why: &str) -> ToolboxError {
    ToolboxError { status: StatusCode::BAD_REQUEST, code: "INVALID_FILE_PATH", message: format!("path {path:?} {why}") }
}

/// Maps a pathrs failure to the daemon's file error codes.
fn fs_error(path: &Path, error: &pathrs::error::Error) -> ToolboxError {
    match error.kind() {
        pathrs::error::ErrorKind::OsError(Some(libc::ENOENT)) => ToolboxError {
            status: StatusCode::NOT_FOUND,
            code: "FILE_NOT_FOUND",
            message: format!("file not found: {}", path.display()),
        },
        pathrs::error::ErrorKind::OsError(Some(libc::EACCES | libc::EPERM)) => ToolboxError {
            status: StatusCode::FORBIDDEN,
            code: "FILE_ACCESS_DENIED",
            message: format!("access denied: {}", path.display()),
        },
        pathrs::error::ErrorKind::OsError(Some(libc::EEXIST)) => {
            ToolboxError::conflict(format!("{} already exists", path.display()))
        }
        pathrs::error::ErrorKind::OsError(Some(libc::ENOTDIR)) => {
            invalid_path(&path.display().to_string(), "crosses a file that is not a directory")
        }
        _ => ToolboxError {
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_FILE_PATH",
            message: format!("{}: {error}", path.display()),
        },
    }
}

fn io_error(path: &Path, error: &std::io::Error) -> ToolboxError {
    match error.kind() {
        std::io::ErrorKind::NotFound => ToolboxError {
            status: StatusCode::NOT_FOUND,
            code: "FILE_NOT_FOUND",
            message: format!("file not found: {}", path.display()),
        },
        std::io::ErrorKind::PermissionDenied => ToolboxError {
            status: StatusCode::FORBIDDEN,
            code: "FILE_ACCESS_DENIED",
            message: format!("access denied: {}", path.display()),
        },
        _ => ToolboxError::internal(error),
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ToolboxError> + Send + 'static,
) -> Result<T, ToolboxError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ToolboxError::internal(&e))?
}

/// `GET /files/find?path=&pattern=`: lines containing `pattern` (a literal substring) in every
/// text file below `path`, found by `grep` inside the sandbox as its user.
pub(crate) async fn find(
    Extension(target): Extension<Target>,
    Query(query): Query<PatternQuery>,
) -> Result<Json<Vec<Match>>, ToolboxError> {
    if query.pattern.is_empty() {
        return Err(ToolboxError::bad_request("pattern is empty"));
    }
    let path = if query.path.is_empty() { target.workdir.clone() } else { query.path.clone() };
    // -I skips binary files, -F takes the pattern literally, -Z ends each file name with NUL so
    // names with ':' parse unambiguously.
    let argv = ["grep", "-rnIFZ", "--", &query.pattern, &path].map(String::from).to_vec();
    let output = run_in_sandbox(&target, argv).await?;
    let mut matches = Vec::new();
    for record in output.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
        let Some(nul) = record.iter().position(|b| *b == 0) else { continue };
        let file = String::from_utf8_lossy(&record[..nul]).into_owned();
        let rest = String::from_utf8_lossy(&record[nul + 1..]).into_owned();
        let Some((line, content)) = rest.split_once(':') else { continue };
        let Ok(line) = line.parse::<u64>() else { continue };
        matches.push(Match { file, line, content: content.to_string() });
    }
    Ok(Json(matches))
}

/// `GET /files/search?path=&pattern=`: paths below `path` whose base name matches the glob.
pub(crate) async fn search(
    Extension(target): Extension<Target>,
    Query(query): Query<PatternQuery>,
) -> Result<Json<SearchFilesResponse>, ToolboxError> {
    if query.pattern.is_empty() {
        return Err(ToolboxError::bad_request("pattern is empty"));
    }
    let path = if query.path.is_empty() { target.workdir.clone() } else { query.path.clone() };
    let argv = ["find", &path, "-name", &query.pattern, "-print0"].map(String::from).to_vec();
    let output = run_in_sandbox(&target, argv).await?;
    let files: Vec<String> =
        output.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    Ok(Json(SearchFilesResponse { files }))
}

/// `POST /files/replace`: replaces every literal occurrence of `pattern` in each file; reports
/// per file whether it worked.
pub(crate) async fn replace(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Json<Vec<ReplaceResult>>, ToolboxError> {
    let request: ReplaceRequest = parse_json(&body)?;
    if request.pattern.is_empty() {
        return Err(ToolboxError::bad_request("pattern is empty"));
    }
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let results = request
            .files
            .iter()
            .map(|file| match replace_in(&fs, file, &request.pattern, &request.new_value) {
                Ok(()) => ReplaceResult { file: file.clone(), success: true, error: None },
                Err(error) => ReplaceResult { file: file.clone(), success: false, error: Some(error) },
            })
            .collect();
        Ok(Json(results))
    })
    .await
}

fn replace_in(fs: &SandboxFs, file: &str, pattern: &str, new_value: &str) -> Result<(), String> {
    use std::io::{Read, Seek, Write};
    let path = fs.absolute(file).map_err(|e| e.message)?;
    let mut opened = fs.open_regular(&path, true).map_err(|e| e.message)?;
    let size = opened.metadata().map_err(|e| e.to_string())?.len();
    if size > REPLACE_LIMIT {
        return Err(format!("{file} is {size} bytes, over the {REPLACE_LIMIT}-byte limit for replace"));
    }
    let mut text = String::new();
    (&mut opened)
        .take(REPLACE_LIMIT)
        .read_to_string(&mut text)
        .map_err(|e| format!("{file} is not readable text: {e}"))?;
    let replaced = text.replace(pattern, new_value);
    if replaced != text {
        opened.seek(std::io::SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        opened.set_len(0).map_err(|e| e.to_string())?;
        opened.write_all(replaced.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs a read-only helper command in the sandbox as its user; returns its stdout.
async fn run_in_sandbox(target: &Target, argv: Vec<String>) -> Result<Vec<u8>, ToolboxError> {
    let mut exec = sandbar_runtime::ExecSpec::new(argv);
    exec.user = Some(target.user.clone());
    exec.cwd = Some(target.workdir.clone());
    let runtime = std::sync::Arc::clone(&target.runtime);
    let id = target.id.clone();
    blocking(move || {
        let process = runtime.exec(&id, &exec).map_err(|e| ToolboxError::conflict(e.to_string()))?;
        let collected =
            process.collect(Some(std::time::Duration::from_secs(300))).map_err(|e| ToolboxError::internal(&e))?;
        if collected.timed_out {
            return Err(ToolboxError::timeout("the search took longer than 300 s"));
        }
        Ok(collected.stdout)
    })
    .await
}
