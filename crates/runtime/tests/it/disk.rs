//! Per-sandbox disk limits on a btrfs data disk: a filler hits its own limit only, a full sandbox
//! restarts with a writable root, archive and restore work at the limit, limits can grow, and the
//! disk is unmounted when the runtime goes, and empty files count against the limit (the inode
//! bound: btrfs has no inode table to exhaust, and a qgroup counts each file's metadata).

use crate::common::{stdout, Fixture};
use sandbar_runtime::{Limits, SandboxSpec, DEFAULT_IMAGE};
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn spec(disk_mib: u64) -> SandboxSpec {
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.limits = Limits { disk_bytes: Some(disk_mib * MIB), ..Limits::default() };
    spec
}

#[test]
fn a_disk_filler_hits_its_own_limit_and_the_neighbour_does_not() {
    let fx = Fixture::with_disk("disk", Some(4 << 30));
    assert!(fx.runtime.enforces_disk_limits());
    let filler = fx.started("filler", &spec(100));
    let neighbour = fx.started("neighbour", &spec(100));

    let out = fx.sh(&filler, "dd if=/dev/zero of=$HOME/fill bs=1M count=300 2>&1; echo rc=$?; sync");
    let text = stdout(&out);
    assert!(text.contains("Disk quota exceeded") && text.contains("rc=1"), "{text}");
    let size: u64 = stdout(&fx.sh(&filler, "stat -c %s $HOME/fill")).trim().parse().unwrap();
    assert!(size > 50 * MIB && size <= 100 * MIB, "{size} bytes written under a 100 MiB limit");
    let out = fx.sh(&neighbour, "dd if=/dev/zero of=$HOME/fill bs=1M count=60 2>&1; echo rc=$?");
    assert!(stdout(&out).contains("rc=0"), "the neighbour could not write: {}", stdout(&out));

    // A sandbox stopped at its limit starts with a writable root and can free space.
    fx.runtime.stop(&filler, Duration::ZERO).unwrap();
    fx.runtime.start(&filler).unwrap();
    assert_eq!(stdout(&fx.sh(&filler, "rm $HOME/fill && echo fresh > $HOME/after && cat $HOME/after")), "fresh\n");

    // Archive and restore are the runtime's own work: the limit does not stop them.
    fx.sh(&filler, "head -c 90000000 /dev/urandom > $HOME/random");
    let sum = stdout(&fx.sh(&filler, "sha256sum $HOME/random"));
    fx.runtime.stop(&filler, Duration::ZERO).unwrap();
    fx.runtime.archive(&filler).unwrap().expect("archived");
    fx.runtime.start(&filler).unwrap();
    assert_eq!(stdout(&fx.sh(&filler, "sha256sum $HOME/random")), sum);

    // A larger limit takes effect at once.
    fx.runtime.update_limits(&filler, &Limits { disk_bytes: Some(400 * MIB), ..Limits::default() }).unwrap();
    let out = fx.sh(&filler, "dd if=/dev/zero of=$HOME/more bs=1M count=200 2>&1; echo rc=$?");
    assert!(stdout(&out).contains("rc=0"), "{}", stdout(&out));
}

#[test]
fn the_data_disk_is_unmounted_when_the_runtime_goes() {
    let fx = Fixture::with_disk("diskmount", Some(1 << 30));
    let id = fx.started("a", &spec(50));
    assert_eq!(stdout(&fx.sh(&id, "echo on-disk > $HOME/f && cat $HOME/f")), "on-disk\n");
    let mount_point = fx.data.path().join("sandboxes").display().to_string();
    let mounted = || std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(&format!(" {mount_point} "));
    assert!(mounted(), "the data disk is mounted at {mount_point}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: std::path::PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(fx.data.path().join("sandboxes")), 0o700, "the mounted disk's root is private");
    assert_eq!(mode(fx.data.path().join("disk.img")), 0o600, "the image holds every sandbox's files");
    drop(fx);
    assert!(!mounted(), "the data disk stayed mounted at {mount_point}");
}

#[test]
fn snapshots_on_the_data_disk_are_subvolume_snapshots() {
    let fx = Fixture::with_disk("disksnap", Some(2 << 30));
    let id = fx.started("a", &spec(200));
    fx.sh(&id, "echo stopped-state > $HOME/f");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let stopped_image = format!("disksnap-stopped-{}", std::process::id());
    let image = fx.runtime.snapshot(&id, &stopped_image).unwrap();
    let layer = fx.runtime.images().layer_path(image.layers.last().unwrap());
    assert!(std::fs::symlink_metadata(&layer).unwrap().file_type().is_symlink(), "the layer links to a snapshot");
    assert!(fx.runtime.upper_dir(&id).join("home/daytona/f").exists(), "the sandbox keeps its writable layer");

    fx.runtime.start(&id).unwrap();
    fx.sh(&id, "echo running-state > $HOME/f");
    let running_image = format!("disksnap-running-{}", std::process::id());
    fx.runtime.snapshot(&id, &running_image).unwrap();
    fx.sh(&id, "echo later > $HOME/f");

    let from_stopped = fx.started("b", &SandboxSpec::new(stopped_image.clone()));
    let from_running = fx.started("c", &SandboxSpec::new(running_image.clone()));
    assert_eq!(stdout(&fx.sh(&from_stopped, "cat $HOME/f")), "stopped-state\n");
    assert_eq!(stdout(&fx.sh(&from_running, "cat $HOME/f")), "running-state\n");
    assert_eq!(stdout(&fx.sh(&id, "cat $HOME/f")), "later\n");

    let snapshot_dir = std::fs::read_link(&layer).unwrap().parent().unwrap().to_path_buf();
    fx.runtime.delete_all().unwrap();
    for image in [&stopped_image, &running_image] {
        fx.runtime.delete_image(image).unwrap();
    }
    assert!(!layer.exists() && !snapshot_dir.exists(), "the link and the snapshot subvolume are gone");
}

#[test]
fn forks_on_the_data_disk_are_independent_and_keep_the_limit() {
    let fx = Fixture::with_disk("diskfork", Some(2 << 30));
    let source = fx.started("src", &spec(100));
    fx.sh(&source, "echo original > $HOME/f");
    let running_fork = fx.id("fork-running");
    fx.runtime.fork(&source, &running_fork).unwrap();
    fx.runtime.stop(&source, Duration::ZERO).unwrap();
    let stopped_fork = fx.id("fork-stopped");
    fx.runtime.fork(&source, &stopped_fork).unwrap();
    for fork in [&running_fork, &stopped_fork] {
        fx.runtime.start(fork).unwrap();
        assert_eq!(stdout(&fx.sh(fork, "cat $HOME/f")), "original\n");
        fx.sh(fork, &format!("echo {fork} > $HOME/f"));
        // The fork has the source's disk limit.
        let out = fx.sh(fork, "dd if=/dev/zero of=$HOME/fill bs=1M count=200 2>&1; echo rc=$?");
        assert!(stdout(&out).contains("Disk quota exceeded"), "{}", stdout(&out));
    }
    fx.runtime.start(&source).unwrap();
    assert_eq!(stdout(&fx.sh(&source, "cat $HOME/f; test -e $HOME/fill || echo no-fill")), "original\nno-fill\n");
}

#[test]
fn empty_files_count_against_the_limit_and_never_reach_the_hosts_inodes() {
    let fx = Fixture::with_disk("inodes", Some(1 << 30));
    let id = fx.started("files", &spec(8));
    // Empty files until the file system refuses one (bounded: at most 2 million tries).
    let script = r#"
import os, errno
os.makedirs('/home/daytona/many', exist_ok=True)
n = 0
try:
    while n < 2_000_000:
        os.close(os.open(f'/home/daytona/many/{n}', os.O_CREAT | os.O_WRONLY))
        n += 1
    print(n, 'none')
except OSError as e:
    print(n, errno.errorcode[e.errno])
"#;
    let out =
        fx.runtime.exec(&id, &sandbar_runtime::ExecSpec::new(["python3", "-c", script])).unwrap().output().unwrap();
    let text = stdout(&out);
    let mut fields = text.split_whitespace();
    let made: u64 =
        fields.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count in {text:?} {out:?}"));
    assert_eq!(fields.next(), Some("EDQUOT"), "the limit, not something else, stopped the files: {text}");
    // Every file costs metadata that the limit counts: far fewer than 8 MiB / 64 bytes.
    assert!(made > 1000 && made < (8 * MIB) / 64, "{made} empty files under an 8 MiB limit");
    eprintln!("{made} empty files fit an 8 MiB limit");
    // They live on the data disk, not on the host's file system (whose inodes they cannot take).
    use std::os::unix::fs::MetadataExt;
    let files = fx.data.path().join("sandboxes");
    let device = |path: &std::path::Path| std::fs::metadata(path).unwrap().dev();
    assert_ne!(device(&files), device(fx.data.path()), "sandbox files are on the data disk");
}
