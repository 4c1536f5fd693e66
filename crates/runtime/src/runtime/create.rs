//! Creating a sandbox: its directory is built under a `.creating-` name and appears complete, by
//! one rename.

use super::{write_staged_record, Record, Runtime};
use crate::image::remove_tree;
use crate::spec::{SandboxId, SandboxSpec};
use crate::{Error, ImageManifest};
use std::path::Path;

impl Runtime {
    /// Creates a stopped sandbox from `spec`. Fails with [`Error::AlreadyExists`] for a used id.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn create(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        spec.validate()?;
        let image = self.images.require(&spec.image)?;
        let _guard = self.locked(id);
        self.create_locked(id, spec, image).map(drop)
    }

    /// [`create`](Self::create), then [`start`](Self::start), under one hold of the sandbox's
    /// lock and without reading back the record just written. A failed start leaves the
    /// sandbox created and stopped, as the two calls would.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn create_and_start(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        spec.validate()?;
        let image = self.images.require(&spec.image)?;
        let _guard = self.locked(id);
        let record = self.create_locked(id, spec, image)?;
        self.start_locked(id, record)
    }

    /// Creates the sandbox's directory and returns its record. Call under its lock.
    fn create_locked(&self, id: &SandboxId, spec: &SandboxSpec, image: ImageManifest) -> Result<Record, Error> {
        if self.dir(id).exists() {
            return Err(Error::AlreadyExists { id: id.clone() });
        }
        let record = Record { spec: spec.clone(), image };
        self.stage_dir(id, |staging| {
            self.make_sandbox_dir(id, staging, spec.limits.disk_bytes)?;
            for sub in ["upper", "work", "rootfs"] {
                let path = staging.join(sub);
                std::fs::create_dir_all(&path).map_err(Error::sandbox(id, format!("create {}", path.display())))?;
            }
            write_staged_record(id, staging, &record)
        })?;
        Ok(record)
    }

    /// Builds sandbox `id`'s directory with `fill` under a `.creating-` name, then renames it into
    /// place; on failure the half-made directory goes (and [`recover_orphans`](Self::recover_orphans)
    /// removes one a crash left). `fill` gets the staging path, which does not exist yet.
    pub(crate) fn stage_dir(&self, id: &SandboxId, fill: impl FnOnce(&Path) -> Result<(), Error>) -> Result<(), Error> {
        let (staging, dir) = (self.sandboxes_dir.join(format!(".creating-{id}")), self.dir(id));
        let result = remove_tree(&staging).and_then(|()| fill(&staging)).and_then(|()| {
            std::fs::rename(&staging, &dir)
                .map_err(Error::sandbox(id, format!("move {} to {}", staging.display(), dir.display())))
        });
        if result.is_err() {
            let _ = remove_tree(&staging);
        }
        result
    }
}
