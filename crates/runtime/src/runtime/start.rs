//! Starting a sandbox: clone init into new namespaces, place it in its cgroup, and wait for it
//! to build the root. Every failure undoes what was done.

use super::adopt::RunningMarker;
use super::exec::merge_env;
use super::stop::teardown;
use super::{Record, Running, Runtime};
use crate::spec::{NetworkMode, SandboxId};
use crate::sync::lock;
use crate::sys::{self, InitLaunch};
use crate::Error;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{bind, listen, socket, socketpair, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use sandbar_init::{channel, Placed, Setup, SetupReply};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long start waits for init to build the sandbox's root.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default size limit of `/tmp` and `/dev/shm` when the sandbox has no memory limit.
const DEFAULT_TMPFS_BYTES: u64 = 1 << 30;

impl Runtime {
    /// Starts a created or stopped sandbox. Starting a running sandbox does nothing.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn start(&self, id: &SandboxId) -> Result<(), Error> {
        let _guard = self.locked(id);
        if self.running_entry(id).is_some() {
            return Ok(());
        }
        let record = self.record(id)?;
        self.start_locked(id, record)
    }

    /// Starts the stopped sandbox `record` describes (unpacking an archived one first) and
    /// enters it in the running table. Call under its lock.
    pub(crate) fn start_locked(&self, id: &SandboxId, record: Record) -> Result<(), Error> {
        let limit = record.spec.limits.disk_bytes;
        // A death of an earlier init nobody asked about is stale now.
        self.forget_exit(id);
        let running = self.with_disk_limit_lifted(id, limit, || {
            self.restore_locked(id)?;
            let running = self.launch(id, record)?;
            match RunningMarker::of(&running).write(id, &self.dir(id)) {
                Ok(()) => Ok(running),
                Err(error) => {
                    let _ = teardown(id, &running);
                    Err(error)
                }
            }
        })?;
        lock(&self.running).insert(id.clone(), Arc::new(running));
        self.connect_links(id);
        Ok(())
    }

    /// Clones init, puts it in its cgroup and has it build the sandbox. Undoes everything on failure.
    pub(crate) fn launch(&self, id: &SandboxId, record: Record) -> Result<Running, Error> {
        let env = Mutex::new(merge_env(record.image.env.clone(), &record.spec.env)?);
        let dir = self.dir(id);
        for layer in &record.image.layers {
            let path = self.images.layer_path(layer);
            if !path.is_dir() {
                return Err(Error::LayerMissing { id: id.clone(), path });
            }
        }
        let socket_path = dir.join("init.sock");
        let _ = std::fs::remove_file(&socket_path);
        let listener = control_listener(&socket_path)
            .map_err(Error::sandbox(id, format!("listen on {}", socket_path.display())))?;
        let (host_end, init_end) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|e| Error::sandbox(id, "create setup channel")(e.into()))?;
        let (network, net) = match (record.spec.network, &self.networking) {
            (NetworkMode::Outbound, Some(networking)) => {
                let (netns, attached) = networking
                    .take(id, &record.spec.egress)
                    .map_err(|source| Error::Network { id: id.clone(), source })?;
                (netns, Some(attached))
            }
            (mode, _) => {
                if mode == NetworkMode::Outbound {
                    // The server says so once at start (`--network none`).
                    tracing::debug!(sandbox_id = %id, "outbound networking is off in this runtime; loopback only");
                }
                (self.networks.take().map_err(|source| Error::Network { id: id.clone(), source })?, None)
            }
        };
        // The pool usually has a manager ready; when it does not, open one while cloning.
        let (cgroup, cloned) = std::thread::scope(|scope| {
            let opening = scope.spawn(|| self.cgroups.take(id));
            let launch = InitLaunch {
                memfd: &self.init_memfd,
                setup_channel: &init_end,
                listener: &listener,
                null: &self.null,
                network: Some(&network),
            };
            let cloned = sys::clone_init(&launch);
            (opening.join().expect("cgroup open does not panic"), cloned)
        });
        // Init holds its namespace now; the host needs no handle on it.
        drop(network);
        drop(init_end);
        drop(listener);
        let (init_pid, pidfd) = match (cloned, &cgroup) {
            (Ok(init), Ok(_)) => (init.pid, init.pidfd),
            (Ok(init), Err(_)) => {
                let _ = kill(Pid::from_raw(init.pid), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(init.pid), None);
                let _ = std::fs::remove_file(&socket_path);
                if let Some(net) = &net {
                    net.release();
                }
                return Err(cgroup.err().expect("matched Err"));
            }
            (Err(e), _) => {
                let _ = std::fs::remove_file(&socket_path);
                if let Some(net) = &net {
                    net.release();
                }
                return Err(Error::sandbox(id, "clone init into new namespaces")(e));
            }
        };
        let cgroup = cgroup.expect("matched Ok");
        tracing::debug!(sandbox_id = %id, init_pid, "init cloned");

        let setup = Setup {
            hostname: record.spec.hostname.clone().unwrap_or_else(|| id.to_string()),
            rootfs: dir.join("rootfs"),
            lower_dirs: self.images.lower_dirs(&record.image),
            upper_dir: dir.join("upper"),
            work_dir: dir.join("work"),
            binds: record
                .spec
                .mounts
                .iter()
                .map(|m| sandbar_init::Bind {
                    source: m.source.clone(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                })
                .collect(),
            tmpfs_bytes: record.spec.limits.memory_bytes.unwrap_or(DEFAULT_TMPFS_BYTES),
            network: net
                .as_ref()
                .map(|net| sandbar_init::SetupNetwork { address: net.address(), nameserver: net.nameserver() }),
        };
        // Init runs nothing of the sandbox before it is placed: the policy is never late.
        let placed = handshake(id, &host_end, &setup, || {
            cgroup.enter(id, init_pid, &record.spec.limits)?;
            match &net {
                Some(net) if !record.spec.egress.is_open() => {
                    net.enforce(&record.spec.egress).map_err(|source| Error::Network { id: id.clone(), source })
                }
                _ => Ok(()),
            }
        });
        let running = Running {
            init_pid,
            pidfd,
            adopted: None,
            paused: false.into(),
            socket: socket_path,
            cgroup,
            record,
            env,
            net,
        };
        match placed {
            Ok(()) => Ok(running),
            Err(error) => {
                if let Err(cleanup) = teardown(id, &running) {
                    tracing::warn!(sandbox_id = %id, error = %cleanup, "cleanup after failed start");
                }
                Err(error)
            }
        }
    }
}

/// Sends the setup, places init in its cgroups (`place`) while init builds the root, then
/// waits for init's verdict.
pub(crate) fn handshake(
    id: &SandboxId,
    channel_fd: &OwnedFd,
    setup: &Setup,
    place: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    channel::send(channel_fd.as_fd(), setup, &[]).map_err(Error::sandbox(id, "send setup to init"))?;
    place()?;
    // If init already failed, this send may hit a closed socket; its reply below says why.
    let placed = channel::send(channel_fd.as_fd(), &Placed, &[]);
    let timeout = nix::sys::time::TimeVal::new(SETUP_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(channel_fd, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
        .map_err(|e| Error::sandbox(id, "set setup timeout")(e.into()))?;
    match channel::recv::<SetupReply>(channel_fd.as_fd()) {
        Ok(Some((SetupReply::Ready { root_us, placement_us, lockdown_us, warnings }, _))) => {
            tracing::debug!(sandbox_id = %id, root_us, placement_us, lockdown_us, "init ready");
            for warning in warnings {
                tracing::warn!(sandbox_id = %id, %warning, "sandbox started with a warning");
            }
            placed.map_err(Error::sandbox(id, "tell init it is placed"))
        }
        Ok(Some((SetupReply::Failed { step, error }, _))) => Err(Error::InitSetup { id: id.clone(), step, error }),
        Ok(None) => {
            Err(Error::InitSetup { id: id.clone(), step: "start".into(), error: "init exited before reporting".into() })
        }
        Err(e) => Err(Error::sandbox(id, "read init's setup reply")(e)),
    }
}

pub(crate) fn control_listener(path: &Path) -> std::io::Result<OwnedFd> {
    let fd = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    let address = UnixAddr::new(path)?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &address)?;
    listen(&fd, Backlog::new(128).expect("128 is a valid backlog"))?;
    Ok(fd)
}
