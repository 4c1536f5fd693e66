//! Snapshots, forks and snapshot images: a sandbox's files become an image layer, or a second
//! sandbox; crash recovery for both.

use super::adopt::RUNNING_MARKER;
use super::freeze::frozen;
use super::{read_record, sync_dir, write_record, write_staged_record, Runtime};
use crate::image::remove_tree;
use crate::spec::SandboxId;
use crate::{Error, ImageManifest};
use std::path::Path;

/// With a data disk, snapshots of sandboxes are subvolume snapshots kept here (in the sandboxes
/// directory); the image store's layer is a symlink to the snapshot's `upper/`.
pub(crate) const SNAPSHOTS_DIR: &str = ".snapshots";
/// Names the layer a stopped sandbox's `upper/` is being turned into; see `recover_snapshot`.
pub(crate) const SNAPSHOT_INTENT: &str = "snapshot-intent.json";

impl Runtime {
    /// Makes the sandbox's files a new image named `image_name` and returns it.
    ///
    /// A stopped sandbox's writable layer *becomes* the image's top layer (a rename, O(1)) and the
    /// sandbox continues on top of it with an empty writable layer, so its files do not change.
    /// A running sandbox is frozen while its writable layer is copied, then thawed.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id, image = image_name))]
    pub fn snapshot(&self, id: &SandboxId, image_name: &str) -> Result<ImageManifest, Error> {
        let _guard = self.locked(id);
        let limit = self.record(id)?.spec.limits.disk_bytes;
        // Its bookkeeping (intent, record, a fresh writable layer) must work at the limit too.
        self.with_disk_limit_lifted(id, limit, || self.snapshot_locked(id, image_name))
    }

    fn snapshot_locked(&self, id: &SandboxId, image_name: &str) -> Result<ImageManifest, Error> {
        let mut record = self.record(id)?;
        self.restore_locked(id)?;
        let layer_id = format!("snap-{}", random_hex());
        let layer = self.images.layer_path(&layer_id);
        let dir = self.dir(id);
        let mut layers = record.image.layers.clone();
        match self.running_entry(id) {
            // On a data disk the sandbox directory is a subvolume: a btrfs snapshot of it is an
            // O(1) copy whether the sandbox runs (frozen for the moment) or not, and the sandbox
            // keeps its own writable layer.
            running if self.disk.is_some() => {
                let snapshots = self.sandboxes_dir.join(SNAPSHOTS_DIR);
                std::fs::create_dir_all(&snapshots)
                    .map_err(Error::sandbox(id, format!("create {}", snapshots.display())))?;
                let target = snapshots.join(&layer_id);
                frozen(id, running.as_deref(), || crate::disk::snapshot_subvolume(&dir, &target))?
                    .map_err(Error::sandbox(id, format!("snapshot {} to {}", dir.display(), target.display())))?;
                std::os::unix::fs::symlink(target.join("upper"), &layer).map_err(|e| {
                    let _ = remove_tree(&target);
                    Error::sandbox(id, format!("link {} to the snapshot", layer.display()))(e)
                })?;
            }
            None => {
                let upper = dir.join("upper");
                // Written (and synced) before the rename, so a crash in between can be undone.
                let intent = dir.join(SNAPSHOT_INTENT);
                std::fs::write(&intent, &layer_id)
                    .and_then(|()| sync_dir(&dir))
                    .map_err(Error::sandbox(id, format!("write {}", intent.display())))?;
                if let Err(e) = std::fs::rename(&upper, &layer) {
                    let _ = std::fs::remove_file(&intent);
                    // Another file system (EXDEV): copy, then keep the sandbox as it was.
                    copy_tree(&upper, &layer)
                        .map_err(|copy| Error::sandbox(id, format!("copy {} ({e})", upper.display()))(copy))?;
                } else {
                    // The sandbox goes on over the new layer with a fresh writable layer.
                    let work = dir.join("work");
                    remove_tree(&work)?;
                    for fresh in [&upper, &work] {
                        std::fs::create_dir(fresh)
                            .map_err(Error::sandbox(id, format!("create {}", fresh.display())))?;
                    }
                    record.image.layers.push(layer_id.clone());
                    // The commit point: the record names the layer from here on.
                    write_record(id, &dir, &record)?;
                    let _ = std::fs::remove_file(&intent);
                }
            }
            Some(running) => {
                // Copied beside the layer and renamed when complete: a crash leaves only a
                // `.partial-` directory, which recovery removes.
                let partial = self.images.layer_path(&format!(".partial-{}-{layer_id}", std::process::id()));
                let copied = frozen(id, Some(&running), || copy_tree(&dir.join("upper"), &partial))?;
                copied.and_then(|()| std::fs::rename(&partial, &layer)).map_err(|e| {
                    let _ = remove_tree(&partial);
                    Error::sandbox(id, format!("copy {} into a layer", dir.join("upper").display()))(e)
                })?;
            }
        }
        layers.push(layer_id);
        let manifest = ImageManifest {
            name: image_name.to_string(),
            layers,
            env: record.image.env.clone(),
            user: record.image.user.clone(),
            workdir: record.image.workdir.clone(),
            recipe: 0,
        };
        self.images.put_manifest(&manifest)?;
        Ok(manifest)
    }

    /// Creates `target` as a copy of `source`: the same read-only layers and a copy of its
    /// writable layer (a running source is frozen while it is copied). The two never see each
    /// other's later writes. The fork is created stopped.
    #[tracing::instrument(skip_all, fields(sandbox_id = %source, target = %target))]
    pub fn fork(&self, source: &SandboxId, target: &SandboxId) -> Result<(), Error> {
        let _guard = self.locked(source);
        let mut record = self.record(source)?;
        self.with_disk_limit_lifted(source, record.spec.limits.disk_bytes, || self.restore_locked(source))?;
        if self.dir(target).exists() {
            return Err(Error::AlreadyExists { id: target.clone() });
        }
        self.stage_dir(target, |staging| {
            let (source_dir, running) = (self.dir(source), self.running_entry(source));
            let upper = source_dir.join("upper");
            let copied = if self.disk.is_some() {
                // On a data disk the whole sandbox directory is a subvolume: its snapshot is an
                // O(1) copy; what belongs to the source's run is dropped from it below.
                frozen(source, running.as_deref(), || crate::disk::snapshot_subvolume(&source_dir, staging))?
            } else {
                self.make_sandbox_dir(target, staging, None)?;
                frozen(source, running.as_deref(), || copy_tree(&upper, &staging.join("upper")))?
            };
            copied.map_err(Error::sandbox(target, format!("copy {}", upper.display())))?;
            for leftover in [RUNNING_MARKER, "init.sock", SNAPSHOT_INTENT, "work", "rootfs"] {
                remove_tree(&staging.join(leftover))?;
            }
            for sub in ["work", "rootfs"] {
                let path = staging.join(sub);
                std::fs::create_dir_all(&path).map_err(Error::sandbox(target, format!("create {}", path.display())))?;
            }
            self.apply_disk_limit(target, staging, record.spec.limits.disk_bytes)?;
            record.spec.hostname = None;
            write_staged_record(target, staging, &record)
        })
    }

    /// Deletes an image made by [`snapshot`](Self::snapshot) and every snapshot layer of it that
    /// no other image and no sandbox uses. Base layers (content-addressed) are never removed here.
    /// Refuses (and changes nothing) while a sandbox was created from the image.
    pub fn delete_image(&self, name: &str) -> Result<(), Error> {
        let manifest = self.images.require(name)?;
        let mut used = std::collections::HashSet::new();
        for (id, _) in self.list()? {
            let record = self.record(&id)?;
            if record.image.name == name {
                return Err(Error::InUse { what: format!("image {name:?} is used by sandbox {id}") });
            }
            used.extend(record.image.layers);
        }
        for other in self.images.list()? {
            if other.name != name {
                used.extend(other.layers);
            }
        }
        self.images.remove_manifest(name)?;
        for layer in manifest.layers.iter().filter(|l| l.starts_with("snap-") && !used.contains(*l)) {
            let path = self.images.layer_path(layer);
            // A layer on the data disk is a link to a snapshot subvolume's upper/: both go.
            let snapshot = std::fs::read_link(&path).ok().and_then(|upper| upper.parent().map(Path::to_path_buf));
            remove_tree(&path)?;
            if let Some(snapshot) = snapshot {
                remove_tree(&snapshot)?;
            }
        }
        Ok(())
    }

    /// Undoes a snapshot of a stopped sandbox that a crash interrupted before its record named
    /// the new layer: the layer goes back to being the sandbox's `upper/`. One that committed only
    /// loses its intent file. Also removes partial layer copies of runtime processes that died.
    pub(crate) fn recover_snapshot(&self, id: &SandboxId) -> Result<(), Error> {
        let dir = self.dir(id);
        let intent = dir.join(SNAPSHOT_INTENT);
        let Ok(layer_id) = std::fs::read_to_string(&intent) else { return Ok(()) };
        let step = |what: &str| Error::sandbox(id, format!("recover the snapshot: {what}"));
        let record = read_record(id, &dir)?;
        let layer = self.images.layer_path(layer_id.trim());
        if !record.image.layers.iter().any(|l| l == layer_id.trim()) && layer.is_dir() {
            tracing::warn!(sandbox_id = %id, "rolling back a snapshot a crash interrupted");
            for fresh in ["upper", "work"] {
                remove_tree(&dir.join(fresh))?;
            }
            std::fs::rename(&layer, dir.join("upper")).map_err(step("move the layer back"))?;
            std::fs::create_dir(dir.join("work")).map_err(step("create work"))?;
        }
        std::fs::remove_file(&intent).map_err(step("remove the intent"))
    }

    /// Removes snapshot subvolumes no layer of the image store links to (a crash between the
    /// snapshot and the link, or an image deleted while its link could not be read).
    pub(crate) fn remove_orphan_snapshots(&self) {
        let snapshots = self.sandboxes_dir.join(SNAPSHOTS_DIR);
        for entry in std::fs::read_dir(&snapshots).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if std::fs::symlink_metadata(self.images.layer_path(&name)).is_err() {
                if let Err(e) = remove_tree(&entry.path()) {
                    tracing::warn!(snapshot = %entry.path().display(), error = %e, "could not remove an orphan snapshot");
                }
            }
        }
    }

    /// Removes `.partial-<pid>-*` layer copies whose runtime process is gone (the image store is
    /// shared: a live process's copy may be in progress).
    pub(crate) fn remove_dead_partial_layers(&self) {
        let layers = self.images.layer_path("");
        for entry in std::fs::read_dir(&layers).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(".partial-").and_then(|rest| rest.split('-').next()) else { continue };
            let alive = pid.parse::<i32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                if let Err(e) = remove_tree(&entry.path()) {
                    tracing::warn!(layer = %entry.path().display(), error = %e, "could not remove a partial layer");
                }
            }
        }
    }
}

/// Copies a writable layer with everything overlayfs keeps in it (owners, modes, xattrs such as
/// `trusted.overlay.*`, whiteout device nodes, hard links), sharing blocks where the file system
/// can (`--reflink=auto`).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let output = std::process::Command::new("cp").args(["-a", "--reflink=auto", "--"]).arg(from).arg(to).output()?;
    if output.status.success() {
        Ok(())
    } else {
        let _ = std::fs::remove_dir_all(to);
        Err(std::io::Error::other(format!("cp failed: {}", String::from_utf8_lossy(&output.stderr).trim())))
    }
}

pub(crate) fn random_hex() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}
