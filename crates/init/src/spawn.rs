//! Starts one process inside the sandbox as the requested user, cwd, env and stdio.
//!
//! Init is single-threaded, so the forked child may allocate freely before `execve`. A
//! close-on-exec pipe carries the reason back when the child fails before `execve`, so callers
//! get "chdir /nope: ENOENT" instead of a mysterious exit code 127, and a [`SpawnErrorKind`]
//! to act on.

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, Winsize};
use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
use nix::unistd::{dup2, fork, setgid, setgroups, setsid, setuid, ForkResult, Gid, Uid};
use sandbar_init::{Spawn, SpawnErrorKind, Stdio};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a spawn failed: a kind the host can act on, and the text for people.
pub(crate) struct SpawnError {
    pub(crate) kind: SpawnErrorKind,
    pub(crate) message: String,
}

impl From<String> for SpawnError {
    fn from(message: String) -> SpawnError {
        SpawnError { kind: SpawnErrorKind::Other, message }
    }
}

/// The one byte that carries a child's failure kind through the exec status pipe, before the text.
fn kind_tag(kind: SpawnErrorKind) -> u8 {
    match kind {
        SpawnErrorKind::NotFound => b'n',
        SpawnErrorKind::PermissionDenied => b'p',
        SpawnErrorKind::BadCwd => b'c',
        SpawnErrorKind::BadUser => b'u',
        SpawnErrorKind::Other => b'o',
    }
}

fn kind_of_tag(tag: u8) -> SpawnErrorKind {
    match tag {
        b'n' => SpawnErrorKind::NotFound,
        b'p' => SpawnErrorKind::PermissionDenied,
        b'c' => SpawnErrorKind::BadCwd,
        b'u' => SpawnErrorKind::BadUser,
        _ => SpawnErrorKind::Other,
    }
}

/// A resolved OS user.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
    groups: Vec<u32>,
}

/// Spawns the process; returns its pid and, for a PTY, the master side.
pub(crate) fn spawn(request: &Spawn, fds: Vec<OwnedFd>) -> Result<(i32, Option<OwnedFd>), SpawnError> {
    if request.argv.is_empty() {
        return Err("argv is empty".to_string().into());
    }
    let user = resolve_user(&request.user).map_err(|message| SpawnError { kind: SpawnErrorKind::BadUser, message })?;
    let env = build_env(&request.env, &user);
    let path_var = env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_string();
    let candidates = candidates(&request.argv[0], &path_var)?;
    let argv = to_cstrings(&request.argv)?;
    let envp = to_cstrings(&env)?;
    let cwd = match &request.cwd {
        Some(cwd) => cwd.clone(),
        None if std::path::Path::new(&user.home).is_dir() => user.home.clone(),
        None => "/".to_string(),
    };
    let cwd_c = CString::new(cwd.clone())
        .map_err(|_| SpawnError { kind: SpawnErrorKind::BadCwd, message: "cwd contains a NUL byte".to_string() })?;

    let (stdio, pty) = match &request.stdio {
        Stdio::Fds => {
            if fds.len() != 3 {
                return Err(format!("expected 3 stdio fds, got {}", fds.len()).into());
            }
            (fds, None)
        }
        Stdio::Pty { rows, cols } => {
            let (master, slave) = open_pty(*rows, *cols, user.uid)?;
            (vec![slave], Some(master))
        }
    };

    let (error_read, error_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("create exec status pipe: {e}"))?;
    // SAFETY: init is single-threaded, so the child is a full copy that may allocate.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(error_read);
            let (kind, failure) = child(&stdio, &user, &cwd_c, &candidates, &argv, &envp, error_write.as_raw_fd());
            let mut pipe = std::fs::File::from(error_write);
            let _ = pipe.write_all(&[&[kind_tag(kind)], failure.as_bytes()].concat());
            // SAFETY: _exit skips atexit handlers and buffered-IO flushing that belong to init.
            unsafe { libc::_exit(127) };
        }
        ForkResult::Parent { child } => {
            drop(error_write);
            drop(stdio);
            // Wait for execve (EOF) or the failure text, but never forever: a child stopped
            // before it execs must not wedge init for every later request.
            let mut message = Vec::new();
            let mut fds = [nix::poll::PollFd::new(error_read.as_fd(), nix::poll::PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16)) {
                Ok(0) => {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    return Err("the process did not start within 10 s and was killed".to_string().into());
                }
                _ => {
                    let _ = std::fs::File::from(error_read).read_to_end(&mut message);
                }
            }
            match message.split_first() {
                None => Ok((child.as_raw(), pty)),
                // The child exits on its own; the SIGCHLD loop reaps it.
                Some((tag, text)) => {
                    Err(SpawnError { kind: kind_of_tag(*tag), message: String::from_utf8_lossy(text).into_owned() })
                }
            }
        }
    }
}

/// Runs in the forked child; returns only on failure, with the kind and the reason.
fn child(
    stdio: &[OwnedFd],
    user: &User,
    cwd: &CString,
    candidates: &[CString],
    argv: &[CString],
    envp: &[CString],
    error_fd: i32,
) -> (SpawnErrorKind, String) {
    use SpawnErrorKind::{BadCwd, BadUser, NotFound, Other, PermissionDenied};
    // Init blocks these and Rust's runtime ignores SIGPIPE; a fresh process gets neither.
    let _ = SigSet::all().thread_unblock();
    for sig in [Signal::SIGPIPE, Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        // SAFETY: restoring the default disposition installs no Rust handler.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    if let Err(e) = setsid() {
        return (Other, format!("setsid: {e}"));
    }
    if let Err(e) = raise_oom_score() {
        return (Other, format!("raise the OOM score: {e}"));
    }
    if stdio.len() == 1 {
        // SAFETY: TIOCSCTTY on the PTY slave this session leader just opened.
        if unsafe { libc::ioctl(stdio[0].as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
            return (Other, format!("make the pty the controlling terminal: {}", std::io::Error::last_os_error()));
        }
    }
    // Move the stdio fds out of the way first so dup2 onto 0..2 never clobbers one of them.
    let mut moved = Vec::new();
    for fd in stdio {
        match nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10)) {
            Ok(raw) => moved.push(raw),
            Err(e) => return (Other, format!("duplicate stdio: {e}")),
        }
    }
    for target in 0..3 {
        let source = if moved.len() == 1 { moved[0] } else { moved[target] };
        if let Err(e) = dup2(source, target as i32) {
            return (Other, format!("dup2 stdio {target}: {e}"));
        }
    }
    close_other_fds(error_fd);
    if let Err(e) = setgroups(&user.groups.iter().map(|g| Gid::from_raw(*g)).collect::<Vec<_>>()) {
        return (BadUser, format!("setgroups for {}: {e}", user.name));
    }
    if let Err(e) = setgid(Gid::from_raw(user.gid)) {
        return (BadUser, format!("setgid {}: {e}", user.gid));
    }
    if let Err(e) = setuid(Uid::from_raw(user.uid)) {
        return (BadUser, format!("setuid {}: {e}", user.uid));
    }
    if let Err(e) = nix::unistd::chdir(cwd.as_c_str()) {
        return (BadCwd, format!("chdir {}: {e}", cwd.to_string_lossy()));
    }
    let mut last = nix::errno::Errno::ENOENT;
    for program in candidates {
        match nix::unistd::execve(program, argv, envp) {
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => {}
            Err(e) => last = e,
            Ok(never) => match never {},
        }
    }
    let kind = match last {
        nix::errno::Errno::ENOENT => NotFound,
        nix::errno::Errno::EACCES | nix::errno::Errno::EPERM => PermissionDenied,
        _ => Other,
    };
    (kind, format!("exec {}: {last}", argv[0].to_string_lossy()))
}

/// How much more a sandbox process's OOM score adjustment is than init's (the kernel's range
/// is -1000..=1000), so that in an OOM the killer picks a workload before init.
const WORKLOAD_OOM_SCORE_BONUS: i32 = 500;

/// Raises this (forked, not yet exec'd, still root) child's OOM score adjustment to init's plus
/// [`WORKLOAD_OOM_SCORE_BONUS`]; everything it starts inherits it. Raising needs no capability;
/// lowering below the floor the child inherited needs `CAP_SYS_RESOURCE`, which no sandbox
/// process has, so a process can come back down to the floor init has (the server's), never below.
fn raise_oom_score() -> std::io::Result<()> {
    let current: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")?
        .trim()
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let raised = (current + WORKLOAD_OOM_SCORE_BONUS).min(1000);
    if raised > current {
        std::fs::write("/proc/self/oom_score_adj", raised.to_string())?;
    }
    Ok(())
}

fn close_other_fds(keep: i32) {
    // SAFETY: close_range only closes descriptors; the child owns its whole fd table.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (keep + 1) as u32, u32::MAX, 0u32);
    }
}

fn open_pty(rows: u16, cols: u16, uid: u32) -> Result<(OwnedFd, OwnedFd), String> {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(|e| format!("open pty: {e}"))?;
    grantpt(&master).map_err(|e| format!("grantpt: {e}"))?;
    unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
    let name = ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?;
    let size = Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a Winsize from a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(format!("set pty size: {}", std::io::Error::last_os_error()));
    }
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("open {name}: {e}"))?;
    // SAFETY: open returned a fresh fd.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    // The terminal belongs to the user it runs for, as login does it.
    let _ = nix::unistd::fchown(slave.as_raw_fd(), Some(Uid::from_raw(uid)), None);
    // SAFETY: into_raw_fd hands ownership of the master's fd to the new OwnedFd.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    Ok((master, slave))
}

fn candidates(program: &str, path_var: &str) -> Result<Vec<CString>, String> {
    let as_c = |s: String| CString::new(s).map_err(|_| "argv[0] contains a NUL byte".to_string());
    if program.contains('/') {
        return Ok(vec![as_c(program.to_string())?]);
    }
    if program.is_empty() {
        return Err("argv[0] is empty".to_string());
    }
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| as_c(format!("{}/{program}", dir.trim_end_matches('/'))))
        .collect()
}

fn to_cstrings(items: &[String]) -> Result<Vec<CString>, String> {
    items.iter().map(|s| CString::new(s.as_str()).map_err(|_| format!("{s:?} contains a NUL byte"))).collect()
}

fn build_env(requested: &[String], user: &User) -> Vec<String> {
    let mut env: Vec<String> = requested.to_vec();
    let has = |env: &[String], key: &str| env.iter().any(|kv| kv.split('=').next() == Some(key));
    for (key, value) in [("HOME", user.home.as_str()), ("USER", user.name.as_str()), ("PATH", DEFAULT_PATH)] {
        if !has(&env, key) {
            env.push(format!("{key}={value}"));
        }
    }
    env
}

/// Resolves a user name or `uid[:gid]` against the sandbox's own `/etc/passwd` and `/etc/group`.
fn resolve_user(spec: &str) -> Result<User, String> {
    let passwd = read_account_file("/etc/passwd");
    let entries: Vec<Vec<&str>> =
        passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 7).collect();
    let (name_part, gid_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let by_name = entries.iter().find(|f| f[0] == name_part);
    let numeric: Option<u32> = name_part.parse().ok();
    let entry = by_name.or_else(|| numeric.and_then(|uid| entries.iter().find(|f| f[2].parse() == Ok(uid))));
    let (name, uid, mut gid, home) = match (entry, numeric) {
        (Some(f), _) => (
            f[0].to_string(),
            f[2].parse().map_err(|_| format!("bad uid for {} in /etc/passwd", f[0]))?,
            f[3].parse().map_err(|_| format!("bad gid for {} in /etc/passwd", f[0]))?,
            f[5].to_string(),
        ),
        (None, Some(uid)) => (uid.to_string(), uid, uid, "/".to_string()),
        // root exists even when /etc/passwd is missing or unreadable.
        (None, None) if name_part == "root" => ("root".to_string(), 0, 0, "/root".to_string()),
        (None, None) => return Err(format!("user {name_part:?} is not in the sandbox's /etc/passwd")),
    };
    if let Some(group) = gid_part {
        gid = group.parse().map_err(|_| format!("group {group:?} must be numeric"))?;
    }
    let mut groups = vec![gid];
    let group_file = read_account_file("/etc/group");
    for line in group_file.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[3].split(',').any(|member| member == name) {
            if let Ok(id) = fields[2].parse::<u32>() {
                if !groups.contains(&id) {
                    groups.push(id);
                }
            }
        }
    }
    Ok(User { name, uid, gid, home, groups })
}

/// Reads `/etc/passwd` or `/etc/group` of the sandbox: a regular file only (opened non-blocking,
/// so a FIFO planted there cannot wedge init), and at most 1 MiB of it.
fn read_account_file(path: &str) -> String {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let Ok(file) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
    else {
        return String::new();
    };
    match file.metadata() {
        Ok(meta) if meta.file_type().is_file() && !meta.file_type().is_fifo() => {}
        _ => return String::new(),
    }
    let mut text = String::new();
    let _ = file.take(1 << 20).read_to_string(&mut text);
    text
}
