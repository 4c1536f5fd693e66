//! Builds the sandbox's filesystem view inside init's fresh mount namespace, then pivots into it.
//!
//! Every mount made here lives only in the sandbox's mount namespace: the host never sees them,
//! and the kernel tears all of them down when the last process of the sandbox exits.

use crate::Failure;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{fstat, mkdirat, mknod, Mode, SFlag};
use nix::unistd::{chdir, pivot_root, sethostname};
use sandbar_init::{Bind, Setup};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// `/proc` and `/sys` paths hidden from the sandbox, as in the OCI runtime defaults.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    // Physical page flags, counts and owning cgroups: host-wide memory layout, a side channel.
    "/proc/kpagecgroup",
    "/proc/kpagecount",
    "/proc/kpageflags",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// `/proc` paths the sandbox may read but never write. Init's own OOM score is among them:
/// raising a score needs no capability, so the sandbox's root could otherwise make the OOM
/// killer pick init first (`/proc/1` is init: the procfs is mounted in init's pid namespace,
/// and init has one thread, task 1).
const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/1/oom_score_adj",
    "/proc/1/oom_adj",
    "/proc/1/task/1/oom_score_adj",
    "/proc/1/task/1/oom_adj",
];

/// Character devices in the sandbox's `/dev`: name, major, minor.
const DEVICES: &[(&str, u64, u64)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// The largest overlay option string `mount(2)` accepts (one page, minus slack).
const MAX_MOUNT_DATA: usize = 4000;

/// Enters a new cgroup namespace, rooted at the cgroup init is in. Call after the host placed
/// init in the sandbox's cgroups, so the sandbox sees its own cgroup as `/`.
pub(crate) fn enter_cgroup_namespace() -> Result<(), Failure> {
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| Failure::new("unshare cgroup namespace", e))
}

/// Builds the root and pivots into it; returns what went wrong without stopping the start
/// (for the host's log).
pub(crate) fn build_root(setup: &Setup) -> Result<Vec<String>, Failure> {
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| Failure::new("make / private", e))?;

    let root = &setup.rootfs;
    mount_overlay(setup)?;
    for bind in &setup.binds {
        mount_bind(root, bind)?;
    }
    mount_kernel_filesystems(root)?;
    mount_dev(root, setup.tmpfs_bytes)?;
    let tmp_options = format!("mode=1777,size={}", setup.tmpfs_bytes);
    mount_fs(root, "/tmp", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(&tmp_options))?;
    mask_paths(root)?;

    sethostname(&setup.hostname).map_err(|e| Failure::new("set hostname", e))?;

    chdir(root).map_err(|e| Failure::new(format!("chdir {}", root.display()), e))?;
    pivot_root(".", ".").map_err(|e| Failure::new(format!("pivot_root into {}", root.display()), e))?;
    // The old root now sits on top of the new one; detaching it leaves only the sandbox's view.
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Failure::new("detach old root", e))?;
    chdir("/").map_err(|e| Failure::new("chdir /", e))?;
    let mut warnings = Vec::new();
    let address = match &setup.network {
        Some(network) => network.address.to_string(),
        None => crate::hosts::LOOPBACK_HOSTNAME_ADDRESS.to_string(),
    };
    if let Err(e) = crate::hosts::write(&setup.hostname, &address) {
        warnings.push(format!("/etc/hosts not updated: {e}"));
    }
    if let Some(network) = &setup.network {
        let text = crate::hosts::render_resolv_conf(&network.nameserver.to_string());
        if let Err(e) = crate::hosts::write_resolv_conf(&text) {
            warnings.push(format!("/etc/resolv.conf not updated: {e}"));
        }
    }
    Ok(warnings)
}

fn mount_overlay(setup: &Setup) -> Result<(), Failure> {
    let lowers: Vec<String> = setup.lower_dirs.iter().map(|p| escape_overlay(p)).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        escape_overlay(&setup.upper_dir),
        escape_overlay(&setup.work_dir)
    );
    if data.len() > MAX_MOUNT_DATA {
        return Err(Failure::new(
            "mount overlay",
            format!(
                "{} layers make a {}-byte option string, over the {MAX_MOUNT_DATA}-byte limit",
                lowers.len(),
                data.len()
            ),
        ));
    }
    // nodev: device nodes that an image or a sandbox process left in the tree stay inert.
    mount(Some("overlay"), &setup.rootfs, Some("overlay"), MsFlags::MS_NODEV, Some(data.as_str()))
        .map_err(|e| Failure::new(format!("mount overlay on {}", setup.rootfs.display()), e))
}

/// overlayfs splits options on `,` and layers on `:`; a backslash escapes either.
fn escape_overlay(path: &Path) -> String {
    let mut out = String::new();
    for ch in path.to_string_lossy().chars() {
        if matches!(ch, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn mount_bind(root: &Path, bind: &Bind) -> Result<(), Failure> {
    let step = || format!("bind {} on {}", bind.source.display(), bind.target.display());
    // The source is opened refusing every symlink on the way and mounted from that fd, so a link
    // a sandbox planted in a volume (say `ln -s / vol/x` with `subpath: x`) cannot turn the bind
    // into a mount of a host path.
    let how = nix::fcntl::OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(nix::fcntl::ResolveFlag::RESOLVE_NO_SYMLINKS | nix::fcntl::ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let source = nix::fcntl::openat2(libc::AT_FDCWD, &bind.source, how)
        // SAFETY: openat2 returned a fresh fd.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .map_err(|e| Failure::new(step(), format!("open source without following symlinks: {e}")))?;
    let source_is_dir = fstat(source.as_raw_fd())
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
        .map_err(|e| Failure::new(step(), e))?;
    let source_path = format!("/proc/self/fd/{}", source.as_raw_fd());
    let target = create_inside(root, &bind.target, source_is_dir).map_err(|e| Failure::new(step(), e))?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(source_path.as_str()), &target, None::<&str>, flags, None::<&str>)
        .map_err(|e| Failure::new(step(), e))?;
    let mut remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if bind.read_only {
        remount |= MsFlags::MS_RDONLY;
    }
    mount(None::<&str>, &target, None::<&str>, remount, None::<&str>).map_err(|e| Failure::new(step(), e))?;
    Ok(())
}

/// Creates `target` under `root` (directories, or a final empty file) without following any
/// symlink, so an image cannot redirect a bind mount onto a host path.
fn create_inside(root: &Path, target: &Path, directory: bool) -> Result<PathBuf, String> {
    let parts: Vec<&std::ffi::OsStr> = target
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(Ok(part)),
            Component::RootDir | Component::CurDir => None,
            _ => Some(Err(())),
        })
        .collect::<Result<_, _>>()
        .map_err(|()| format!("target {} must be absolute and free of '..'", target.display()))?;
    let Some((last, parents)) = parts.split_last() else {
        return Err("cannot bind over the sandbox root".to_string());
    };
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let open = |dirfd: i32, name: &std::ffi::OsStr, flags: OFlag| -> Result<OwnedFd, nix::errno::Errno> {
        // SAFETY: openat returns a fresh fd on success.
        openat(Some(dirfd), name, flags, Mode::empty()).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let mut current = nix::fcntl::open(root, dir_flags, Mode::empty())
        // SAFETY: open returns a fresh fd on success.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .map_err(|e| format!("open {}: {e}", root.display()))?;
    let mut walked = root.to_path_buf();
    for part in parents.iter().chain(directory.then_some(last)) {
        walked.push(part);
        let next = match open(current.as_raw_fd(), part, dir_flags) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => {
                mkdirat(Some(current.as_raw_fd()), *part, Mode::from_bits_truncate(0o755))
                    .map_err(|e| format!("mkdir {}: {e}", walked.display()))?;
                open(current.as_raw_fd(), part, dir_flags).map_err(|e| format!("open {}: {e}", walked.display()))?
            }
            Err(e) => return Err(format!("{} is not a plain directory: {e}", walked.display())),
        };
        current = next;
    }
    if !directory {
        walked.push(last);
        let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let file = open(current.as_raw_fd(), last, flags).map_err(|e| format!("create {}: {e}", walked.display()))?;
        let stat = fstat(file.as_raw_fd()).map_err(|e| format!("stat {}: {e}", walked.display()))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(format!("{} is not a regular file", walked.display()));
        }
    }
    Ok(walked)
}

fn mount_kernel_filesystems(root: &Path) -> Result<(), Failure> {
    let plain = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs(root, "/proc", "proc", plain, None)?;
    mount_fs(root, "/sys", "sysfs", plain | MsFlags::MS_RDONLY, None)
}

fn mount_dev(root: &Path, tmpfs_bytes: u64) -> Result<(), Failure> {
    let dev = root.join("dev");
    mount_fs(root, "/dev", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME, Some("mode=755,size=65536"))?;
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        // Init runs with umask 0 (see main), so the mode is exact: every user may use them.
        mknod(&path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), nix::sys::stat::makedev(*major, *minor))
            .map_err(|e| Failure::new(format!("mknod {}", path.display()), e))?;
    }
    mount_fs(
        root,
        "/dev/pts",
        "devpts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm_options = format!("mode=1777,size={tmpfs_bytes}");
    mount_fs(root, "/dev/shm", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(&shm_options))?;
    let links = [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    for (name, target) in links {
        let path = dev.join(name);
        std::os::unix::fs::symlink(target, &path)
            .map_err(|e| Failure::new(format!("symlink {}", path.display()), e))?;
    }
    Ok(())
}

fn mount_fs(root: &Path, target: &str, fstype: &str, flags: MsFlags, data: Option<&str>) -> Result<(), Failure> {
    // An image may ship `/dev` or `/proc` as a symlink to a host path; refuse to follow it.
    let path =
        create_inside(root, Path::new(target), true).map_err(|e| Failure::new(format!("prepare {target}"), e))?;
    mount(Some(fstype), &path, Some(fstype), flags, data)
        .map_err(|e| Failure::new(format!("mount {fstype} on {}", path.display()), e))
}

fn mask_paths(root: &Path) -> Result<(), Failure> {
    let null = root.join("dev/null");
    // Masked directories share one empty read-only tmpfs: the first gets it, the rest are bind
    // mounts of the first (a bind is much cheaper than a new superblock).
    let mut empty_dir: Option<std::path::PathBuf> = None;
    for masked in MASKED {
        let path = root.join(masked.trim_start_matches('/'));
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let result = match (&empty_dir, meta.is_dir()) {
            (_, false) => mount(Some(&null), &path, None::<&str>, MsFlags::MS_BIND, None::<&str>),
            (Some(empty), true) => mount(Some(empty), &path, None::<&str>, MsFlags::MS_BIND, None::<&str>),
            (None, true) => {
                let result = mount(Some("tmpfs"), &path, Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0"));
                empty_dir = Some(path.clone());
                result
            }
        };
        result.map_err(|e| Failure::new(format!("mask {masked}"), e))?;
    }
    for read_only in READ_ONLY {
        let path = root.join(read_only.trim_start_matches('/'));
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let step = || format!("make {read_only} read-only");
        mount(Some(&path), &path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .map_err(|e| Failure::new(step(), e))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(None::<&str>, &path, None::<&str>, flags, None::<&str>).map_err(|e| Failure::new(step(), e))?;
    }
    Ok(())
}
