//! The archive format: a writable layer to one zstd-compressed tar file and back, with what
//! tar-rs leaves out (see the module documentation of `archive`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// zstd level: 3 is zstd's default, fast with a good ratio.
const LEVEL: i32 = 3;

/// What [`pack`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    /// Entries written.
    pub entries: u64,
    /// Bytes of file contents before compression (allocated bytes: holes of sparse files are
    /// not contents).
    pub content_bytes: u64,
    /// Size of the compressed archive.
    pub archive_bytes: u64,
}

/// Packs the tree under `dir` into `out` (created, or truncated) and syncs it to disk.
pub fn pack(dir: &Path, out: &Path) -> std::io::Result<Packed> {
    let file = File::create(out)?;
    let mut encoder = zstd::stream::Encoder::new(BufWriter::with_capacity(1 << 20, file), LEVEL)?;
    let threads = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    if threads > 1 {
        encoder.multithread(threads)?;
    }
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    let mut state = PackState { links: HashMap::new(), entries: 0, content_bytes: 0 };
    pack_dir(&mut builder, dir, Path::new(""), &mut state)?;
    let encoder = builder.into_inner()?;
    let mut writer = encoder.finish()?;
    writer.flush()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(Packed { entries: state.entries, content_bytes: state.content_bytes, archive_bytes: file.metadata()?.len() })
}

struct PackState {
    /// First archived path of every inode with more than one link.
    links: HashMap<(u64, u64), PathBuf>,
    entries: u64,
    content_bytes: u64,
}

type Builder = tar::Builder<zstd::stream::Encoder<'static, BufWriter<File>>>;

/// Appends everything under `root/relative` in a stable depth-first order. The walk keeps its
/// own work list instead of recursing: a sandbox controls its tree, and a recursion per level
/// would overflow the thread's stack (aborting the server) on a deep one.
fn pack_dir(builder: &mut Builder, root: &Path, relative: &Path, state: &mut PackState) -> std::io::Result<()> {
    let mut pending: Vec<(PathBuf, std::vec::IntoIter<std::ffi::OsString>)> =
        vec![(relative.to_path_buf(), sorted_names(&root.join(relative))?.into_iter())];
    'entries: while let Some((dir, names)) = pending.last_mut() {
        let Some(name) = names.next() else {
            pending.pop();
            continue;
        };
        let path = dir.join(&name);
        let full = root.join(&path);
        let meta = std::fs::symlink_metadata(&full)?;
        let kind = meta.file_type();
        if kind.is_socket() {
            tracing::debug!(path = %full.display(), "a socket is not archived");
            continue 'entries;
        }
        let xattrs = read_xattrs(&full)?;
        if !xattrs.is_empty() {
            let records: Vec<(String, &[u8])> =
                xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice())).collect();
            builder.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        state.entries += 1;
        // Symlinks are never written as hard links: tar-rs resolves a link's target through the
        // file system when unpacking, which would follow the symlink.
        if !kind.is_dir() && !kind.is_symlink() && meta.nlink() > 1 {
            let inode = (meta.dev(), meta.ino());
            if let Some(first) = state.links.get(&inode) {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, &path, first)?;
                continue 'entries;
            }
            state.links.insert(inode, path.clone());
        }
        if kind.is_dir() {
            header.set_size(0);
            builder.append_data(&mut header, &path, std::io::empty())?;
            pending.push((path.clone(), sorted_names(&full)?.into_iter()));
        } else if kind.is_symlink() {
            header.set_size(0);
            builder.append_link(&mut header, &path, std::fs::read_link(&full)?)?;
        } else if kind.is_file() {
            // append_file writes holes as GNU sparse entries (SEEK_DATA/SEEK_HOLE), so a sparse
            // file costs its data, not its apparent size, in the archive and when unpacked.
            let mut file = File::open(&full)?;
            state.content_bytes += meta.blocks() * 512;
            builder.append_file(&path, &mut file)?;
        } else {
            // Character and block devices (overlayfs whiteouts are 0/0 character devices), FIFOs.
            let (major, minor) = (nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
            header.set_entry_type(if kind.is_char_device() {
                tar::EntryType::Char
            } else if kind.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            header.set_device_major(major as u32)?;
            header.set_device_minor(minor as u32)?;
            header.set_size(0);
            builder.append_data(&mut header, &path, std::io::empty())?;
        }
    }
    Ok(())
}

/// The entries of `dir`, sorted (a stable order makes equal trees give equal archives).
fn sorted_names(dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort();
    Ok(names)
}

/// Every extended attribute of `path` itself (symlinks are not followed).
fn read_xattrs(path: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in xattr::list(path)? {
        let Some(text) = name.to_str() else {
            return Err(std::io::Error::other(format!("{}: xattr name {name:?} is not UTF-8", path.display())));
        };
        if let Some(value) = xattr::get(path, &name)? {
            out.push((text.to_string(), value));
        }
    }
    Ok(out)
}

/// Unpacks `archive` (made by [`pack`]) into the empty or missing directory `into`.
pub fn unpack(archive: &Path, into: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(into)?;
    let decoder = zstd::stream::Decoder::new(BufReader::with_capacity(1 << 20, File::open(archive)?))?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(true);
    tar.set_preserve_mtime(true);
    tar.set_unpack_xattrs(false); // set below, for every kind of entry
    tar.set_overwrite(false);
    let mut directories: Vec<(PathBuf, i64)> = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let relative = entry.path()?.into_owned();
        if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(std::io::Error::other(format!("archive entry {} leaves the directory", relative.display())));
        }
        let target = into.join(&relative);
        let xattrs: Vec<(String, Vec<u8>)> = match entry.pax_extensions()? {
            Some(extensions) => extensions
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let key = e.key().ok()?.strip_prefix("SCHILY.xattr.")?.to_string();
                    Some((key, e.value_bytes().to_vec()))
                })
                .collect(),
            None => Vec::new(),
        };
        let header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            make_node(&target, &header)?;
        } else if !entry.unpack_in(into)? {
            return Err(std::io::Error::other(format!("archive entry {} was refused", relative.display())));
        }
        if kind.is_symlink() {
            // tar sets no owner on a symlink; lchown does.
            std::os::unix::fs::lchown(&target, Some(header.uid()? as u32), Some(header.gid()? as u32))?;
        }
        for (name, value) in &xattrs {
            xattr::set(&target, name, value)
                .map_err(|e| std::io::Error::new(e.kind(), format!("set xattr {name} on {}: {e}", target.display())))?;
        }
        if kind.is_dir() {
            directories.push((target, header.mtime()? as i64));
        }
    }
    // Children changed their directories' times; put them back, deepest first.
    for (dir, mtime) in directories.iter().rev() {
        let time = nix::sys::time::TimeSpec::new(*mtime, 0);
        nix::sys::stat::utimensat(None, dir, &time, &time, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
            .map_err(|e| std::io::Error::other(format!("set the time of {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// `mknod` for a device or FIFO entry, with its owner and mode.
fn make_node(target: &Path, header: &tar::Header) -> std::io::Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let kind = header.entry_type();
    let flag = if kind.is_character_special() {
        SFlag::S_IFCHR
    } else if kind.is_block_special() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFIFO
    };
    let major = header.device_major()?.unwrap_or(0) as u64;
    let minor = header.device_minor()?.unwrap_or(0) as u64;
    let mode = Mode::from_bits_truncate(header.mode()?);
    mknod(target, flag, mode, makedev(major, minor))
        .map_err(|e| std::io::Error::other(format!("mknod {}: {e}", target.display())))?;
    std::os::unix::fs::lchown(target, Some(header.uid()? as u32), Some(header.gid()? as u32))?;
    // mknod applies the umask; the archived mode is the truth.
    std::fs::set_permissions(target, std::os::unix::fs::PermissionsExt::from_mode(header.mode()?))?;
    let time = nix::sys::time::TimeSpec::new(header.mtime()? as i64, 0);
    nix::sys::stat::utimensat(None, target, &time, &time, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
        .map_err(|e| std::io::Error::other(format!("set the time of {}: {e}", target.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deep_tree_packs_and_unpacks_on_a_small_stack() {
        let scratch = tempfile::tempdir().unwrap();
        let tree = scratch.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        // A walk recursing once per level (about 1.3 KB of stack each) gets through some 100
        // levels on the 128 KiB stack this runs on; 300 levels need the work list.
        crate::image::tests::deep_tree(&tree, 300);
        let (archive, unpacked) = (scratch.path().join("tree.tar.zst"), scratch.path().join("unpacked"));
        let (from, to) = (tree.clone(), archive.clone());
        let packed = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || pack(&from, &to))
            .unwrap()
            .join()
            .expect("packing ran on a small stack")
            .unwrap();
        assert_eq!(packed.entries, 2 * 300, "a directory and a file per level");
        unpack(&archive, &unpacked).unwrap();
        let mut deepest = unpacked.clone();
        for _ in 0..299 {
            deepest.push("d");
        }
        assert_eq!(std::fs::read(deepest.join("f")).unwrap(), b"x", "the deepest file came back");
    }
}
