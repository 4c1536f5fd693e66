//! The runtime's unsafe corner: the sealed init memfd, cloning init into new namespaces, the
//! two btrfs ioctls of per-sandbox disk limits, and the PTY resize ioctl.
//!
//! Everything the cloned child touches is prepared before `clone`, because the parent is
//! multi-threaded: between `clone` and `execveat` the child makes raw syscalls only, with no
//! allocation and no locks.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `MFD_EXEC` (Linux 6.3): executable even where `vm.memfd_noexec` makes memfds noexec by default.
const MFD_EXEC: libc::c_uint = 0x0010;

/// The static init binary, built by build.rs.
static INIT_BINARY: &[u8] = include_bytes!(env!("SANDBAR_INIT_BINARY"));

/// Copies init into a memfd and seals it, so no process can ever change the code that sandboxes
/// run as PID 1 (the runc CVE-2019-5736 class: a container rewriting its runtime via /proc/self/exe).
pub(crate) fn sealed_init_memfd() -> io::Result<OwnedFd> {
    let name = CString::new("sandbar-init").expect("no NUL in a literal");
    // SAFETY: memfd_create with a valid C string; the fd is owned by the returned OwnedFd.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | MFD_EXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor from memfd_create.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(memfd);
    io::Write::write_all(&mut file, INIT_BINARY)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a valid memfd.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from(file))
}

/// The fds the cloned init starts with, and the namespaces it gets.
pub(crate) struct InitLaunch<'a> {
    pub memfd: &'a OwnedFd,
    /// Becomes fd 3 in init.
    pub setup_channel: &'a OwnedFd,
    /// Becomes fd 4 in init.
    pub listener: &'a OwnedFd,
    /// Becomes fds 0, 1 and 2 in init (`/dev/null`).
    pub null: &'a OwnedFd,
    /// A network namespace (from [`new_network_namespace`]) for init to join; `None` keeps the
    /// host's network.
    pub network: Option<&'a OwnedFd>,
}

/// Makes a network namespace with `lo` up, held by an fd. Creating one costs most of a
/// millisecond, so the runtime keeps a few ready (see `pool.rs`).
pub(crate) fn new_network_namespace() -> io::Result<OwnedFd> {
    // unshare(CLONE_NEWNET) moves the calling thread; a throwaway thread keeps every other
    // thread where it was.
    std::thread::spawn(|| -> io::Result<OwnedFd> {
        // SAFETY: unshare only changes this thread's network namespace; the thread ends below.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
            return Err(io::Error::last_os_error());
        }
        loopback_up()?;
        Ok(std::fs::File::open("/proc/thread-self/ns/net")?.into())
    })
    .join()
    .map_err(|_| io::Error::other("network namespace thread panicked"))?
}

/// A new network namespace starts with `lo` down; sandboxes should reach their own loopback.
fn loopback_up() -> io::Result<()> {
    // SAFETY: socket/ioctl on a zeroed, correctly sized ifreq; the fd is owned right away.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = OwnedFd::from_raw_fd(fd);
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Clones a child in new namespaces that immediately executes init from the memfd.
/// Returns the child's pid in the host's pid namespace.
pub(crate) fn clone_init(launch: &InitLaunch<'_>) -> io::Result<libc::pid_t> {
    let argv0 = CString::new("sandbar-init").expect("no NUL in a literal");
    let argv: [*const libc::c_char; 2] = [argv0.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let empty = CString::new("").expect("no NUL in a literal");
    let memfd = launch.memfd.as_raw_fd();
    let sources: [(RawFd, RawFd); 5] = [
        (launch.null.as_raw_fd(), 0),
        (launch.null.as_raw_fd(), 1),
        (launch.null.as_raw_fd(), 2),
        (launch.setup_channel.as_raw_fd(), sandbar_init::SETUP_FD),
        (launch.listener.as_raw_fd(), sandbar_init::LISTEN_FD),
    ];
    let flags = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    let network = launch.network.map(|fd| fd.as_raw_fd()).unwrap_or(-1);

    // SAFETY: a raw clone without CLONE_VM behaves like fork: the child gets a copy of this
    // thread's stack and returns 0 here. It then only calls async-signal-safe syscalls on data
    // prepared above, and either execs or _exits.
    let pid = unsafe {
        libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize)
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: child side; see above.
        unsafe { child_exec(memfd, network, &sources, argv.as_ptr(), envp.as_ptr(), empty.as_ptr()) }
    }
    Ok(pid as libc::pid_t)
}

/// Places the inherited fds at their fixed numbers and executes init. Never returns.
///
/// # Safety
/// Must only run in a freshly cloned child; uses raw syscalls only.
unsafe fn child_exec(
    memfd: RawFd,
    network: RawFd,
    sources: &[(RawFd, RawFd); 5],
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    empty: *const libc::c_char,
) -> ! {
    if network >= 0 && libc::setns(network, libc::CLONE_NEWNET) < 0 {
        libc::_exit(124);
    }
    // First lift every source (and the memfd) above the targets, so placing one can never
    // clobber another.
    let memfd = libc::fcntl(memfd, libc::F_DUPFD_CLOEXEC, 16);
    if memfd < 0 {
        libc::_exit(125);
    }
    let mut lifted = [0 as RawFd; 5];
    for (slot, (source, _)) in lifted.iter_mut().zip(sources.iter()) {
        let fd = libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, 16);
        if fd < 0 {
            libc::_exit(125);
        }
        *slot = fd;
    }
    for (lifted_fd, (_, target)) in lifted.iter().zip(sources.iter()) {
        // dup2 clears close-on-exec on the target.
        if libc::dup2(*lifted_fd, *target) < 0 {
            libc::_exit(125);
        }
    }
    libc::syscall(libc::SYS_execveat, memfd, empty, argv, envp, libc::AT_EMPTY_PATH);
    libc::_exit(126);
}

/// `struct btrfs_ioctl_vol_args` (linux/btrfs.h): a name relative to the directory the ioctl
/// is issued on.
#[repr(C)]
pub(crate) struct BtrfsVolArgs {
    fd: i64,
    name: [u8; 4088],
}

/// `struct btrfs_ioctl_qgroup_limit_args`: qgroup 0 means the subvolume the ioctl is issued on.
#[repr(C)]
#[derive(Default)]
pub(crate) struct BtrfsQgroupLimitArgs {
    qgroupid: u64,
    flags: u64,
    max_referenced: u64,
    max_exclusive: u64,
    reserved_referenced: u64,
    reserved_exclusive: u64,
}

nix::ioctl_write_ptr!(btrfs_subvol_create, 0x94, 14, BtrfsVolArgs);
nix::ioctl_read!(btrfs_qgroup_limit, 0x94, 43, BtrfsQgroupLimitArgs);

/// The arguments naming `name` (one path component), with `fd` for the calls that need one.
fn vol_args(fd: i64, name: &str) -> io::Result<BtrfsVolArgs> {
    if name.is_empty() || name.len() >= 4088 || name.contains('/') || name.contains('\0') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("subvolume name {name:?}")));
    }
    let mut args = BtrfsVolArgs { fd, name: [0; 4088] };
    args.name[..name.len()].copy_from_slice(name.as_bytes());
    Ok(args)
}

/// Creates the btrfs subvolume `name` in the directory `parent`.
pub(crate) fn create_subvolume(parent: &std::fs::File, name: &str) -> io::Result<()> {
    let args = vol_args(0, name)?;
    // SAFETY: the ioctl reads a fully initialised, NUL-terminated btrfs_ioctl_vol_args from a
    // pointer valid for the call, on an open directory descriptor.
    unsafe { btrfs_subvol_create(parent.as_raw_fd(), &args) }.map(drop).map_err(io::Error::from)
}

/// Sets (`Some`) or lifts (`None`) the referenced-bytes limit of the subvolume `subvolume` is.
pub(crate) fn set_subvolume_limit(subvolume: &std::fs::File, bytes: Option<u64>) -> io::Result<()> {
    const LIMIT_MAX_REFERENCED: u64 = 1;
    let mut args = BtrfsQgroupLimitArgs {
        flags: LIMIT_MAX_REFERENCED,
        max_referenced: bytes.unwrap_or(u64::MAX),
        ..BtrfsQgroupLimitArgs::default()
    };
    // SAFETY: the ioctl reads (and may write back) a btrfs_ioctl_qgroup_limit_args through a
    // pointer valid for the call, on an open descriptor of the subvolume's root directory.
    unsafe { btrfs_qgroup_limit(subvolume.as_raw_fd(), &mut args) }.map(drop).map_err(io::Error::from)
}

nix::ioctl_write_ptr!(btrfs_snap_create, 0x94, 1, BtrfsVolArgs);

/// Makes `name` in the directory `parent` a writable snapshot of the subvolume `source` (O(1):
/// the two share every extent until one of them writes).
pub(crate) fn snapshot_subvolume(source: &std::fs::File, parent: &std::fs::File, name: &str) -> io::Result<()> {
    let args = vol_args(i64::from(source.as_raw_fd()), name)?;
    // SAFETY: as for create_subvolume; `fd` names the source subvolume, open for the call.
    unsafe { btrfs_snap_create(parent.as_raw_fd(), &args) }.map(drop).map_err(io::Error::from)
}

nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// Sets the size of the terminal whose PTY master is `master`; its foreground process group
/// gets SIGWINCH.
pub(crate) fn set_window_size(master: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from a pointer valid for the call, on a descriptor the
    // borrow keeps open.
    unsafe { tiocswinsz(master.as_raw_fd(), &size) }.map(drop).map_err(io::Error::from)
}
