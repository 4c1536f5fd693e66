//! The sandbox's file system as seen from the host (`shared/daytona-wire.md` §4.6): [`SandboxFs`],
//! the path-safe view every file route goes through, and the file routes on top of it.
//!
//! Every path is resolved inside the sandbox's root (`/proc/<init pid>/root`) with `pathrs`
//! (`openat2` with `RESOLVE_IN_ROOT`), so `..`, absolute symlinks and symlinks swapped in during
//! an operation all stay inside the sandbox: the host and other sandboxes are unreachable. Files
//! and directories the toolbox creates belong to the sandbox's user, as if that user made them.
//!
//! Layout: `mod.rs` (the view), `info.rs` (the daemon's `FileInfo`), `routes.rs` (list, info,
//! folders, delete, move, permissions), `remove.rs` (the iterative recursive delete), `multipart.rs` (the bound on upload bodies'
//! preamble and part headers), `transfer.rs` (streamed uploads and downloads, bulk and
//! single-file), `search.rs` (find, search, replace).

mod info;
mod multipart;
mod remove;
pub(crate) mod routes;
pub(crate) mod search;
#[cfg(test)]
mod tests;
pub(crate) mod transfer;

use crate::{Target, ToolboxError};
use pathrs::flags::OpenFlags;
use pathrs::Root;
use std::fs::Permissions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// procfs, sysfs, debugfs, tracefs, securityfs, cgroup v1 and v2, bpf (`statfs` magic numbers).
const KERNEL_FILE_SYSTEMS: &[i64] =
    &[0x9fa0, 0x62656572, 0x64626720, 0x74726163, 0x73636673, 0x27e0eb, 0x63677270, 0xcafe4a11];
/// Largest `/etc/passwd` or `/etc/group` the toolbox reads.
const ACCOUNT_FILE_LIMIT: u64 = 1 << 20;

/// `lstat` results of a path inside the sandbox.
struct Stat(nix::sys::stat::FileStat);

impl Stat {
    fn is_dir(&self) -> bool {
        self.0.st_mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// A sandbox's file system as seen from the host, for one request.
pub(crate) struct SandboxFs {
    root: Root,
    workdir: String,
    uid: u32,
    gid: u32,
    /// The run this view belongs to: streams stop when the sandbox stops (see `still_running`).
    /// `None` for a plain directory (the unit tests' root), which has no run to end.
    run: Option<Run>,
}

/// The sandbox run a [`SandboxFs`] was opened through.
struct Run {
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
        let run = Run { runtime: std::sync::Arc::clone(&target.runtime), id: target.id.clone(), init: pid };
        Ok(SandboxFs::with_root(directory, &target.workdir, &target.user, Some(run)))
    }

    /// The view of the directory open as `directory`, for `user` (uid and gid from the
    /// directory's own `/etc/passwd`, root when absent).
    fn with_root(directory: std::fs::File, workdir: &str, user: &str, run: Option<Run>) -> SandboxFs {
        let root = Root::from_fd(std::os::fd::OwnedFd::from(directory));
        let (uid, gid) = lookup_user(&root, user).unwrap_or((0, 0));
        SandboxFs { root, workdir: workdir.to_string(), uid, gid, run }
    }

    /// Whether the sandbox still runs with the init this view was opened through. A transfer
    /// checks it between chunks and ends when the sandbox stopped: its open files would keep the
    /// stopped sandbox's overlay mounted, and a restart could not mount its writable layer again.
    pub(crate) fn still_running(&self) -> bool {
        self.run.as_ref().is_none_or(|run| run.runtime.init_pid(&run.id).is_ok_and(|pid| pid == run.init))
    }

    /// The absolute in-sandbox path of a request path (relative ones are under the workdir).
    pub(crate) fn absolute(&self, path: &str) -> Result<PathBuf, ToolboxError> {
        // The kernel's own bound: no longer path can name a file, and every walk over a path
        // (making its parents, resolving it) stays proportionate. The answer does not repeat
        // the path.
        if path.len() >= MAX_PATH_BYTES {
            return Err(ToolboxError::invalid(
                "INVALID_FILE_PATH",
                format!(
                    "path of {} bytes is too long: the limit is {} bytes (PATH_MAX)",
                    path.len(),
                    MAX_PATH_BYTES - 1
                ),
            ));
        }
        if path.contains('\0') {
            return Err(invalid_path(path, "contains a NUL byte"));
        }
        let absolute = if path.is_empty() {
            PathBuf::from(&self.workdir)
        } else if path.starts_with('/') {
            PathBuf::from(path)
        } else {
            Path::new(&self.workdir).join(path)
        };
        if absolute.as_os_str().len() >= MAX_PATH_BYTES {
            return Err(ToolboxError::invalid(
                "INVALID_FILE_PATH",
                format!(
                    "path is too long below the working directory: the limit is {} bytes (PATH_MAX)",
                    MAX_PATH_BYTES - 1
                ),
            ));
        }
        Ok(absolute)
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
            return Err(ToolboxError::forbidden(
                "FILE_ACCESS_DENIED",
                format!("{} is a kernel interface file; read it with process.exec inside the sandbox", path.display()),
            ));
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
        // How many trailing components are missing: counted, not copied (a copy of every
        // missing prefix costs memory quadratic in the path's depth).
        let missing = path.ancestors().take_while(|dir| self.metadata(dir).is_err()).count();
        self.root.mkdir_all(path, &Permissions::from_mode(mode)).map_err(|e| fs_error(path, &e))?;
        for dir in path.ancestors().take(missing) {
            self.give_to_user(dir);
        }
        Ok(())
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

/// `PATH_MAX`: the longest path the kernel accepts is one byte less (the NUL).
pub(crate) const MAX_PATH_BYTES: usize = libc::PATH_MAX as usize;

fn invalid_path(path: &str, why: &str) -> ToolboxError {
    ToolboxError::invalid("INVALID_FILE_PATH", format!("path {path:?} {why}"))
}

/// Maps a pathrs failure to the daemon's file error codes.
fn fs_error(path: &Path, error: &pathrs::error::Error) -> ToolboxError {
    match error.kind() {
        pathrs::error::ErrorKind::OsError(Some(libc::ENOENT)) => {
            ToolboxError::not_found("FILE_NOT_FOUND", format!("file not found: {}", path.display()))
        }
        pathrs::error::ErrorKind::OsError(Some(libc::EACCES | libc::EPERM)) => {
            ToolboxError::forbidden("FILE_ACCESS_DENIED", format!("access denied: {}", path.display()))
        }
        pathrs::error::ErrorKind::OsError(Some(libc::EEXIST)) => {
            ToolboxError::conflict(format!("{} already exists", path.display()))
        }
        pathrs::error::ErrorKind::OsError(Some(libc::ENOTDIR)) => {
            invalid_path(&path.display().to_string(), "crosses a file that is not a directory")
        }
        _ => ToolboxError::invalid("INVALID_FILE_PATH", format!("{}: {error}", path.display())),
    }
}

fn io_error(path: &Path, error: &std::io::Error) -> ToolboxError {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            ToolboxError::not_found("FILE_NOT_FOUND", format!("file not found: {}", path.display()))
        }
        std::io::ErrorKind::PermissionDenied => {
            ToolboxError::forbidden("FILE_ACCESS_DENIED", format!("access denied: {}", path.display()))
        }
        _ => ToolboxError::internal(error),
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ToolboxError> + Send + 'static,
) -> Result<T, ToolboxError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ToolboxError::internal(&e))?
}
