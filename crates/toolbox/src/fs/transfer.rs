//! Streamed transfers: bulk uploads and downloads (multipart), and one file at a time:
//! `GET /files/download?path=` answers the file's bytes and `POST /files/upload-v2?path=` stores
//! one file (multipart field `file`, or the raw body). The single-file routes are the targets of
//! SDK 0.226's signed URLs (`sandbox.download_url` / `upload_url`); the server checks the
//! signature before a request gets here. Everything streams: no file sits in memory.

use super::*;
use crate::error::parse_json;
use axum::extract::{Query, Request};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pathrs::flags::RenameFlags;
use sandbar_api::toolbox::fs::{
    BulkUploadResponse, DownloadError, FileUploadResponse, FilesDownloadRequest, UploadedFile,
};
use sandbar_api::toolbox::PathQuery;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// The multipart boundary of bulk downloads, as the reference daemon uses it.
const BOUNDARY: &str = "DAYTONA-FILE-BOUNDARY";

/// `POST /files/bulk-upload`: multipart with `files[i].path` text parts and `files[i].file`
/// file parts (the file part's filename is the destination too, but `.path` wins; G10). Each file
/// streams to a temporary name beside its destination and is renamed into place only when
/// complete, so a failed or cut upload never leaves a half-written file. Every failure is
/// reported (never silently dropped).
pub(crate) async fn bulk_upload(
    Extension(target): Extension<Target>,
    request: Request,
) -> Result<Response, ToolboxError> {
    let mut multipart = super::multipart::bounded(request).await.map_err(ToolboxError::bad_request)?;
    let fs = std::sync::Arc::new(
        blocking({
            let target = target.clone();
            move || SandboxFs::open(&target)
        })
        .await?,
    );
    let mut destinations: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    // The destination paths read so far (with their indexes), kept until their files arrive.
    let mut pending_bytes = 0usize;
    let mut uploaded = Vec::new();
    let mut errors = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                errors.push(format!("reading the upload failed: {}", sandbar_runtime::error_chain(&e)));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if let Some(index) = name.strip_suffix(".path") {
            let text = bounded_text(&name, field, MAX_PATH_BYTES - 1).await?;
            pending_bytes += text.len() + index.len();
            if pending_bytes > MAX_PENDING_PATH_BYTES {
                return Err(ToolboxError::bad_request(format!(
                    "the upload names more destination paths than fit in {} bytes before their files",
                    MAX_PENDING_PATH_BYTES
                )));
            }
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

/// Most bytes of destination paths (with their indexes) a bulk upload may name before their
/// files: thousands of files with ordinary paths fit many times over.
const MAX_PENDING_PATH_BYTES: usize = 16 << 20;

/// A text field of a multipart upload, read chunk by chunk and refused with a 400 (that does
/// not repeat the content) as soon as it holds more than `limit` bytes: an endless field never
/// sits in the server's memory.
async fn bounded_text(
    name: &str,
    mut field: axum::extract::multipart::Field<'_>,
    limit: usize,
) -> Result<String, ToolboxError> {
    // A field name is echoed only when it is short (it comes from the client too).
    let shown = if name.len() <= 64 { name } else { "a multipart field" };
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| {
        ToolboxError::bad_request(format!("reading {shown} failed: {}", sandbar_runtime::error_chain(&e)))
    })? {
        if text.len() + chunk.len() > limit {
            return Err(ToolboxError::invalid(
                "INVALID_FILE_PATH",
                format!("{shown} is longer than {limit} bytes (PATH_MAX)"),
            ));
        }
        text.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
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

/// `GET /files/download?path=`: the file's bytes, named in `Content-Disposition`.
pub(crate) async fn download(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Response, ToolboxError> {
    if query.path.is_empty() {
        return Err(ToolboxError::bad_request("path is required: name the file to download"));
    }
    let fs = Arc::new(blocking(move || SandboxFs::open(&target)).await?);
    let (path, length) = {
        let fs = Arc::clone(&fs);
        blocking(move || {
            let path = fs.absolute(&query.path)?;
            let file = fs.open_regular(&path, false)?;
            let length = file.metadata().map_err(|e| ToolboxError::internal(&e))?.len();
            Ok((path, length))
        })
        .await?
    };
    // A header value cannot carry quotes, backslashes or control characters (a newline in a
    // file name would break the response).
    let name: String = path
        .file_name()
        .map(|n| {
            n.to_string_lossy().chars().map(|c| if c == '"' || c == '\\' || c.is_control() { '_' } else { c }).collect()
        })
        .unwrap_or_default();
    let headers = [
        (header::CONTENT_TYPE, content_type_of(&path).to_string()),
        (header::CONTENT_LENGTH, length.to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
    ];
    Ok((headers, axum::body::Body::from_stream(lazy_file(fs, path))).into_response())
}

/// `POST /files/upload-v2?path=`: stores the upload at `path` (parents created, an existing file
/// replaced atomically) and answers `{name, path, type}`.
pub(crate) async fn upload(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
    request: Request,
) -> Result<Json<FileUploadResponse>, ToolboxError> {
    if query.path.is_empty() {
        return Err(ToolboxError::bad_request("path is required: name the destination file"));
    }
    let fs = Arc::new(blocking(move || SandboxFs::open(&target)).await?);
    let absolute = fs.absolute(&query.path)?;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let stored = if is_multipart {
        let mut multipart = super::multipart::bounded(request).await.map_err(ToolboxError::bad_request)?;
        loop {
            let field = multipart
                .next_field()
                .await
                .map_err(|e| {
                    ToolboxError::bad_request(format!(
                        "reading the upload failed: {}",
                        sandbar_runtime::error_chain(&e)
                    ))
                })?
                .ok_or_else(|| ToolboxError::bad_request("multipart body has no field named \"file\""))?;
            if field.name() == Some("file") {
                break upload_one(&fs, &query.path, field).await;
            }
        }
    } else {
        upload_one(&fs, &query.path, request.into_body().into_data_stream()).await
    };
    stored.map_err(|e| ToolboxError::bad_request(format!("upload to {} failed: {e}", absolute.display())))?;
    let name = absolute.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Json(FileUploadResponse { name, path: absolute.display().to_string(), kind: "file".to_string() }))
}
