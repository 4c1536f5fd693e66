//! The file routes that act on paths in place: list, info, folders, delete, move and
//! permissions, each one blocking call on a [`SandboxFs`].

use super::info::file_info;
use super::*;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::{Extension, Json};
use pathrs::flags::RenameFlags;
use sandbar_api::toolbox::fs::{
    CreateFolderQuery, DeleteFileQuery, FileInfo, ListFilesQuery, MoveQuery, SetPermissionsQuery,
};
use sandbar_api::toolbox::PathQuery;

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

/// Lists `dir` `depth` levels deep in pre-order (each directory's entries sorted by name, a
/// subdirectory's entries right after it), with an explicit stack: a deep tree and a large
/// `depth` cost heap, never the blocking thread's stack.
fn list_into(fs: &SandboxFs, dir: &Path, depth: u32, out: &mut Vec<FileInfo>) -> Result<(), ToolboxError> {
    // Each open level: its remaining entries (reversed, so `pop` takes the next) and the depth
    // still allowed below it.
    let mut stack = vec![(sorted_names(fs, dir)?, dir.to_path_buf(), depth)];
    while let Some((names, parent, depth)) = stack.last_mut() {
        let Some(name) = names.pop() else {
            stack.pop();
            continue;
        };
        let path = parent.join(&name);
        let depth = *depth;
        let Ok(meta) = fs.metadata(&path) else { continue };
        out.push(file_info(&name, &path, &meta.0));
        if meta.is_dir() && depth > 1 {
            let names = sorted_names(fs, &path)?;
            stack.push((names, path, depth - 1));
        }
    }
    Ok(())
}

/// The entry names of `dir`, sorted in reverse.
fn sorted_names(fs: &SandboxFs, dir: &Path) -> Result<Vec<String>, ToolboxError> {
    let handle = fs.root.resolve(dir).map_err(|e| fs_error(dir, &e))?;
    let file = handle.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY).map_err(|e| fs_error(dir, &e))?;
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
    let mut names: Vec<String> = std::fs::read_dir(&proc_path)
        .map_err(|e| io_error(dir, &e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by(|a, b| b.cmp(a));
    Ok(names)
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
        if meta.is_dir() {
            if !query.recursive {
                return Err(ToolboxError::bad_request(format!(
                    "{} is a directory: delete it with recursive=true",
                    path.display()
                )));
            }
            fs.remove_tree(&path)?;
            return Ok(StatusCode::NO_CONTENT);
        }
        fs.root.remove_file(&path).map_err(|e| fs_error(&path, &e))?;
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
            return Err(ToolboxError::forbidden(
                "FILE_ACCESS_DENIED",
                format!("{} is a kernel interface file", path.display()),
            ));
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
