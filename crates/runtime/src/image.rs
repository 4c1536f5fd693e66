//! The local image store: content-addressed, read-only layer directories shared by all sandboxes,
//! and named images that list their layers.
//!
//! Layout under the store root (a cache directory outside any one data directory, so tests and
//! restarts reuse it):
//!
//! ```text
//! layers/<sha256>/     one read-only layer; the name is the digest of its tree (see digest.rs)
//! images/<name>.json   an ImageManifest: layers bottom-first plus env, user and workdir
//! tmp/                 builds in progress; removed when a build fails or a store opens
//! lock                 flock held while building or cleaning
//! ```
//!
//! Layers and manifests appear by `rename`, so a reader sees a whole layer or none.

pub(crate) mod build;
mod digest;

use crate::Error;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

pub use build::{BuildProgress, DEFAULT_IMAGE};

/// A named image: its layers and the defaults its processes start with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    /// The image name.
    pub name: String,
    /// Layer digests, bottom-most first.
    pub layers: Vec<String>,
    /// `KEY=VALUE` environment of every process.
    pub env: Vec<String>,
    /// Default OS user.
    pub user: String,
    /// Default working directory.
    pub workdir: String,
    /// Version of the recipe that built it; a changed recipe rebuilds the image.
    #[serde(default)]
    pub recipe: u32,
}

/// The store on disk.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ImageStore, Error> {
        let root = root.into();
        for dir in ["layers", "images", "tmp"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(Error::image(format!("create {}", path.display())))?;
        }
        // Layers are the sandboxes' root file systems (set-id programs included): no other local
        // user reaches them.
        crate::image::make_private(&root).map_err(Error::image(format!("make {} private (0700)", root.display())))?;
        // Layers built before device nodes were stripped have debootstrap's in `dev/`.
        for layer in std::fs::read_dir(root.join("layers")).into_iter().flatten().flatten() {
            let dev = layer.path().join("dev");
            if dev.is_dir() {
                strip_device_nodes_in(&dev)
                    .map_err(Error::image(format!("remove device nodes in {}", dev.display())))?;
            }
        }
        Ok(ImageStore { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest of `name`, if the store has it.
    pub fn get(&self, name: &str) -> Result<Option<ImageManifest>, Error> {
        let path = self.manifest_path(name)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::image(format!("read {}", path.display()))(e)),
        };
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::image(format!("parse {}", path.display()))(std::io::Error::other(e)))?;
        for layer in &manifest.layers {
            if !self.layer_path(layer).is_dir() {
                return Ok(None);
            }
        }
        Ok(Some(manifest))
    }

    /// The manifest of `name`, or [`Error::ImageNotFound`].
    pub fn require(&self, name: &str) -> Result<ImageManifest, Error> {
        self.get(name)?.ok_or_else(|| Error::ImageNotFound { name: name.to_string() })
    }

    /// Every image in the store.
    pub fn list(&self) -> Result<Vec<ImageManifest>, Error> {
        let dir = self.root.join("images");
        let mut images = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(Error::image(format!("list {}", dir.display())))? {
            let entry = entry.map_err(Error::image(format!("list {}", dir.display())))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
            if let Some(manifest) = self.get(name)? {
                images.push(manifest);
            }
        }
        images.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(images)
    }

    /// Directory of the layer with `digest`.
    pub fn layer_path(&self, digest: &str) -> PathBuf {
        self.root.join("layers").join(digest)
    }

    /// The image's layer directories in overlayfs `lowerdir` order (top-most first).
    pub fn lower_dirs(&self, manifest: &ImageManifest) -> Vec<PathBuf> {
        manifest.layers.iter().rev().map(|digest| self.layer_path(digest)).collect()
    }

    /// The default image when it exists and was built by the current recipe (`None` means
    /// [`ensure_default`](Self::ensure_default) will build it).
    pub fn current_default(&self) -> Result<Option<ImageManifest>, Error> {
        Ok(self.get(DEFAULT_IMAGE)?.filter(|manifest| manifest.recipe == build::RECIPE_VERSION))
    }

    /// Makes sure the default image exists, building it with debootstrap on first use.
    pub fn ensure_default(&self, progress: &mut dyn BuildProgress) -> Result<ImageManifest, Error> {
        self.ensure_default_from(&build::mirror(), progress)
    }

    /// [`ensure_default`](Self::ensure_default) with an explicit Debian mirror URL.
    pub fn ensure_default_from(&self, mirror: &str, progress: &mut dyn BuildProgress) -> Result<ImageManifest, Error> {
        if let Some(manifest) = self.current_default()? {
            return Ok(manifest);
        }
        let _lock = self.lock()?;
        // Another process may have finished the build while this one waited for the lock.
        if let Some(manifest) = self.current_default()? {
            return Ok(manifest);
        }
        self.clean_tmp()?;
        build::build_default(self, mirror, progress)
    }

    /// Adds a finished tree as a layer; returns its digest. The tree is moved, not copied.
    pub(crate) fn add_layer(&self, tree: &Path) -> Result<String, Error> {
        strip_device_nodes(tree).map_err(Error::image(format!("remove device nodes in {}", tree.display())))?;
        let digest = digest::tree_digest(tree).map_err(Error::image(format!("hash {}", tree.display())))?;
        let target = self.layer_path(&digest);
        if target.is_dir() {
            // Same content already stored: keep the existing one.
            remove_tree(tree)?;
        } else {
            std::fs::rename(tree, &target).map_err(Error::image(format!(
                "move {} to {}",
                tree.display(),
                target.display()
            )))?;
        }
        Ok(digest)
    }

    /// Writes `manifest` atomically.
    pub(crate) fn put_manifest(&self, manifest: &ImageManifest) -> Result<(), Error> {
        let path = self.manifest_path(&manifest.name)?;
        let tmp = self.root.join("tmp").join(format!("{}.json.{}", manifest.name, std::process::id()));
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| Error::image("encode manifest")(std::io::Error::other(e)))?;
        std::fs::write(&tmp, bytes).map_err(Error::image(format!("write {}", tmp.display())))?;
        File::open(&tmp).and_then(|f| f.sync_all()).map_err(Error::image(format!("sync {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(Error::image(format!("move {} to {}", tmp.display(), path.display())))
    }

    /// Removes an image's manifest (its layers stay; see `Runtime::delete_image`).
    pub(crate) fn remove_manifest(&self, name: &str) -> Result<(), Error> {
        let path = self.manifest_path(name)?;
        remove_tree(&path)
    }

    /// A fresh directory for a build under `tmp/`.
    pub(crate) fn scratch_dir(&self, purpose: &str) -> Result<PathBuf, Error> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = self.root.join("tmp").join(format!("{purpose}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(Error::image(format!("create {}", path.display())))?;
        Ok(path)
    }

    fn manifest_path(&self, name: &str) -> Result<PathBuf, Error> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !name.starts_with('.');
        if !valid {
            return Err(Error::InvalidSpec {
                what: format!("image name {name:?} must be 1-128 characters of [A-Za-z0-9_.-]"),
            });
        }
        Ok(self.root.join("images").join(format!("{name}.json")))
    }

    /// Holds the store's exclusive lock until dropped.
    fn lock(&self) -> Result<nix::fcntl::Flock<File>, Error> {
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::image(format!("open {}", path.display())))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::image(format!("lock {}", path.display()))(e.into()))
    }

    /// Removes leftovers of builds that died half-way. Call with the lock held.
    fn clean_tmp(&self) -> Result<(), Error> {
        let dir = self.root.join("tmp");
        for entry in std::fs::read_dir(&dir).map_err(Error::image(format!("list {}", dir.display())))? {
            let entry = entry.map_err(Error::image(format!("list {}", dir.display())))?;
            remove_tree(&entry.path())?;
        }
        Ok(())
    }
}

/// Removes a file or directory tree; a missing path is fine.
pub(crate) fn remove_tree(path: &Path) -> Result<(), Error> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => remove_dir_tree(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(Error::image(format!("remove {}", path.display())))
}

/// Removes a directory and everything in it without recursion, however deep the tree: sandboxes
/// control their trees, and a walk that recursed once per level would overflow the thread's
/// stack (and abort the server) on a tree some thousands of levels deep. One directory is open
/// at a time (going up through `..`), and paths never grow, so no depth hits PATH_MAX either.
/// Symlinks are removed, never followed. Only for trees nothing else changes meanwhile (a
/// stopped sandbox's, the runtime's own).
pub(crate) fn remove_dir_tree(path: &Path) -> std::io::Result<()> {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    use std::ffi::{OsStr, OsString};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    // A directory relative to an open one, through its /proc/self/fd link (no path ever grows).
    fn open_dir(path: &Path) -> std::io::Result<File> {
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW).open(path)
    }
    fn inside(dir: &File, name: &OsStr) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
    }
    fn unlink(dir: &File, name: &OsStr, flag: UnlinkatFlags) -> std::io::Result<()> {
        unlinkat(Some(dir.as_raw_fd()), name, flag).map_err(std::io::Error::from)
    }
    /// Unlinks every non-directory entry of `dir` and returns the names of its subdirectories.
    fn scan(dir: &File) -> std::io::Result<Vec<OsString>> {
        let (mut subdirs, mut others) = (Vec::new(), Vec::new());
        for entry in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                subdirs.push(entry.file_name());
            } else {
                others.push(entry.file_name());
            }
        }
        for name in others {
            unlink(dir, &name, UnlinkatFlags::NoRemoveDir)?;
        }
        Ok(subdirs)
    }

    let mut current = open_dir(path)?;
    // Each level below the top: its name in its parent and the subdirectories still to remove.
    let mut levels: Vec<(Option<OsString>, Vec<OsString>)> = vec![(None, scan(&current)?)];
    while let Some((name, pending)) = levels.last_mut() {
        if let Some(child) = pending.pop() {
            current = open_dir(&inside(&current, &child))?;
            let subdirs = scan(&current)?;
            levels.push((Some(child), subdirs));
            continue;
        }
        let Some(name) = name.take() else { break };
        levels.pop();
        let parent = open_dir(&inside(&current, OsStr::new("..")))?;
        unlink(&parent, &name, UnlinkatFlags::RemoveDir)?;
        current = parent;
    }
    drop(current);
    std::fs::remove_dir(path)
}

/// Whether `meta` is a device node other than an overlayfs whiteout (a character device 0:0,
/// which upper directories need).
fn is_device_node(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let kind = meta.file_type();
    (kind.is_char_device() || kind.is_block_device()) && meta.rdev() != 0
}

/// Removes the device nodes directly in `dir`; returns how many.
fn strip_device_nodes_in(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if is_device_node(&entry.metadata()?) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes every device node of a tree about to become a layer (debootstrap makes `/dev/console`
/// 0666 and others): a layer sits on the host, where a node would open a host device, and a
/// sandbox gets its own `/dev` from init. Walks with an explicit list, not recursion.
fn strip_device_nodes(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        removed += strip_device_nodes_in(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(removed)
}

/// Makes a directory the runtime owns readable and enterable by root only (0700).
pub(crate) fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tree `depth` levels deep under `root` (one directory and one file per level), made
    /// without ever naming a long path.
    pub(crate) fn deep_tree(root: &Path, depth: usize) {
        let mut dir = File::open(root).unwrap();
        for _ in 0..depth {
            let here = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
            std::fs::write(here.join("f"), b"x").unwrap();
            std::fs::create_dir(here.join("d")).unwrap();
            dir = File::open(here.join("d")).unwrap();
        }
    }

    #[test]
    fn a_tree_deeper_than_any_stack_or_path_is_removed() {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("deep");
        std::fs::create_dir(&root).unwrap();
        // 5,000 levels: past PATH_MAX, and past where std's recursive removal (about 160 bytes
        // of stack a level) fits in the 256 KiB stack this runs on.
        deep_tree(&root, 5_000);
        let outside = scratch.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("kept"), b"kept").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link-out")).unwrap();
        let removing = root.clone();
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || remove_tree(&removing))
            .unwrap()
            .join()
            .expect("removal ran on a small stack")
            .unwrap();
        assert!(!root.exists());
        assert_eq!(std::fs::read(outside.join("kept")).unwrap(), b"kept", "a symlink's target is never removed");
    }

    #[test]
    fn files_and_missing_paths_are_fine() {
        let scratch = tempfile::tempdir().unwrap();
        let file = scratch.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        remove_tree(&file).unwrap();
        remove_tree(&file).unwrap();
        assert!(!file.exists());
    }
}
