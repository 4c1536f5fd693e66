//! Creating a sandbox: its directory appears complete, by one rename.

use super::{validate, Record, Runtime};
use crate::image::remove_tree;
use crate::spec::{SandboxId, SandboxSpec};
use crate::Error;

impl Runtime {
    /// Creates a stopped sandbox from `spec`. Fails with [`Error::AlreadyExists`] for a used id.
    pub fn create(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        validate(spec)?;
        let image = self.images.require(&spec.image)?;
        let _guard = self.locked(id);
        let dir = self.dir(id);
        if dir.exists() {
            return Err(Error::AlreadyExists { id: id.clone() });
        }
        let staging = self.sandboxes_dir.join(format!(".creating-{id}"));
        let result = (|| {
            remove_tree(&staging)?;
            self.make_sandbox_dir(id, &staging, spec.limits.disk_bytes)?;
            for sub in ["upper", "work", "rootfs"] {
                let path = staging.join(sub);
                std::fs::create_dir_all(&path).map_err(Error::sandbox(id, format!("create {}", path.display())))?;
            }
            let record = Record { spec: spec.clone(), image };
            let bytes = serde_json::to_vec_pretty(&record)
                .map_err(|e| Error::sandbox(id, "encode record")(std::io::Error::other(e)))?;
            let path = staging.join("sandbox.json");
            std::fs::write(&path, bytes).map_err(Error::sandbox(id, format!("write {}", path.display())))?;
            std::fs::rename(&staging, &dir)
                .map_err(Error::sandbox(id, format!("move {} to {}", staging.display(), dir.display())))
        })();
        if result.is_err() {
            let _ = remove_tree(&staging);
        }
        result
    }
}
