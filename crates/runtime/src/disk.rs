//! Per-sandbox disk limits (docs/design/quotas.md): the sandboxes directory is a btrfs file
//! system (a sparse image file, loop-mounted by the runtime), every sandbox directory is a
//! subvolume, and each subvolume's qgroup limits the bytes it references. A write past the limit
//! fails with `EDQUOT` ("Disk quota exceeded") in that sandbox only.
//!
//! XFS and ext4 project quotas would be the usual tools, but this machine kind's kernel is built
//! without them; btrfs qgroups are part of btrfs. The image is made and mounted once; later runtime
//! processes find it mounted (after a crash) or mount it again (after a reboot).

use crate::Error;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where sandbox files live when disk limits are enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDisk {
    /// The image file (created sparse on first use).
    pub image: PathBuf,
    /// Its size: the most all sandboxes together can hold.
    pub size_bytes: u64,
}

/// The smallest data disk `auto` makes (a few default sandboxes of 3 GiB).
const MIN_AUTO_BYTES: u64 = 8 << 30;

impl DataDisk {
    /// The data disk of `data_dir` when none is configured: the image made before (whatever its
    /// size), else a new one of half the file system's free space (whole GiB). `Ok(None)` when
    /// the sandboxes directory already holds sandboxes of a server that ran without a data
    /// disk: they stay where they are, unlimited (the caller says so loudly).
    pub fn auto(data_dir: &Path) -> Result<Option<DataDisk>, Error> {
        let image = data_dir.join("disk.img");
        if let Ok(meta) = std::fs::metadata(&image) {
            return Ok(Some(DataDisk { image, size_bytes: meta.len() }));
        }
        let sandboxes = data_dir.join("sandboxes");
        let holds_sandboxes = std::fs::read_dir(&sandboxes).is_ok_and(|mut entries| entries.next().is_some());
        if holds_sandboxes && !(is_btrfs(&sandboxes) && is_mount_point(&sandboxes)) {
            return Ok(None);
        }
        std::fs::create_dir_all(data_dir).map_err(Error::host(format!("create {}", data_dir.display())))?;
        let stats = nix::sys::statvfs::statvfs(data_dir)
            .map_err(|e| Error::host(format!("read the free space of {}", data_dir.display()))(e.into()))?;
        let free = stats.blocks_available() as u64 * stats.fragment_size() as u64;
        let size_bytes = ((free / 2) >> 30) << 30;
        if size_bytes < MIN_AUTO_BYTES {
            return Err(Error::image(format!(
                "data disk {}: half the free space of {} is {} MiB, less than the {} GiB a data disk needs; \
                 free space, give --disk-size SIZE, or --disk-size off to run without disk limits",
                image.display(),
                data_dir.display(),
                (free / 2) >> 20,
                MIN_AUTO_BYTES >> 30
            ))(std::io::Error::other("not enough free space")));
        }
        Ok(Some(DataDisk { image, size_bytes }))
    }
}

const BTRFS_SUPER_MAGIC: i64 = 0x9123_683e;

/// Whether `path` is on btrfs.
pub(crate) fn is_btrfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|fs| fs.filesystem_type().0 == BTRFS_SUPER_MAGIC)
}

/// Sandbox files are never set-id programs or device nodes for the host: a setuid binary a
/// sandbox's root writes into its layer must not make a local user root.
const MOUNT_OPTIONS: &str = "loop,user_subvol_rm_allowed,nosuid,nodev";

/// Makes `at` the mount point of the disk: creates and formats the image the first time, mounts
/// it when it is not mounted, turns qgroups on.
pub(crate) fn ensure_mounted(disk: &DataDisk, at: &Path) -> Result<(), Error> {
    let step = |what: String| Error::image(format!("data disk {}: {what}", disk.image.display()));
    std::fs::create_dir_all(at).map_err(step(format!("create {}", at.display())))?;
    // Mounted already (by an earlier process of a crashed server): a btrfs mount point here. A
    // plain directory on a btrfs host is not the data disk.
    if is_btrfs(at) && is_mount_point(at) {
        // An older server may have mounted it without them.
        return run(Command::new("mount").args(["-o", "remount,nosuid,nodev"]).arg(at))
            .map_err(step(format!("remount {} nosuid,nodev", at.display())));
    }
    if std::fs::read_dir(at).map_err(step(format!("list {}", at.display())))?.next().is_some() {
        return Err(step(format!("mount on {}", at.display()))(std::io::Error::other(
            "the directory is not empty: move its sandboxes away or start without a data disk",
        )));
    }
    require_tool("mkfs.btrfs")?;
    if !disk.image.exists() {
        if let Some(parent) = disk.image.parent() {
            std::fs::create_dir_all(parent).map_err(step(format!("create {}", parent.display())))?;
        }
        let staging = disk.image.with_extension("new");
        // The image holds every sandbox's files: root's only.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&staging)
            .map_err(step("create the image".into()))?;
        file.set_len(disk.size_bytes).map_err(step("size the image".into()))?;
        drop(file);
        run(Command::new("mkfs.btrfs").arg("-q").arg(&staging)).map_err(step("format the image".into()))?;
        std::fs::rename(&staging, &disk.image).map_err(step("move the image into place".into()))?;
    }
    run(Command::new("mount").args(["-t", "btrfs", "-o", MOUNT_OPTIONS]).arg(&disk.image).arg(at))
        .map_err(step(format!("mount on {}", at.display())))?;
    if let Err(e) = run(Command::new("btrfs").args(["quota", "enable"]).arg(at)) {
        let _ = unmount(at);
        return Err(step("enable quotas".into())(e));
    }
    Ok(())
}

/// Whether `path` is the root of a mount (its device differs from its parent's).
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = path.parent().unwrap_or(path);
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(here), Ok(above)) => here.dev() != above.dev(),
        _ => false,
    }
}

/// Unmounts the disk (the loop device goes with it).
pub(crate) fn unmount(at: &Path) -> std::io::Result<()> {
    run(Command::new("umount").arg(at))
}

/// Makes `path` a new subvolume (in place of `mkdir`).
pub(crate) fn create_subvolume(path: &Path) -> std::io::Result<()> {
    let (parent, name) = parent_and_name(path)?;
    crate::sys::create_subvolume(&std::fs::File::open(parent)?, name)
}

/// The directory a new subvolume goes in, and its name there.
fn parent_and_name(path: &Path) -> std::io::Result<(&Path, &str)> {
    let parent = path.parent().ok_or_else(|| std::io::Error::other(format!("{} has no parent", path.display())))?;
    let name = path.file_name().and_then(|n| n.to_str());
    Ok((parent, name.ok_or_else(|| std::io::Error::other(format!("{} has no UTF-8 name", path.display())))?))
}

/// Makes `target` a snapshot of the subvolume at `source` (same file system).
pub(crate) fn snapshot_subvolume(source: &Path, target: &Path) -> std::io::Result<()> {
    let (parent, name) = parent_and_name(target)?;
    crate::sys::snapshot_subvolume(&std::fs::File::open(source)?, &std::fs::File::open(parent)?, name)
}

/// Sets or lifts the limit of the subvolume at `path`.
pub(crate) fn set_limit(path: &Path, bytes: Option<u64>) -> std::io::Result<()> {
    crate::sys::set_subvolume_limit(&std::fs::File::open(path)?, bytes)
}

/// Bytes referenced by the subvolume at `path` (what its limit counts), from sysfs.
pub(crate) fn referenced_bytes(path: &Path) -> Option<u64> {
    let output = Command::new("btrfs").args(["inspect-internal", "rootid"]).arg(path).output().ok()?;
    let id: u64 = String::from_utf8_lossy(&output.stdout).trim().parse().ok()?;
    let uuid = Command::new("findmnt").args(["-n", "-o", "UUID", "--target"]).arg(path).output().ok()?;
    let uuid = String::from_utf8_lossy(&uuid.stdout).trim().to_string();
    std::fs::read_to_string(format!("/sys/fs/btrfs/{uuid}/qgroups/0_{id}/referenced")).ok()?.trim().parse().ok()
}

fn require_tool(tool: &str) -> Result<(), Error> {
    crate::host_tools::ensure(tool, "btrfs-progs", &mut ()).map_err(|tail| Error::HostTool {
        tool: tool.into(),
        package: "btrfs-progs".into(),
        output_tail: tail,
    })
}

fn run(command: &mut Command) -> std::io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "{:?} failed ({}): {}",
        command.get_program(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_makes_half_the_free_space_keeps_an_old_image_and_leaves_old_sandboxes_alone() {
        let data = tempfile::tempdir().unwrap();
        let stats = nix::sys::statvfs::statvfs(data.path()).unwrap();
        let half_free = stats.blocks_available() as u64 * stats.fragment_size() as u64 / 2;
        let disk = DataDisk::auto(data.path())
            .unwrap_or_else(|e| panic!("this test needs 16 GiB free beside {}: {e}", data.path().display()))
            .expect("a fresh data directory gets a data disk");
        assert_eq!(disk.image, data.path().join("disk.img"));
        assert_eq!(disk.size_bytes % (1 << 30), 0, "whole GiB");
        // Other processes write meanwhile: within a GiB of half the free space.
        assert!(disk.size_bytes <= half_free && disk.size_bytes + (2 << 30) > half_free, "{disk:?} vs {half_free}");

        // An image made before keeps its size.
        std::fs::File::create(&disk.image).unwrap().set_len(10 << 30).unwrap();
        assert_eq!(DataDisk::auto(data.path()).unwrap().map(|d| d.size_bytes), Some(10 << 30));

        // Sandboxes of a server that ran without a data disk stay where they are.
        let legacy = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(legacy.path().join("sandboxes/old-sandbox")).unwrap();
        assert_eq!(DataDisk::auto(legacy.path()).unwrap(), None);
        // An empty sandboxes directory is no obstacle.
        let empty = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(empty.path().join("sandboxes")).unwrap();
        assert!(DataDisk::auto(empty.path()).unwrap().is_some());
    }
}
