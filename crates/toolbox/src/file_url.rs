//! One file at a time: `GET /files/download?path=` answers the file's bytes and
//! `POST /files/upload-v2?path=` stores one file (multipart field `file`, or the raw body). These
//! are the targets of SDK 0.226's signed URLs (`sandbox.download_url` / `upload_url`); the server
//! checks the signature before a request gets here. Both stream: no file sits in memory.

use crate::files::{blocking, content_type_of, lazy_file, upload_one, SandboxFs};
use crate::{Target, ToolboxError};
use axum::extract::{FromRequest, Multipart, Query, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sandbar_api::toolbox::fs::FileUploadResponse;
use sandbar_api::toolbox::PathQuery;
use std::sync::Arc;

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
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| ToolboxError::bad_request(format!("invalid multipart body: {e}")))?;
        loop {
            let field = multipart
                .next_field()
                .await
                .map_err(|e| ToolboxError::bad_request(format!("reading the upload failed: {e}")))?
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
