//! Snapshots and forks: contents, independence, and the sandbox going on unchanged.

use crate::common::{stdout, Fixture};
use sandbar_runtime::{SandboxSpec, SandboxState};
use std::time::Duration;

#[test]
fn snapshot_of_a_stopped_sandbox_becomes_an_image() {
    let fx = Fixture::new("snap");
    let id = fx.default_sandbox("a");
    assert_eq!(stdout(&fx.sh_as(&id, Some("root"), "echo snap > /etc/snapped; rm /etc/issue; echo ok")), "ok\n");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let name = format!("snap-test-{}", std::process::id());
    let image = fx.runtime.snapshot(&id, &name).unwrap();
    assert_eq!(image.layers.len(), 2, "the writable layer became the top layer: {image:?}");
    assert!(std::fs::read_dir(fx.runtime.upper_dir(&id)).unwrap().next().is_none(), "a fresh writable layer");

    // The original sees its files unchanged, deletions included.
    fx.runtime.start(&id).unwrap();
    assert_eq!(
        stdout(&fx.sh(&id, "cat /etc/snapped; test -e /etc/issue && echo present || echo gone")),
        "snap\ngone\n"
    );
    // A new sandbox from the image starts with them too, and its writes stay its own.
    let copy = fx.started("b", &SandboxSpec::new(name.clone()));
    assert_eq!(
        stdout(&fx.sh(&copy, "cat /etc/snapped; test -e /etc/issue && echo present || echo gone")),
        "snap\ngone\n"
    );
    fx.sh_as(&copy, Some("root"), "echo changed > /etc/snapped");
    assert_eq!(stdout(&fx.sh(&id, "cat /etc/snapped")), "snap\n");
    // The image cannot go while a sandbox uses it; then it goes with its snapshot layer.
    assert!(fx.runtime.delete_image(&name).is_err());
    fx.runtime.delete_all().unwrap();
    fx.runtime.delete_image(&name).unwrap();
    assert!(!fx.runtime.images().layer_path(&image.layers[1]).exists());
}

#[test]
fn forks_start_with_a_copy_and_never_see_each_others_writes() {
    let fx = Fixture::new("fork");
    let id = fx.default_sandbox("a");
    fx.sh(&id, "echo original > /home/daytona/file; ln -s file /home/daytona/link; rm /home/daytona/.bashrc");
    // Fork while running (frozen during the copy), then fork the stopped sandbox.
    let running_fork = fx.id("b");
    fx.runtime.fork(&id, &running_fork).unwrap();
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Running, "the source keeps running");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let stopped_fork = fx.id("c");
    fx.runtime.fork(&id, &stopped_fork).unwrap();
    for fork in [&running_fork, &stopped_fork] {
        fx.runtime.start(fork).unwrap();
        let out = fx.sh(fork, "cat /home/daytona/link; test -e /home/daytona/.bashrc && echo present || echo gone");
        assert_eq!(stdout(&out), "original\ngone\n");
        fx.sh(fork, &format!("echo {fork} > /home/daytona/file"));
    }
    fx.runtime.start(&id).unwrap();
    assert_eq!(stdout(&fx.sh(&id, "cat /home/daytona/file")), "original\n");
    assert_eq!(stdout(&fx.sh(&running_fork, "cat /home/daytona/file")), format!("{running_fork}\n"));
    assert!(matches!(fx.runtime.fork(&id, &running_fork), Err(sandbar_runtime::Error::AlreadyExists { .. })));
}

/// Everything `lstat`, `readlink`, the xattrs and the contents say about a tree, by path (times
/// of access and change excluded: reading and restoring change those).
fn describe_tree(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mut xattrs: Vec<String> = xattr_list(&path);
            xattrs.sort();
            let content = if meta.file_type().is_file() {
                // Streamed: the tree holds a sparse file of 256 MB.
                let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
                std::io::copy(&mut std::fs::File::open(&path).unwrap(), &mut hasher).unwrap();
                format!("{:x}", sha2::Digest::finalize(hasher))
            } else if meta.file_type().is_symlink() {
                std::fs::read_link(&path).unwrap().display().to_string()
            } else {
                String::new()
            };
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(
                relative,
                format!(
                    "mode {:o} uid {} gid {} size {} mtime {} rdev {} nlink {} xattrs {:?} content {}",
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    if meta.is_dir() { 0 } else { meta.size() },
                    meta.mtime(),
                    meta.rdev(),
                    // overlayfs links its whiteouts to a shared inode of its work directory, so
                    // their link count is its business; regular files' counts are the user's.
                    if meta.file_type().is_file() { meta.nlink() } else { 0 },
                    xattrs,
                    content
                ),
            );
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// `name=value` of every xattr of `path` itself (symlinks not followed).
fn xattr_list(path: &std::path::Path) -> Vec<String> {
    xattr::list(path)
        .unwrap()
        .map(|name| format!("{}={:?}", name.to_string_lossy(), xattr::get(path, &name).unwrap().unwrap_or_default()))
        .collect()
}

#[test]
fn archive_and_start_restore_every_file_type_byte_for_byte() {
    let fx = Fixture::new("archive");
    let id = fx.default_sandbox("a");
    let made = fx.sh_as(
        &id,
        Some("root"),
        "set -e
         mkdir -p /data/empty /data/deep/er && chmod 700 /data/empty
         head -c 3000000 /dev/urandom > /data/random.bin
         printf 'hello' > /data/a.txt && ln /data/a.txt /data/hard-link && ln -s /data/a.txt /data/symlink
         ln -s /nowhere /data/dangling && mkfifo -m 640 /data/fifo
         ln -s /data/a.txt /data/linked-symlink && ln /data/linked-symlink /data/linked-symlink-2
         truncate -s 256M /data/sparse && printf 'tail' >> /data/sparse
         cp /bin/true /data/setuid && chmod 4755 /data/setuid
         printf 'mine' > /data/deep/er/owned && chown daytona:daytona /data/deep/er/owned && chmod 600 /data/deep/er/owned
         touch -h -d '2001-02-03 04:05:06' /data/a.txt /data/symlink /data/deep
         python3 -c \"import os; os.setxattr('/data/a.txt', 'user.note', b'kept')\"
         rm /etc/issue && rm -rf /etc/apt && mkdir /etc/apt && echo new > /etc/apt/only
         echo done",
    );
    assert_eq!(stdout(&made), "done\n", "{made:?}");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let upper = fx.runtime.upper_dir(&id);
    let before = describe_tree(&upper);
    assert!(before.values().any(|d| d.contains("trusted.overlay.opaque")), "an opaque directory: {before:#?}");
    assert!(before.get("etc/issue").is_some_and(|d| d.starts_with("mode 20000")), "a whiteout: {before:#?}");

    let packed = fx.runtime.archive(&id).unwrap().expect("it was not archived before");
    assert!(packed.content_bytes >= 3_000_000, "{packed:?}");
    assert!(packed.archive_bytes < 100 << 20, "a 256 MB sparse file is archived by its data: {packed:?}");
    assert!(fx.runtime.is_archived(&id));
    assert!(!upper.exists(), "the writable layer's directory is freed");
    assert_eq!(fx.runtime.archive(&id).unwrap(), None, "archiving again changes nothing");
    assert!(matches!(fx.runtime.state(&id), Ok(SandboxState::Stopped)));

    fx.runtime.start(&id).unwrap();
    assert!(!fx.runtime.is_archived(&id));
    assert_eq!(
        stdout(&fx.sh(&id, "cat /data/hard-link /data/symlink; test -e /etc/issue || echo ' issue gone'; ls /etc/apt; stat -c '%U %a' /data/deep/er/owned /data/setuid")),
        "hellohello issue gone\nonly\ndaytona 600\nroot 4755\n"
    );
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    assert_eq!(describe_tree(&upper), before, "the restored layer equals the archived one");
    use std::os::unix::fs::MetadataExt;
    let sparse = std::fs::metadata(upper.join("data/sparse")).unwrap();
    assert!(sparse.blocks() * 512 < 4 << 20, "the sparse file stays sparse: {} blocks", sparse.blocks());
}

#[test]
fn a_crash_during_archive_or_restore_is_finished_or_rolled_back() {
    let fx = Fixture::new("archcrash");
    let id = fx.default_sandbox("a");
    fx.sh(&id, "echo precious > ~/keep");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let upper = fx.runtime.upper_dir(&id);
    let dir = upper.parent().unwrap().to_path_buf();
    let recover = || {
        fx.runtime.recover_orphans().unwrap();
    };

    // Crash while the archive was written: the partial file goes, the layer stays.
    std::fs::write(dir.join("upper.tar.zst.partial"), b"half").unwrap();
    recover();
    assert!(!dir.join("upper.tar.zst.partial").exists() && upper.join("home/daytona/keep").exists());
    assert!(!fx.runtime.is_archived(&id));

    // Crash after the archive was committed, before the layer was removed: the archive wins.
    fx.runtime.archive(&id).unwrap();
    std::fs::create_dir_all(upper.join("stale")).unwrap();
    recover();
    assert!(!upper.exists() && fx.runtime.is_archived(&id));

    // Crash in the middle of unpacking: the half tree goes, the archive stays.
    std::fs::create_dir_all(dir.join("upper.restoring/half")).unwrap();
    recover();
    assert!(!dir.join("upper.restoring").exists() && fx.runtime.is_archived(&id));

    // Crash after the restore was committed: it is completed.
    sandbar_runtime::archive::unpack(&dir.join("upper.tar.zst"), &dir.join("upper.restoring")).unwrap();
    std::fs::rename(dir.join("upper.tar.zst"), dir.join("upper.tar.zst.restored")).unwrap();
    recover();
    assert!(!fx.runtime.is_archived(&id) && !dir.join("upper.tar.zst.restored").exists());
    fx.runtime.start(&id).unwrap();
    assert_eq!(stdout(&fx.sh(&id, "cat ~/keep")), "precious\n");
}

#[test]
fn a_crash_during_a_snapshot_is_rolled_back_or_kept() {
    let fx = Fixture::new("snapcrash");
    let id = fx.default_sandbox("a");
    fx.sh(&id, "echo precious > ~/keep");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let upper = fx.runtime.upper_dir(&id);
    let dir = upper.parent().unwrap().to_path_buf();

    // Crash after the writable layer became a layer, before the record named it: rolled back.
    let layer_id = format!("snap-crashtest-{}", std::process::id());
    let layer = fx.runtime.images().layer_path(&layer_id);
    std::fs::write(dir.join("snapshot-intent.json"), &layer_id).unwrap();
    std::fs::rename(&upper, &layer).unwrap();
    std::fs::create_dir(&upper).unwrap();
    fx.runtime.recover_orphans().unwrap();
    assert!(!layer.exists(), "the layer went back to being the sandbox's writable layer");
    assert!(upper.join("home/daytona/keep").exists() && !dir.join("snapshot-intent.json").exists());

    // A snapshot that committed keeps its layer; only the intent goes.
    let name = format!("snapcrash-{}", std::process::id());
    let image = fx.runtime.snapshot(&id, &name).unwrap();
    let top = image.layers.last().unwrap().clone();
    std::fs::write(dir.join("snapshot-intent.json"), &top).unwrap();
    fx.runtime.recover_orphans().unwrap();
    assert!(fx.runtime.images().layer_path(&top).is_dir() && !dir.join("snapshot-intent.json").exists());

    // A partial copy left by a dead runtime process goes; the sandbox starts with its files.
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    let partial = fx.runtime.images().layer_path(&format!(".partial-{}-x", pid_max + 1));
    std::fs::create_dir_all(partial.join("half")).unwrap();
    fx.runtime.recover_orphans().unwrap();
    assert!(!partial.exists());
    fx.runtime.start(&id).unwrap();
    assert_eq!(stdout(&fx.sh(&id, "cat ~/keep")), "precious\n");
    fx.runtime.delete_all().unwrap();
    fx.runtime.delete_image(&name).unwrap();
}
