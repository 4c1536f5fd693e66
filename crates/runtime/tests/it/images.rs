//! The image store: a failed build keeps nothing and says what failed.

use sandbar_runtime::{Error, ImageStore, DEFAULT_IMAGE};

#[test]
fn failed_default_build_leaves_nothing_and_names_the_step() {
    crate::common::require_root();
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    // Port 1 on loopback refuses at once: debootstrap fails without any traffic leaving the host.
    let err = store.ensure_default_from("http://127.0.0.1:1/debian", &mut ()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::ImageBuild { .. }), "{message}");
    assert!(message.contains("debootstrap"), "the error names the failing step: {message}");
    assert!(store.get(DEFAULT_IMAGE).unwrap().is_none());
    for dir in ["layers", "images", "tmp"] {
        let entries: Vec<_> = std::fs::read_dir(root.path().join(dir)).unwrap().flatten().map(|e| e.path()).collect();
        assert!(entries.is_empty(), "{dir}/ kept {entries:?}");
    }
}

#[test]
fn default_image_is_cached_with_a_daytona_user() {
    let store = crate::common::images();
    let manifest = store.require(DEFAULT_IMAGE).unwrap();
    assert_eq!(manifest.user, "daytona");
    assert_eq!(manifest.workdir, "/home/daytona");
    let layer = store.layer_path(&manifest.layers[0]);
    let passwd = std::fs::read_to_string(layer.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("daytona:x:1000:1000:")), "{passwd}");
    let sudoers = std::fs::read_to_string(layer.join("etc/sudoers.d/90-daytona")).unwrap();
    assert_eq!(sudoers, "daytona ALL=(ALL) NOPASSWD:ALL\n");
    for tool in [
        "usr/bin/python3",
        "usr/bin/git",
        "usr/bin/node",
        "usr/bin/npm",
        "usr/bin/sudo",
        "usr/bin/curl",
        "usr/bin/rsync",
    ] {
        assert!(layer.join(tool).exists(), "default image lacks {tool}");
    }
    // A second call finds the cached image instead of building again.
    assert_eq!(store.ensure_default(&mut ()).unwrap(), manifest);
}

/// Device nodes (not overlay whiteouts) anywhere under `root`, walked with an explicit list.
fn device_nodes(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (mut found, mut pending) = (Vec::new(), vec![root.to_path_buf()]);
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let kind = meta.file_type();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if (kind.is_char_device() || kind.is_block_device()) && meta.rdev() != 0 {
                found.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn image_layers_carry_no_device_nodes() {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    // The default image (built by debootstrap, which makes a 0666 /dev/console) has none.
    let store = crate::common::images();
    let manifest = store.require(DEFAULT_IMAGE).unwrap();
    let layer = store.layer_path(&manifest.layers[0]);
    assert_eq!(device_nodes(&layer), Vec::<std::path::PathBuf>::new(), "device nodes in the default image");

    // A layer stored before the rule loses the nodes in its dev/ when the store opens; an
    // overlay whiteout (a 0:0 character device) is not a device and stays.
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("layers/0123abcd");
    std::fs::create_dir_all(old.join("dev")).unwrap();
    let perm = Mode::from_bits_truncate(0o666);
    mknod(&old.join("dev/console"), SFlag::S_IFCHR, perm, makedev(5, 1)).expect("mknod (needs root)");
    mknod(&old.join("dev/loop0"), SFlag::S_IFBLK, perm, makedev(7, 0)).unwrap();
    mknod(&old.join("dev/whiteout"), SFlag::S_IFCHR, perm, makedev(0, 0)).unwrap();
    std::fs::write(old.join("dev/keep"), b"a file").unwrap();
    ImageStore::open(root.path()).unwrap();
    assert_eq!(device_nodes(&old), Vec::<std::path::PathBuf>::new());
    assert!(std::fs::symlink_metadata(old.join("dev/whiteout")).is_ok(), "whiteouts stay");
    assert_eq!(std::fs::read(old.join("dev/keep")).unwrap(), b"a file");
}
