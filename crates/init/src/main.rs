//! `sandbar-init`: PID 1 of every sandbox.
//!
//! The host clones it into fresh namespaces and places it in the sandbox's cgroups. It then
//! builds the sandbox's filesystem view from a [`Setup`](sandbar_init::Setup) (overlay root,
//! `/proc`, `/sys`, `/dev`, `/tmp`, binds, `pivot_root`), locks itself down (seccomp, capability
//! bounding set) so everything it starts inherits the same limits, and serves spawn and signal
//! requests on its control socket while reaping every process that ends in the sandbox.
//!
//! It is a static binary executed from a sealed memfd, so it runs in any image and nothing in the
//! sandbox can rewrite it (the CVE-2019-5736 class). Keep it small: one runs per sandbox.

#![allow(unsafe_code)]

mod hosts;
mod security;
mod setup;
mod spawn;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{accept4, SockFlag};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use sandbar_init::{
    channel, ExitStatus, Placed, Reply, Request, Setup, SetupReply, SpawnErrorKind, LISTEN_FD, SETUP_FD,
};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

fn main() {
    // Only the fds the host placed on purpose survive into the sandbox.
    // SAFETY: close_range closes descriptors above LISTEN_FD, which nothing in init owns yet.
    unsafe { libc::syscall(libc::SYS_close_range, (LISTEN_FD + 1) as u32, u32::MAX, 0u32) };
    // Executed from a memfd, the kernel names us "memfd:sandbar-i"; ps and tests expect this.
    let _ = nix::sys::prctl::set_name(c"sandbar-init");
    // SAFETY: the host placed these two fds before exec; nothing else in this process owns them.
    let setup_channel = unsafe { OwnedFd::from_raw_fd(SETUP_FD) };
    let listener = unsafe { OwnedFd::from_raw_fd(LISTEN_FD) };

    let setup: Setup = match channel::recv(setup_channel.as_fd()) {
        Ok(Some((setup, _))) => setup,
        _ => std::process::exit(2),
    };
    let (signals, ready) = match prepare(&setup, &setup_channel) {
        Ok(prepared) => prepared,
        Err(failure) => {
            let reply = SetupReply::Failed { step: failure.step, error: failure.error };
            let _ = channel::send(setup_channel.as_fd(), &reply, &[]);
            std::process::exit(1);
        }
    };
    if channel::send(setup_channel.as_fd(), &ready, &[]).is_err() {
        std::process::exit(1);
    }
    drop(setup_channel);
    drop(setup);
    serve(listener, signals);
}

/// A setup step that failed, reported to the host verbatim.
pub(crate) struct Failure {
    step: String,
    error: String,
}

impl Failure {
    pub(crate) fn new(step: impl Into<String>, error: impl std::fmt::Display) -> Failure {
        Failure { step: step.into(), error: error.to_string() }
    }
}

fn prepare(setup: &Setup, setup_channel: &OwnedFd) -> Result<(SignalFd, SetupReply), Failure> {
    let started = std::time::Instant::now();
    // Signals init handles itself are read from a signalfd; children get a clean mask back.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.thread_block().map_err(|e| Failure::new("block signals", e))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Failure::new("create signalfd", e))?;
    // Exact modes for the device nodes and mount points init creates; processes get 022 back.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let warnings = setup::build_root(setup)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let built = std::time::Instant::now();
    match channel::recv::<Placed>(setup_channel.as_fd()) {
        Ok(Some(_)) => {}
        _ => return Err(Failure::new("wait for cgroup placement", "the host went away")),
    }
    let placed = std::time::Instant::now();
    setup::enter_cgroup_namespace()?;
    security::lock_down()?;
    let micros = |from: std::time::Instant, to: std::time::Instant| (to - from).as_micros() as u64;
    let ready = SetupReply::Ready {
        root_us: micros(started, built),
        placement_us: micros(built, placed),
        lockdown_us: micros(placed, std::time::Instant::now()),
        warnings,
    };
    Ok((signals, ready))
}

/// A process init started and the connection waiting for its exit, if still open.
struct Child {
    watcher: Option<usize>,
}

/// One accepted control connection.
struct Connection {
    socket: OwnedFd,
}

fn serve(listener: OwnedFd, signals: SignalFd) -> ! {
    let mut children: HashMap<i32, Child> = HashMap::new();
    let mut connections: HashMap<usize, Connection> = HashMap::new();
    let mut next_connection = 0usize;
    loop {
        let keys: Vec<usize> = connections.keys().copied().collect();
        let (ready_listener, ready_signals, ready_connections) = {
            let mut fds = Vec::with_capacity(2 + keys.len());
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
            for key in &keys {
                fds.push(PollFd::new(connections[key].socket.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => continue,
            }
            let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
            let conns: Vec<usize> = keys.iter().zip(&fds[2..]).filter(|(_, fd)| ready(fd)).map(|(k, _)| *k).collect();
            (ready(&fds[0]), ready(&fds[1]), conns)
        };

        if ready_signals {
            while let Ok(Some(info)) = signals.read_signal() {
                if info.ssi_signo == Signal::SIGTERM as u32 || info.ssi_signo == Signal::SIGINT as u32 {
                    // Pass a stop request on to everything in the sandbox; the host decides
                    // when to stop waiting and kills init.
                    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
                }
            }
            reap(&mut children, &mut connections);
        }
        for key in ready_connections {
            let Some(connection) = connections.get(&key) else { continue };
            match channel::recv::<Request>(connection.socket.as_fd()) {
                Ok(Some((request, fds))) => {
                    let reply = handle(request, fds, key, &mut children);
                    if let Some((reply, fds)) = reply {
                        let raw: Vec<i32> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
                        if channel::send(connection.socket.as_fd(), &reply, &raw).is_err() {
                            forget_connection(key, &mut connections, &mut children);
                        }
                    }
                }
                // The peer went away or spoke nonsense: drop the connection, never the process.
                _ => forget_connection(key, &mut connections, &mut children),
            }
        }
        if ready_listener {
            if let Ok(raw) = accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
                // SAFETY: accept4 returned a new fd that nothing else owns.
                let socket = unsafe { OwnedFd::from_raw_fd(raw) };
                // Requests are read only when poll says a whole packet is there, so the socket
                // can stay non-blocking; replies are small and fit the send buffer.
                connections.insert(next_connection, Connection { socket });
                next_connection += 1;
            }
        }
    }
}

fn forget_connection(key: usize, connections: &mut HashMap<usize, Connection>, children: &mut HashMap<i32, Child>) {
    connections.remove(&key);
    for child in children.values_mut() {
        if child.watcher == Some(key) {
            child.watcher = None;
        }
    }
}

fn handle(
    request: Request,
    fds: Vec<OwnedFd>,
    connection: usize,
    children: &mut HashMap<i32, Child>,
) -> Option<(Reply, Vec<OwnedFd>)> {
    let failed = |error: String| Some((Reply::Failed { error, kind: SpawnErrorKind::Other }, Vec::new()));
    match request {
        Request::Ping => Some((Reply::Pong, Vec::new())),
        Request::Spawn(spawn) => match spawn::spawn(&spawn, fds) {
            Ok((pid, pty_master)) => {
                children.insert(pid, Child { watcher: Some(connection) });
                Some((Reply::Spawned { pid }, pty_master.into_iter().collect()))
            }
            Err(spawn::SpawnError { kind, message }) => Some((Reply::Failed { error: message, kind }, Vec::new())),
        },
        Request::Signal { pid, signal, group } => {
            if pid <= 1 {
                return failed(format!("refusing to signal pid {pid}"));
            }
            let signal = match Signal::try_from(signal) {
                Ok(signal) => signal,
                Err(_) => return failed(format!("unknown signal {signal}")),
            };
            let target = if group { Pid::from_raw(-pid) } else { Pid::from_raw(pid) };
            match kill(target, signal) {
                Ok(()) => Some((Reply::Done, Vec::new())),
                Err(errno) => failed(format!("signal {signal} to pid {pid}: {errno}")),
            }
        }
        Request::SignalAll { signal } => match Signal::try_from(signal) {
            Ok(signal) => match kill(Pid::from_raw(-1), signal) {
                // ESRCH: nothing but init is left, which is what the caller wants.
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Some((Reply::Done, Vec::new())),
                Err(errno) => failed(format!("signal {signal} to all: {errno}")),
            },
            Err(_) => failed(format!("unknown signal {signal}")),
        },
    }
}

/// Reaps every exited child; tells the watching connection about the ones init started.
fn reap(children: &mut HashMap<i32, Child>, connections: &mut HashMap<usize, Connection>) {
    loop {
        let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, ExitStatus::Signal(signal as i32)),
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        };
        let (pid, exit) = status;
        if let Some(child) = children.remove(&pid.as_raw()) {
            if let Some(key) = child.watcher {
                if let Some(connection) = connections.remove(&key) {
                    let _ = channel::send(connection.socket.as_fd(), &Reply::Exited(exit), &[]);
                }
            }
        }
    }
}
