//! File-system bodies (`shared/daytona-wire.md` §4.6): `/files/...`. Most routes take their
//! arguments in the query; uploads and bulk downloads are multipart (not JSON), except for the
//! per-file error part of a bulk download, [`DownloadError`].

use serde::{Deserialize, Serialize};

/// One file (the daemon's `FileInfo`): `GET /files/info` and each row of `GET /files`. Every key
/// is always sent (`modifiedAt` is required by SDK 0.190, `path` read by SDK 0.226).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// Base name (`/` for the root).
    pub name: String,
    /// Absolute path in the sandbox.
    pub path: String,
    /// Bytes.
    pub size: i64,
    /// Go's `FileMode.String()`, such as `-rw-r--r--` or `drwxr-xr-x`.
    pub mode: String,
    /// Permission bits in octal, such as `0644`.
    pub permissions: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Owner uid, as a string.
    pub owner: String,
    /// Group gid, as a string.
    pub group: String,
    /// Modification time, RFC 3339.
    pub modified_at: String,
    /// The same in Go's `time.Time.String()` layout with nine fraction digits
    /// (`2026-12-07 10:00:00.500000000 +0000 UTC`).
    pub mod_time: String,
}

/// `?path=&depth=` of `GET /files` (depth: SDK 0.226).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListFilesQuery {
    /// The directory; the working directory when empty.
    #[serde(default)]
    pub path: String,
    /// Levels to list, 1 (the default) for the directory's own entries.
    pub depth: Option<u32>,
}

/// `?path=&mode=` of `POST /files/folder` → 201.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateFolderQuery {
    /// The directory to create with its parents.
    #[serde(default)]
    pub path: String,
    /// Octal permission bits (`755` when absent).
    pub mode: Option<String>,
}

/// `?path=&recursive=` of `DELETE /files` → 204.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeleteFileQuery {
    /// What to delete.
    #[serde(default)]
    pub path: String,
    /// Required (`true`) to delete a directory.
    #[serde(default, deserialize_with = "super::query_flag")]
    pub recursive: bool,
}

/// `?source=&destination=` of `POST /files/move`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MoveQuery {
    /// What to move.
    #[serde(default)]
    pub source: String,
    /// Where to; must not exist.
    #[serde(default)]
    pub destination: String,
}

/// `?path=&mode=&owner=&group=` of `POST /files/permissions`; only the given ones change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetPermissionsQuery {
    /// The file.
    #[serde(default)]
    pub path: String,
    /// Octal permission bits.
    pub mode: Option<String>,
    /// A user name or uid.
    pub owner: Option<String>,
    /// A group name or gid.
    pub group: Option<String>,
}

/// `?path=&pattern=` of `GET /files/find` (a literal substring of lines) and
/// `GET /files/search` (a glob on base names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatternQuery {
    /// Where to look; the working directory when empty.
    #[serde(default)]
    pub path: String,
    /// What to look for.
    #[serde(default)]
    pub pattern: String,
}

/// One line `GET /files/find` found (the daemon's `Match`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Match {
    /// The file.
    pub file: String,
    /// Line number, from 1.
    pub line: u64,
    /// The line.
    pub content: String,
}

/// `GET /files/search` (the daemon's `SearchFilesResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchFilesResponse {
    /// Matching paths.
    pub files: Vec<String>,
}

/// `POST /files/replace` (the daemon's `ReplaceRequest`): a literal replace-all in each file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplaceRequest {
    /// The files.
    #[serde(default)]
    pub files: Vec<String>,
    /// The text to replace.
    #[serde(default)]
    pub pattern: String,
    /// What replaces it.
    #[serde(default)]
    pub new_value: String,
}

/// One file's outcome of a replace (the daemon's `ReplaceResult`); `error` only on failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplaceResult {
    /// The file as requested.
    pub file: String,
    /// Whether the replace worked.
    pub success: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer of `POST /files/bulk-upload`: 200 with `files`, or 400 with `errors` too (the SDK
/// raises with every message; `files` says what did arrive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkUploadResponse {
    /// One message per failed file, absent when none failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// The files stored.
    pub files: Vec<UploadedFile>,
}

/// A file a bulk upload stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadedFile {
    /// Its destination as requested.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
}

/// `POST /files/bulk-download` (the daemon's `FilesDownloadRequest`): the answer is multipart,
/// one part per path, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FilesDownloadRequest {
    /// The files.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The JSON body of a bulk download's `error` part: the daemon's error shape for one file, its
/// `statusCode` choosing the SDK's exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadError {
    /// 400, 403, 404 or 500.
    pub status_code: u16,
    /// What went wrong.
    pub message: String,
    /// `FILE_NOT_FOUND`, `FILE_ACCESS_DENIED`, `INVALID_FILE_PATH`, ...
    pub code: String,
    /// `DAYTONA_DAEMON`.
    pub source: String,
    /// RFC 3339.
    pub timestamp: String,
    /// The path as requested.
    pub path: String,
    /// `POST`.
    pub method: String,
}

/// Answer of `POST /files/upload-v2?path=` (SDK 0.226's signed upload URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileUploadResponse {
    /// Base name of the stored file.
    pub name: String,
    /// Its absolute path.
    pub path: String,
    /// `file`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_info_has_every_key_in_the_daemon_formats() {
        let body = json!({
            "name": "a.txt",
            "path": "/home/daytona/a.txt",
            "size": 5,
            "mode": "-rw-r--r--",
            "permissions": "0644",
            "isDir": false,
            "owner": "1000",
            "group": "1000",
            "modifiedAt": "2026-12-07T10:00:00.5Z",
            "modTime": "2026-12-07 10:00:00.500000000 +0000 UTC",
        });
        let parsed: FileInfo = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
        assert!(serde_json::from_value::<FileInfo>(json!({ "name": "a" })).is_err(), "keys are required");
    }

    #[test]
    fn replace_results_carry_an_error_only_on_failure() {
        let ok = ReplaceResult { file: "a".into(), success: true, error: None };
        assert_eq!(serde_json::to_value(ok).unwrap(), json!({ "file": "a", "success": true }));
        let failed = json!({ "file": "b", "success": false, "error": "not text" });
        let parsed: ReplaceResult = serde_json::from_value(failed.clone()).unwrap();
        assert_eq!(serde_json::to_value(parsed).unwrap(), failed);
    }

    #[test]
    fn bulk_upload_answers_errors_only_when_some_failed() {
        let files = vec![UploadedFile { path: "a".into(), bytes: 3 }];
        let ok = BulkUploadResponse { errors: None, files: files.clone() };
        assert_eq!(serde_json::to_value(ok).unwrap(), json!({ "files": [{ "path": "a", "bytes": 3 }] }));
        let failed = BulkUploadResponse { errors: Some(vec!["b: denied".into()]), files };
        assert_eq!(
            serde_json::to_value(failed).unwrap(),
            json!({ "errors": ["b: denied"], "files": [{ "path": "a", "bytes": 3 }] })
        );
    }

    #[test]
    fn download_error_part_has_the_daemon_keys() {
        let body = json!({
            "statusCode": 404,
            "message": "file not found: /x",
            "code": "FILE_NOT_FOUND",
            "source": "DAYTONA_DAEMON",
            "timestamp": "2026-12-07T10:00:00Z",
            "path": "x",
            "method": "POST",
        });
        let parsed: DownloadError = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(parsed).unwrap(), body);
    }

    #[test]
    fn recursive_is_set_only_by_true() {
        let parse = |value: serde_json::Value| serde_json::from_value::<DeleteFileQuery>(value).unwrap().recursive;
        assert!(parse(json!({ "path": "d", "recursive": "true" })));
        assert!(!parse(json!({ "path": "d", "recursive": "True" })));
        assert!(!parse(json!({ "path": "d" })));
    }

    #[test]
    fn upload_v2_answers_name_path_and_type() {
        let answer = FileUploadResponse { name: "a".into(), path: "/w/a".into(), kind: "file".into() };
        assert_eq!(serde_json::to_value(answer).unwrap(), json!({ "name": "a", "path": "/w/a", "type": "file" }));
    }
}
