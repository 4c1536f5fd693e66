//! Recursive delete inside the sandbox root (`DELETE /files?recursive=true`) without recursion:
//! the walk keeps an explicit list of levels, so a tree of any depth costs heap, never stack (a
//! recursive walk on a 2 MiB blocking-pool stack overflowed near 2,600 levels and aborted the
//! whole server).
//!
//! Only the top directory is found by path, with pathrs inside the root. Everything below is
//! reached from an open directory by name with `O_NOFOLLOW` (through its `/proc/self/fd` link,
//! so no path ever grows) and removed with `unlinkat` on that directory: a symlink is removed,
//! never followed. Going back up opens `..` and checks it is the very directory the walk came
//! from (device and inode), so a directory the sandbox moves during the walk stops it instead
//! of leading it elsewhere. Directories on another device (mount points: volumes, `/proc`,
//! anything bind-mounted in) are never entered; the delete reports them and leaves them.

use super::*;
use nix::errno::Errno;
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;

/// How often one directory is scanned again when entries keep appearing in it during the delete.
const RESCANS: u8 = 3;

/// One directory of the walk: its name in its parent, its identity, and the subdirectories
/// still to remove.
struct Level {
    name: OsString,
    id: (u64, u64),
    pending: Vec<OsString>,
    scans: u8,
}

impl SandboxFs {
    /// `rm -r` of the directory `path` inside the root, iteratively; mount points below it are
    /// left in place and reported.
    pub(crate) fn remove_tree(&self, path: &Path) -> Result<(), ToolboxError> {
        let name = path.file_name().ok_or_else(|| invalid_path(&path.display().to_string(), "names no directory"))?;
        let parent_path = path.parent().unwrap_or(Path::new("/"));
        // An O_PATH descriptor of the parent: every later step is relative to it or below it.
        let parent = std::os::fd::OwnedFd::from(self.root.resolve(parent_path).map_err(|e| fs_error(parent_path, &e))?);
        let failed = |depth: usize, error: std::io::Error| {
            let below = if depth == 0 { String::new() } else { format!(" ({depth} levels down)") };
            match error.raw_os_error() {
                Some(libc::ENOENT) => io_error(path, &error),
                Some(libc::EACCES | libc::EPERM | libc::EROFS) => ToolboxError::forbidden(
                    "FILE_ACCESS_DENIED",
                    format!("cannot delete {}{below}: {error}", path.display()),
                ),
                _ => ToolboxError::conflict(format!("cannot delete {}{below}: {error}", path.display())),
            }
        };
        let top = open_dir(&parent, name).map_err(|e| failed(0, e))?;
        let device = identity(&top).map_err(|e| failed(0, e))?.0;
        let mut walk = Walk { device, mount_points: 0 };
        for _ in 0..=RESCANS {
            walk.empty(top.try_clone().map_err(|e| failed(0, e))?).map_err(|(depth, e)| failed(depth, e))?;
            match unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::RemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => return Ok(()),
                Err(Errno::ENOTEMPTY | Errno::EEXIST) if walk.mount_points == 0 => continue,
                Err(_) if walk.mount_points > 0 => break,
                Err(e) => return Err(failed(0, e.into())),
            }
        }
        if walk.mount_points > 0 {
            return Err(ToolboxError::forbidden(
                "FILE_ACCESS_DENIED",
                format!(
                    "{} holds {} mount point(s) of other file systems: everything else was deleted, they were left in place",
                    path.display(),
                    walk.mount_points
                ),
            ));
        }
        Err(failed(0, std::io::Error::other("entries kept appearing in it during the delete")))
    }
}

/// The state of one delete: the device it stays on, and how many mount points it left.
struct Walk {
    device: u64,
    mount_points: usize,
}

impl Walk {
    /// Removes everything inside `top` (not `top` itself); on failure, how deep it happened.
    fn empty(&mut self, top: File) -> Result<(), (usize, std::io::Error)> {
        let id = identity(&top).map_err(|e| (0, e))?;
        let pending = self.scan(&top).map_err(|e| (0, e))?;
        let mut current = top;
        let mut levels = vec![Level { name: OsString::new(), id, pending, scans: 1 }];
        loop {
            let depth = levels.len() - 1;
            let level = levels.last_mut().expect("the top level stays until the end");
            if let Some(child) = level.pending.pop() {
                let opened = match open_dir(&current, &child) {
                    Ok(dir) => dir,
                    // Gone already, or no longer a directory (swapped for a file or a link):
                    // removed as what it is now.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)) => {
                        unlink(&current, &child, UnlinkatFlags::NoRemoveDir).map_err(|e| (depth + 1, e))?;
                        continue;
                    }
                    Err(e) => return Err((depth + 1, e)),
                };
                let id = identity(&opened).map_err(|e| (depth + 1, e))?;
                if id.0 != self.device {
                    self.mount_points += 1;
                    continue;
                }
                let pending = self.scan(&opened).map_err(|e| (depth + 1, e))?;
                levels.push(Level { name: child, id, pending, scans: 1 });
                current = opened;
                continue;
            }
            if depth == 0 {
                return Ok(());
            }
            let done = levels.pop().expect("checked above");
            let parent = open_dir(&current, OsStr::new("..")).map_err(|e| (depth, e))?;
            let parent_id = levels.last().expect("the top level stays until the end").id;
            if identity(&parent).map_err(|e| (depth, e))? != parent_id {
                let moved = std::io::Error::other("a directory was moved out of the tree during the delete");
                return Err((depth, moved));
            }
            match unlink(&parent, &done.name, UnlinkatFlags::RemoveDir) {
                Ok(()) => {}
                Err(e) if self.mount_points > 0 => drop(e),
                Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) && done.scans <= RESCANS => {
                    // Entries appeared while it was emptied: go through it once more.
                    let pending = self.scan(&current).map_err(|e| (depth, e))?;
                    levels.push(Level { pending, scans: done.scans + 1, ..done });
                    continue;
                }
                Err(e) => return Err((depth, e)),
            }
            current = parent;
        }
    }

    /// Unlinks every entry of `dir` that is not a directory and returns the names of the
    /// subdirectories.
    fn scan(&self, dir: &File) -> std::io::Result<Vec<OsString>> {
        let (mut subdirs, mut others) = (Vec::new(), Vec::new());
        for entry in std::fs::read_dir(proc_path(dir))? {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            // `file_type` never follows a link (d_type, else lstat).
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => subdirs.push(entry.file_name()),
                Ok(_) => others.push(entry.file_name()),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        for name in others {
            unlink(dir, &name, UnlinkatFlags::NoRemoveDir)?;
        }
        Ok(subdirs)
    }
}

/// The `/proc/self/fd` link of an open directory: names below it resolve from that directory.
fn proc_path(dir: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()))
}

/// Opens the directory `name` of the open directory `dir`, never following a link.
fn open_dir(dir: &impl AsRawFd, name: &OsStr) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(proc_path(dir).join(name))
}

/// (device, inode) of an open file.
fn identity(file: &File) -> std::io::Result<(u64, u64)> {
    let stat = nix::sys::stat::fstat(file.as_raw_fd()).map_err(std::io::Error::from)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// `unlinkat` relative to an open directory; an entry already gone is no failure.
fn unlink(dir: &impl AsRawFd, name: &OsStr, flag: UnlinkatFlags) -> std::io::Result<()> {
    match unlinkat(Some(dir.as_raw_fd()), name, flag) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
