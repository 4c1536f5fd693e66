//! The protocol between the host runtime and `sandbar-init`, the PID 1 of every sandbox.
//!
//! Both sides speak over `SOCK_SEQPACKET` unix sockets: one JSON message per packet, with file
//! descriptors (stdio pipes, a PTY master) travelling beside it as `SCM_RIGHTS`. Sequenced packets
//! keep message boundaries, so neither side needs framing code.
//!
//! * The *setup channel* (fd [`SETUP_FD`] in init) carries one [`Setup`] from the host, then
//!   [`Placed`] once the host has put init into the sandbox's cgroups, and one [`SetupReply`]
//!   back, then closes. Init builds the root while the host fills in the cgroups, so the two
//!   slowest steps of a start overlap; nothing of the sandbox runs before `Placed`.
//! * The *control socket* (a listening socket, fd [`LISTEN_FD`] in init, bound by the host to a
//!   path in the sandbox's state directory) accepts one connection per request. A [`Request::Spawn`]
//!   connection stays open until init sends [`Reply::Exited`] for that process; closing it early
//!   does not affect the process.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The fd number of the setup channel inside init.
pub const SETUP_FD: i32 = 3;
/// The fd number of the listening control socket inside init.
pub const LISTEN_FD: i32 = 4;
/// Largest message either side sends; JSON requests carry argv and env, nothing bulky.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Everything init needs to turn a fresh set of namespaces into a sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// Hostname inside the sandbox's UTS namespace.
    pub hostname: String,
    /// Host path where the overlay root is mounted (only inside the sandbox's mount namespace).
    pub rootfs: PathBuf,
    /// Read-only layers, top-most first (overlayfs `lowerdir` order).
    pub lower_dirs: Vec<PathBuf>,
    /// The sandbox's writable layer.
    pub upper_dir: PathBuf,
    /// overlayfs scratch directory on the same filesystem as `upper_dir`.
    pub work_dir: PathBuf,
    /// Host directories bound into the sandbox.
    pub binds: Vec<Bind>,
    /// Size limit of the tmpfs on `/tmp` and `/dev/shm`, in bytes.
    pub tmpfs_bytes: u64,
    /// The sandbox's own network, when it has one beyond loopback.
    pub network: Option<SetupNetwork>,
}

/// What init writes into a networked sandbox's `/etc` (the host has configured its links).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetupNetwork {
    /// The sandbox's address, which its hostname resolves to in `/etc/hosts`.
    pub address: std::net::Ipv4Addr,
    /// The resolver named in `/etc/resolv.conf` (the host's forwarder).
    pub nameserver: std::net::Ipv4Addr,
}

/// A host directory visible inside the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bind {
    /// Absolute host path.
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: PathBuf,
    /// Mount read-only.
    pub read_only: bool,
}

/// The host's second setup message: init is now in the sandbox's cgroups, so it may enter its
/// cgroup namespace and finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Placed;

/// Init's answer on the setup channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SetupReply {
    /// The sandbox is ready; the control socket accepts requests. The timings (microseconds)
    /// say where a start spent its time inside init, for diagnostics.
    Ready {
        /// Building the root: mounts, masks, pivot_root.
        root_us: u64,
        /// Waiting for the host to finish the cgroup placement.
        placement_us: u64,
        /// Cgroup namespace, seccomp and capabilities.
        lockdown_us: u64,
        /// Steps that failed without stopping the start (e.g. `/etc/hosts` not writable).
        #[serde(default)]
        warnings: Vec<String>,
    },
    /// A setup step failed; init exits after sending this.
    Failed {
        /// Which step, e.g. `mount overlay on /var/lib/...`.
        step: String,
        /// The OS error.
        error: String,
    },
}

/// A request on a control connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Start a process. For [`Stdio::Fds`] three fds (stdin, stdout, stderr) ride along.
    Spawn(Spawn),
    /// Send a signal to one process, or to its whole process group.
    Signal {
        /// Pid inside the sandbox.
        pid: i32,
        /// Signal number.
        signal: i32,
        /// Signal the process group led by `pid` instead of the process alone.
        group: bool,
    },
    /// Send a signal to every process in the sandbox except init.
    SignalAll {
        /// Signal number.
        signal: i32,
    },
    /// Liveness probe.
    Ping,
}

/// How to start a process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spawn {
    /// Program and arguments; `argv[0]` is looked up in the `PATH` of `env` when it has no `/`.
    pub argv: Vec<String>,
    /// `KEY=VALUE` pairs. `HOME`, `USER` and `PATH` get defaults when missing.
    pub env: Vec<String>,
    /// Working directory; the user's home directory when `None`.
    pub cwd: Option<String>,
    /// User name from the sandbox's `/etc/passwd`, or numeric `uid[:gid]`.
    pub user: String,
    /// Where the process's standard streams go.
    pub stdio: Stdio,
}

/// Standard streams of a spawned process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Stdio {
    /// Three fds sent with the request become stdin, stdout and stderr.
    Fds,
    /// Init allocates a PTY from the sandbox's devpts and returns its master fd with the reply.
    Pty {
        /// Initial rows.
        rows: u16,
        /// Initial columns.
        cols: u16,
    },
}

/// Init's answers on a control connection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Reply {
    /// The process runs (its `execve` succeeded). A PTY master fd rides along for [`Stdio::Pty`].
    Spawned {
        /// Pid inside the sandbox.
        pid: i32,
    },
    /// The process ended. Init closes the connection after this.
    Exited(ExitStatus),
    /// A request succeeded and has nothing to return.
    Done,
    /// Answer to [`Request::Ping`].
    Pong,
    /// The request failed.
    Failed {
        /// What failed, with the OS error.
        error: String,
        /// Why a spawn failed ([`SpawnErrorKind::Other`] for other requests). Absent in
        /// replies of an older init, which a restarted runtime may have adopted.
        #[serde(default)]
        kind: SpawnErrorKind,
    },
}

/// Why a process could not be started, so callers can act on it without reading the text.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum SpawnErrorKind {
    /// The program is not there (`execve` gave `ENOENT`/`ENOTDIR` for every candidate).
    NotFound,
    /// The program may not be executed (`EACCES`, `EPERM`).
    PermissionDenied,
    /// The working directory cannot be entered (or is not a valid path).
    BadCwd,
    /// The user is unknown, or switching to its ids failed.
    BadUser,
    /// Anything else: a malformed request, a resource limit, a timeout.
    #[default]
    Other,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl ExitStatus {
    /// The shell's convention: the code, or 128 + signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(code) => code,
            ExitStatus::Signal(signal) => 128 + signal,
        }
    }
}

#[allow(unsafe_code)]
pub mod channel;
