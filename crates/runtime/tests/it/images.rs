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
