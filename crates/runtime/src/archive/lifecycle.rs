//! Archiving a stopped sandbox and restoring it: the Runtime's side of [`super::format`], with
//! the commit points and the crash recovery that keep a sandbox's files in exactly one place.

use crate::image::remove_tree;
use crate::runtime::{sync_dir, Runtime};
use crate::spec::SandboxId;
use crate::Error;
use std::path::{Path, PathBuf};

/// An archived sandbox's writable layer; while it exists it is the truth and `upper/` is not.
pub(crate) const ARCHIVE: &str = "upper.tar.zst";
/// An archive being written (deleted by recovery: `upper/` is still whole).
pub(crate) const ARCHIVE_PARTIAL: &str = "upper.tar.zst.partial";
/// The writable layer being unpacked from the archive (deleted by recovery until committed).
pub(crate) const RESTORING: &str = "upper.restoring";
/// The archive after a restore committed: `upper.restoring/` (or `upper/`) is the truth now.
pub(crate) const ARCHIVE_RESTORED: &str = "upper.tar.zst.restored";

impl Runtime {
    /// Packs a stopped sandbox's writable layer into one compressed file (see [`crate::archive`])
    /// and frees its directory; the next [`start`](Self::start) (or snapshot or fork) unpacks it.
    /// Returns what was packed, or `None` when the sandbox was archived already.
    ///
    /// Crash safety: the archive is written under a temporary name, synced and renamed; only
    /// then is the writable layer removed. [`recover_orphans`](Self::recover_orphans) finishes or
    /// rolls back whatever a crash interrupted.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn archive(&self, id: &SandboxId) -> Result<Option<crate::archive::Packed>, Error> {
        let _guard = self.locked(id);
        self.record(id)?;
        if self.running_entry(id).is_some() {
            return Err(Error::Running { id: id.clone() });
        }
        let dir = self.dir(id);
        if dir.join(ARCHIVE).exists() {
            return Ok(None);
        }
        let (upper, partial) = (dir.join("upper"), dir.join(ARCHIVE_PARTIAL));
        let limit = self.record(id)?.spec.limits.disk_bytes;
        let packed = self.with_disk_limit_lifted(id, limit, || {
            let packed = crate::archive::pack(&upper, &partial).map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                Error::sandbox(id, format!("pack {} into {}", upper.display(), partial.display()))(e)
            })?;
            std::fs::rename(&partial, dir.join(ARCHIVE))
                .and_then(|()| sync_dir(&dir))
                .map_err(Error::sandbox(id, format!("commit {}", dir.join(ARCHIVE).display())))?;
            remove_tree(&upper)?;
            remove_tree(&dir.join("work"))?;
            Ok(packed)
        })?;
        Ok(Some(packed))
    }

    /// Whether the sandbox's writable layer is packed away by [`archive`](Self::archive).
    pub fn is_archived(&self, id: &SandboxId) -> bool {
        self.dir(id).join(ARCHIVE).exists()
    }

    /// Unpacks an archived sandbox's writable layer (no-op otherwise). Call under its lock.
    pub(crate) fn restore_locked(&self, id: &SandboxId) -> Result<(), Error> {
        let dir = self.dir(id);
        let archive = dir.join(ARCHIVE);
        if !archive.exists() {
            return Ok(());
        }
        let restoring = dir.join(RESTORING);
        remove_tree(&restoring)?;
        crate::archive::unpack(&archive, &restoring).and_then(|()| sync_dir(&restoring)).map_err(|e| {
            let _ = remove_tree(&restoring);
            Error::sandbox(id, format!("unpack {}", archive.display()))(e)
        })?;
        // The commit point: from this rename on, the unpacked tree is the truth.
        std::fs::rename(&archive, dir.join(ARCHIVE_RESTORED))
            .and_then(|()| sync_dir(&dir))
            .map_err(Error::sandbox(id, "commit the restore"))?;
        finish_restore(&dir).map_err(Error::sandbox(id, "move the restored layer into place"))
    }
}

/// After a committed restore: the unpacked tree becomes `upper/` with a fresh `work/`, and the
/// spent archive goes.
pub(crate) fn finish_restore(dir: &Path) -> std::io::Result<()> {
    let (restoring, upper) = (dir.join(RESTORING), dir.join("upper"));
    if restoring.exists() {
        if upper.exists() {
            std::fs::remove_dir_all(&upper)?;
        }
        std::fs::rename(&restoring, &upper)?;
    }
    let work = dir.join("work");
    if !work.exists() {
        std::fs::create_dir(&work)?;
    }
    match std::fs::remove_file(dir.join(ARCHIVE_RESTORED)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Finishes or rolls back an archive or restore that a crash interrupted in sandbox `dir`, so
/// that exactly one of `upper/` and the archive holds its files afterwards:
/// * a partial archive is deleted (the writable layer is still whole);
/// * with a committed archive, a leftover `upper/`, `work/` or half-unpacked tree is deleted;
/// * a committed restore is completed.
pub(crate) fn recover_archive_state(dir: &Path) -> std::io::Result<()> {
    let remove = |path: PathBuf| -> std::io::Result<()> {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => Ok(()),
        }
    };
    remove(dir.join(ARCHIVE_PARTIAL))?;
    if dir.join(ARCHIVE_RESTORED).exists() {
        return finish_restore(dir);
    }
    if dir.join(ARCHIVE).exists() {
        for leftover in ["upper", "work", RESTORING] {
            remove(dir.join(leftover))?;
        }
    }
    Ok(())
}
