//! The digest that names a layer: SHA-256 over a canonical walk of its tree.
//!
//! Entries are visited in byte order of their names; each contributes its relative path, type,
//! mode, owner, and content (file bytes, link target or device number). Two trees with the same
//! digest are interchangeable as layers, whatever their timestamps.

use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Hex SHA-256 of the tree at `root`.
pub(crate) fn tree_digest(root: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    walk(root, Path::new(""), &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn walk(root: &Path, relative: &Path, hasher: &mut Sha256) -> io::Result<()> {
    let dir = root.join(relative);
    let mut names: Vec<_> = std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let child = relative.join(&name);
        let path = root.join(&child);
        let meta = std::fs::symlink_metadata(&path)?;
        let kind = meta.file_type();
        hasher.update(child.as_os_str().as_bytes());
        hasher.update([0]);
        hasher.update(format!("{:o} {} {}\0", meta.mode(), meta.uid(), meta.gid()).as_bytes());
        if kind.is_dir() {
            walk(root, &child, hasher)?;
        } else if kind.is_symlink() {
            hasher.update(std::fs::read_link(&path)?.as_os_str().as_bytes());
        } else if kind.is_file() {
            hasher.update(meta.len().to_le_bytes());
            let mut file = std::fs::File::open(&path)?;
            let mut buffer = [0u8; 64 * 1024];
            loop {
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
            }
        } else if kind.is_char_device() || kind.is_block_device() {
            hasher.update(meta.rdev().to_le_bytes());
        }
        hasher.update([0xff]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_follows_content_not_timestamps() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            std::fs::create_dir(dir.join("etc")).unwrap();
            std::fs::write(dir.join("etc/hostname"), "box\n").unwrap();
            std::os::unix::fs::symlink("etc/hostname", dir.join("link")).unwrap();
        }
        assert_eq!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
        std::fs::write(b.path().join("etc/hostname"), "other\n").unwrap();
        assert_ne!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
    }

    #[test]
    fn digest_sees_renames() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("x"), "1").unwrap();
        std::fs::write(b.path().join("y"), "1").unwrap();
        assert_ne!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
    }
}
