//! The runtime's unsafe corner: the sealed init memfd, cloning init into new namespaces, pidfds,
//! the two btrfs ioctls of per-sandbox disk limits, and the PTY resize ioctl.
//!
//! Init is cloned with `CLONE_VM | CLONE_VFORK`, as `posix_spawn` does, not with fork
//! semantics: a fork copies the server's page tables (and write-protects every page, which the
//! server then pays for again in faults) only for `execveat` to throw the copy away, so a server
//! that once grew took five times as long per start. The child runs on a stack mapped before the
//! clone (with a guard page) and shares the server's memory until it execs, so it makes raw
//! syscalls only, with no allocation and no locks, and writes nothing but its own stack and the
//! failure word the parent reads; the calling thread is suspended until the child has exec'd or
//! exited, the other threads go on. Signals are handled as glibc's `posix_spawn` does: all
//! blocked around the clone, the child resets every handler to the default and puts the mask
//! back before exec. The namespace flags stay those of the fork version (`CLONE_NEWNS` is legal
//! with `CLONE_VM`, only not with `CLONE_FS`); `CLONE_PIDFD` hands back a pidfd with no pid-reuse
//! window. A separate launcher process was not needed: the clone does not depend on the size of
//! the server at all.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

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
    Ok(in_new_network_namespace(|| Ok(()))?.0)
}

/// Makes a network namespace with `lo` up and runs `inside` in it (on a throwaway thread, so it
/// may open sockets that belong to the namespace, such as a netlink connection), returning the
/// namespace's fd and what `inside` returned.
pub(crate) fn in_new_network_namespace<T: Send>(
    inside: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<(OwnedFd, T)> {
    // unshare(CLONE_NEWNET) moves the calling thread; a throwaway thread keeps every other
    // thread where it was.
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<(OwnedFd, T)> {
                // SAFETY: unshare only changes this thread's network namespace; the thread ends below.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                loopback_up()?;
                let fd: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")?.into();
                Ok((fd, inside()?))
            })
            .join()
            .map_err(|_| io::Error::other("network namespace thread panicked"))?
    })
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

/// Size of the stack the cloned child runs on until `execveat` (a few hundred bytes are used).
const CHILD_STACK_BYTES: usize = 64 << 10;
/// A guard page below the child's stack: an overflow faults instead of writing into the server.
const GUARD_BYTES: usize = 4 << 10;

/// The child's steps, as reported through [`ChildFailure`].
const STEP_SETNS: i32 = 1;
const STEP_LIFT_FDS: i32 = 2;
const STEP_PLACE_FDS: i32 = 3;
const STEP_EXEC: i32 = 4;

/// Where the child reports a failure before `execveat`: it shares the parent's memory, and the
/// parent reads this only after the child has exec'd or exited (`CLONE_VFORK`).
#[derive(Default)]
struct ChildFailure {
    step: AtomicI32,
    errno: AtomicI32,
}

/// Everything the child reads, prepared by the parent before `clone`.
struct ChildArgs<'a> {
    memfd: RawFd,
    network: RawFd,
    sources: [(RawFd, RawFd); 5],
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    empty: *const libc::c_char,
    /// The parent thread's signal mask before it blocked everything for the clone.
    mask: &'a libc::sigset_t,
    failure: &'a ChildFailure,
}

/// An anonymous mapping the child runs on, with a guard page at its low end; unmapped on drop.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    fn new() -> io::Result<ChildStack> {
        let len = CHILD_STACK_BYTES + GUARD_BYTES;
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        // SAFETY: the first page of the mapping just made; stacks grow down, so it is the guard.
        if unsafe { libc::mprotect(base, GUARD_BYTES, libc::PROT_NONE) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer: the mapping's end (16-byte aligned, as mmap returns pages).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, which is where a downward stack starts.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new; the child has exec'd or exited when this runs.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Init's pid in the host's pid namespace and a pidfd on it (readable once init exits).
pub(crate) struct ClonedInit {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
}

/// Clones a child in new namespaces that immediately executes init from the memfd, without
/// copying the server's address space: `CLONE_VM | CLONE_VFORK`, as `posix_spawn` does. This
/// thread waits until the child has exec'd (or failed and exited); the other threads go on.
pub(crate) fn clone_init(launch: &InitLaunch<'_>) -> io::Result<ClonedInit> {
    let argv0 = CString::new("sandbar-init").expect("no NUL in a literal");
    let argv: [*const libc::c_char; 2] = [argv0.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let empty = CString::new("").expect("no NUL in a literal");
    let stack = ChildStack::new()?;
    let failure = ChildFailure::default();
    // SAFETY: sigset_t is plain data; sigfillset initialises it fully.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigfillset writes the set it is given.
    unsafe { libc::sigfillset(&mut all) };
    // No signal handler of the server may run in the child: it would run on the child's stack
    // with the server's memory. Block every signal (glibc's internal ones too, hence the raw
    // syscall) around the clone; the child puts back the dispositions and the mask.
    // SAFETY: rt_sigprocmask with valid sets of the kernel's size (8 bytes, the first word).
    if unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all, &mut mask, 8usize) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let args = ChildArgs {
        memfd: launch.memfd.as_raw_fd(),
        network: launch.network.map(|fd| fd.as_raw_fd()).unwrap_or(-1),
        sources: [
            (launch.null.as_raw_fd(), 0),
            (launch.null.as_raw_fd(), 1),
            (launch.null.as_raw_fd(), 2),
            (launch.setup_channel.as_raw_fd(), sandbar_init::SETUP_FD),
            (launch.listener.as_raw_fd(), sandbar_init::LISTEN_FD),
        ],
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        empty: empty.as_ptr(),
        mask: &mask,
        failure: &failure,
    };
    // No CLONE_FILES (the child rearranges its own copy of the fd table), no CLONE_FS (illegal
    // with CLONE_NEWNS), no CLONE_SIGHAND (the child resets its own copy of the handlers).
    let flags = libc::CLONE_VM
        | libc::CLONE_VFORK
        | libc::CLONE_PIDFD
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::SIGCHLD;
    let mut pidfd: libc::c_int = -1;
    // SAFETY: the child runs child_main on its own stack and reads only `args`, which outlives
    // it: CLONE_VFORK suspends this thread until the child has exec'd or exited. The kernel
    // writes the pidfd into `pidfd` (CLONE_PIDFD uses the parent_tid slot).
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            flags,
            std::ptr::addr_of!(args).cast_mut().cast(),
            &mut pidfd as *mut libc::c_int,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::pid_t>(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores this thread's mask saved above.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask,
            std::ptr::null_mut::<libc::sigset_t>(),
            8usize,
        )
    };
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    // SAFETY: CLONE_PIDFD gave this process a new descriptor, owned from here on.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let step = failure.step.load(Ordering::SeqCst);
    if step != 0 {
        let errno = failure.errno.load(Ordering::SeqCst);
        let mut status = 0;
        // SAFETY: reaps the child that reported its failure and exited.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let what = match step {
            STEP_SETNS => "join the network namespace",
            STEP_LIFT_FDS => "duplicate init's fds",
            STEP_PLACE_FDS => "place init's fds",
            _ => "execute init",
        };
        let cause = io::Error::from_raw_os_error(errno);
        return Err(io::Error::new(cause.kind(), format!("cloned child could not {what}: {cause}")));
    }
    Ok(ClonedInit { pid, pidfd })
}

/// The cloned child: resets signal handling, joins the network namespace, places the
/// inherited fds at their fixed numbers and executes init. Raw syscalls only: it shares the
/// server's memory (and this thread's errno, which the suspended parent does not read), so it
/// takes no lock, allocates nothing and writes nothing but its own stack and `failure`.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg is the ChildArgs clone_init passed, alive until this child execs or exits.
    let args = unsafe { &*(arg as *const ChildArgs<'_>) };
    let fail = |step: i32| -> libc::c_int {
        // SAFETY: errno is this (shared) thread-local slot; reading it is a plain load.
        let errno = unsafe { *libc::__errno_location() };
        args.failure.errno.store(errno, Ordering::SeqCst);
        args.failure.step.store(step, Ordering::SeqCst);
        // SAFETY: ends only this child process; the parent then reads `failure`.
        unsafe { libc::_exit(127) }
    };
    // As posix_spawn: a handler the server installed becomes the default action here, so
    // nothing of the server runs in the child once the mask is put back.
    for signal in 1..65 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction reads and writes a zeroed, correctly sized struct on this stack.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut action) == 0
                && action.sa_sigaction != libc::SIG_DFL
                && action.sa_sigaction != libc::SIG_IGN
            {
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
    // SAFETY: restores the mask the parent thread had; init starts with it, as it did with fork.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            args.mask,
            std::ptr::null_mut::<libc::sigset_t>(),
            8usize,
        )
    };
    // SAFETY: setns on an fd the parent keeps open until clone returns.
    if args.network >= 0 && unsafe { libc::setns(args.network, libc::CLONE_NEWNET) } < 0 {
        return fail(STEP_SETNS);
    }
    // First lift every source (and the memfd) above the targets, so placing one can never
    // clobber another.
    // SAFETY: fcntl on fds of this child's own fd table.
    let memfd = unsafe { libc::fcntl(args.memfd, libc::F_DUPFD_CLOEXEC, 16) };
    if memfd < 0 {
        return fail(STEP_LIFT_FDS);
    }
    let mut lifted = [0 as RawFd; 5];
    for (slot, (source, _)) in lifted.iter_mut().zip(args.sources.iter()) {
        // SAFETY: as above.
        let fd = unsafe { libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, 16) };
        if fd < 0 {
            return fail(STEP_LIFT_FDS);
        }
        *slot = fd;
    }
    for (lifted_fd, (_, target)) in lifted.iter().zip(args.sources.iter()) {
        // dup2 clears close-on-exec on the target.
        // SAFETY: as above.
        if unsafe { libc::dup2(*lifted_fd, *target) } < 0 {
            return fail(STEP_PLACE_FDS);
        }
    }
    // SAFETY: argv, envp and the empty path are NUL-terminated arrays and strings the parent
    // keeps alive; on success this never returns.
    unsafe { libc::syscall(libc::SYS_execveat, memfd, args.empty, args.argv, args.envp, libc::AT_EMPTY_PATH) };
    fail(STEP_EXEC)
}

/// A pidfd on `pid` (for an init this process did not clone: one an earlier runtime process
/// left running). The caller checks afterwards that `pid` is still the process it means.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the descriptor it returns is owned right away.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor from pidfd_open.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
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

/// Gives the heap's free pages back to the kernel (glibc keeps what a burst freed, so a server
/// that once grew would stay big). Returns whether any memory was released.
pub(crate) fn release_free_heap() -> bool {
    // SAFETY: malloc_trim only walks and trims glibc's own arenas under their locks; it takes no
    // pointers from us and is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) != 0 }
}
