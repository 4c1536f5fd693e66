//! Processes inside a running sandbox: the host side of init's spawn and signal requests.
//!
//! Each spawn opens its own connection to init's control socket. Init answers with the pid once
//! `execve` succeeded, and later with the exit status on the same connection. Dropping a
//! [`Process`] closes that connection and the host's pipe ends; the process itself keeps running
//! until it exits or is killed.

use crate::spec::{ExecSpec, ExecStdio, SandboxId};
use crate::Error;
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
use sandbar_init::{channel, ExitStatus, Reply, Request, Spawn, Stdio};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A process started in a sandbox.
#[derive(Debug)]
pub struct Process {
    /// Pid inside the sandbox's pid namespace.
    pub pid: i32,
    /// Write end of the process's stdin (piped stdio). Drop it to send EOF.
    pub stdin: Option<File>,
    /// Read end of its stdout (piped stdio).
    pub stdout: Option<File>,
    /// Read end of its stderr (piped stdio).
    pub stderr: Option<File>,
    /// The PTY master (PTY stdio).
    pub pty: Option<Pty>,
    sandbox: SandboxId,
    socket: PathBuf,
    connection: OwnedFd,
}

/// The master side of a sandbox PTY: read output, write input, resize.
#[derive(Debug)]
pub struct Pty {
    /// The master; reads return the terminal's output, writes are typed input.
    pub master: File,
}

/// Everything a finished process printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout (or the PTY's output).
    pub stdout: Vec<u8>,
    /// Its stderr (empty with a PTY).
    pub stderr: Vec<u8>,
}

impl Pty {
    /// Sets the terminal size; the process gets SIGWINCH.
    pub fn resize(&self, rows: u16, cols: u16) -> std::io::Result<()> {
        crate::sys::set_window_size(self.master.as_fd(), rows, cols)
    }
}

impl Process {
    /// Waits for the process to end.
    pub fn wait(&self) -> Result<ExitStatus, Error> {
        loop {
            match channel::recv::<Reply>(self.connection.as_fd()) {
                Ok(Some((Reply::Exited(status), _))) => return Ok(status),
                Ok(Some((other, _))) => {
                    return Err(Error::request(&self.sandbox, format!("unexpected reply {other:?}")))
                }
                Ok(None) => {
                    return Err(Error::request(
                        &self.sandbox,
                        format!("sandbox stopped before process {} reported its exit", self.pid),
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::sandbox(&self.sandbox, format!("wait for process {}", self.pid))(e)),
            }
        }
    }

    /// Sends `signal` to the process, or with `group` to its whole process group.
    pub fn kill(&self, signal: i32, group: bool) -> Result<(), Error> {
        request(&self.sandbox, &self.socket, &Request::Signal { pid: self.pid, signal, group })
    }

    /// Closes stdin, reads the output and waits for the exit. Pipes are read like
    /// [`collect`](Self::collect) without a timeout (bounded by [`COLLECT_LIMIT`], never
    /// hanging on a pipe a background child keeps open); a PTY is read until its slave is gone.
    pub fn output(mut self) -> Result<Output, Error> {
        if let Some(pty) = self.pty.take() {
            drop(self.stdin.take());
            let stdout = read_pty(pty.master);
            let status = self.wait()?;
            return Ok(Output { status, stdout, stderr: Vec::new() });
        }
        let Collected { status, stdout, stderr, .. } = self.collect(None)?;
        Ok(Output { status, stdout, stderr })
    }

    /// [`collect`](Self::collect) while `input` is written to the process's stdin, which is then
    /// closed. The input is fed beside the collection, so `timeout` covers the whole call: a
    /// process that never reads its stdin cannot hold the caller past its deadline, and the
    /// feeding stops when the process is gone (or killed at the deadline).
    pub fn collect_with_input(mut self, input: Vec<u8>, timeout: Option<Duration>) -> Result<Collected, Error> {
        let Some(stdin) = self.stdin.take() else { return self.collect(timeout) };
        if input.is_empty() {
            drop(stdin);
            return self.collect(timeout);
        }
        // The usual input (a command) fits in the empty pipe: written here, no thread needed.
        let Some(rest) = write_now(&stdin, &input) else {
            drop(stdin);
            return self.collect(timeout);
        };
        let rest = input[input.len() - rest..].to_vec();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let feeding = {
            let done = std::sync::Arc::clone(&done);
            std::thread::Builder::new().name("sandbar-stdin".into()).spawn(move || feed(stdin, &rest, &done))
        };
        let collected = self.collect(timeout);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(feeding) = feeding {
            let _ = feeding.join();
        }
        collected
    }

    /// Reads stdout and stderr while the process runs and returns when it exits, or kills its
    /// whole process group when `timeout` passes first (then `timed_out` is set).
    ///
    /// Output that background children keep writing after the process exited is read for a
    /// short moment and then left: a call never hangs on a pipe that a daemonized grandchild
    /// holds open (Daytona #4230).
    pub fn collect(self, timeout: Option<Duration>) -> Result<Collected, Error> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (status, timed_out) = self.stream_output(timeout, &mut |stream, bytes| {
            let buffer = if stream == 0 { &mut stdout } else { &mut stderr };
            // Output past the limit is read (so the process never blocks on a full pipe) and
            // dropped, once marked: `yes` without a timeout must not exhaust the server.
            if buffer.len() < COLLECT_LIMIT {
                let room = COLLECT_LIMIT - buffer.len();
                buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if bytes.len() > room {
                    buffer.extend_from_slice(TRUNCATED);
                }
            }
        })?;
        Ok(Collected { status, timed_out, stdout, stderr })
    }

    /// [`collect`](Self::collect), but every chunk of output goes to `sink` as it arrives
    /// (stream 0 is stdout, 1 is stderr) instead of being kept. Returns the exit status and
    /// whether the timeout killed the process group. Takes stdin only if nobody took it before,
    /// so a caller may keep feeding input from another thread.
    pub fn stream_output(
        mut self,
        timeout: Option<Duration>,
        sink: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<(ExitStatus, bool), Error> {
        drop(self.stdin.take());
        let mut outputs: Vec<Stream> = Vec::new();
        for (index, file) in [(0, self.stdout.take()), (1, self.stderr.take())] {
            let Some(file) = file else { continue };
            set_nonblocking(&file).map_err(Error::sandbox(&self.sandbox, "make output non-blocking"))?;
            outputs.push(Stream { index, file, open: true });
        }
        // A timeout past what an Instant can hold is no deadline at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut status = None;
        let mut timed_out = false;
        while status.is_none() {
            let wait = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if deadline.is_some() && wait.is_zero() {
                timed_out = true;
                let _ = self.kill(libc::SIGKILL, true);
                status = Some(self.wait_for(Duration::from_secs(10))?);
                break;
            }
            if poll_readable(&self.connection, &mut outputs, wait, sink)
                .map_err(Error::sandbox(&self.sandbox, format!("poll process {}", self.pid)))?
            {
                status = Some(self.wait()?);
            }
        }
        // Drain what the process wrote before it ended; stop once the pipes stay quiet, and
        // after a bounded time even if a background child keeps writing.
        let quiet = Duration::from_millis(if timed_out { 10 } else { 25 });
        let until = Instant::now() + Duration::from_millis(if timed_out { 100 } else { 500 });
        while Instant::now() < until && drain(&mut outputs, quiet, sink) {}
        Ok((status.expect("set before the loop ends"), timed_out))
    }

    /// Waits for the exit status at most `limit`.
    fn wait_for(&self, limit: Duration) -> Result<ExitStatus, Error> {
        let mut none: Vec<Stream> = Vec::new();
        let exited = poll_readable(&self.connection, &mut none, limit, &mut |_, _| {})
            .map_err(Error::sandbox(&self.sandbox, format!("poll process {}", self.pid)))?;
        if exited {
            self.wait()
        } else {
            Err(Error::request(&self.sandbox, format!("process {} did not end after SIGKILL", self.pid)))
        }
    }

    /// The control connection init reports the exit status on (for callers that poll it).
    pub fn status_connection(&self) -> &OwnedFd {
        &self.connection
    }
}

/// The result of [`Process::collect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// How the process ended (a SIGKILL when it timed out).
    pub status: ExitStatus,
    /// The timeout passed and the process group was killed.
    pub timed_out: bool,
    /// Its stdout (stdout and stderr together with [`ExecStdio::Merged`]).
    pub stdout: Vec<u8>,
    /// Its stderr (empty with [`ExecStdio::Merged`]).
    pub stderr: Vec<u8>,
}

/// Writes what fits into `stdin` now (made non-blocking); `None` when nothing is left to write
/// (all written, or the reader is gone), else how many bytes are left.
fn write_now(stdin: &File, input: &[u8]) -> Option<usize> {
    use std::io::Write;
    set_nonblocking(stdin).ok()?;
    let mut rest = input;
    while !rest.is_empty() {
        match (&*stdin).write(rest) {
            Ok(0) => return None,
            Ok(written) => rest = &rest[written..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(rest.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    None
}

/// Writes `input` to `stdin` until it is all written, the reader is gone, or `done` is set (the
/// process was collected); then closes it. Waits for room at most 50 ms at a time, so it notices
/// `done` promptly.
fn feed(stdin: File, input: &[u8], done: &std::sync::atomic::AtomicBool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Write;
    let mut rest = input;
    while !rest.is_empty() && !done.load(std::sync::atomic::Ordering::SeqCst) {
        match (&stdin).write(rest) {
            Ok(0) => return,
            Ok(written) => rest = &rest[written..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(50u8));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EPIPE: the process exited without reading all of it, which is fine.
            Err(_) => return,
        }
    }
}

fn set_nonblocking(file: &File) -> std::io::Result<()> {
    let flags = nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// One output pipe being collected.
struct Stream {
    /// 0 for stdout, 1 for stderr.
    index: usize,
    file: File,
    /// False once the pipe reached EOF; closed pipes are not polled again.
    open: bool,
}

/// Polls the open outputs and the status connection for up to `wait`, reading whatever output
/// is there. Returns true when the status connection became readable.
fn poll_readable(
    connection: &OwnedFd,
    outputs: &mut [Stream],
    wait: Duration,
    sink: &mut dyn FnMut(usize, &[u8]),
) -> std::io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let timeout = PollTimeout::try_from(wait.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
    let mut open: Vec<&mut Stream> = outputs.iter_mut().filter(|s| s.open).collect();
    let (status_ready, readable) = {
        let mut fds = vec![PollFd::new(connection.as_fd(), PollFlags::POLLIN)];
        fds.extend(open.iter().map(|stream| PollFd::new(stream.file.as_fd(), PollFlags::POLLIN)));
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        (ready(&fds[0]), fds[1..].iter().map(ready).collect::<Vec<_>>())
    };
    for (stream, ready) in open.iter_mut().zip(readable) {
        if ready {
            read_available(stream, sink);
        }
    }
    Ok(status_ready)
}

/// Reads what the open outputs offer within `quiet`; false when nothing came.
fn drain(outputs: &mut [Stream], quiet: Duration, sink: &mut dyn FnMut(usize, &[u8])) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let timeout = PollTimeout::try_from(quiet.as_millis() as i32).unwrap_or(PollTimeout::ZERO);
    let mut open: Vec<&mut Stream> = outputs.iter_mut().filter(|s| s.open).collect();
    if open.is_empty() {
        return false;
    }
    let readable: Vec<bool> = {
        let mut fds: Vec<PollFd<'_>> =
            open.iter().map(|stream| PollFd::new(stream.file.as_fd(), PollFlags::POLLIN)).collect();
        if poll(&mut fds, timeout).unwrap_or(0) == 0 {
            return false;
        }
        fds.iter().map(|fd| fd.revents().is_some_and(|r| !r.is_empty())).collect()
    };
    let mut progress = false;
    for (stream, ready) in open.iter_mut().zip(readable) {
        if ready {
            progress |= read_available(stream, sink);
        }
    }
    progress
}

/// Reads until the pipe would block or ends; true when bytes arrived.
fn read_available(stream: &mut Stream, sink: &mut dyn FnMut(usize, &[u8])) -> bool {
    let mut buffer = [0u8; 64 * 1024];
    let mut got = false;
    let mut burst = 0usize;
    loop {
        match stream.file.read(&mut buffer) {
            Ok(0) => {
                stream.open = false;
                break;
            }
            Ok(n) => {
                got = true;
                sink(stream.index, &buffer[..n]);
                burst += n;
                if burst >= READ_BURST {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    got || !stream.open
}

/// Reads a PTY master until the slave side is gone (EIO once the last holder exits).
fn read_pty(mut master: File) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match master.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    bytes
}

/// Starts `exec` through init. `env`, `user` and `cwd` are already merged with the sandbox's.
pub(crate) fn spawn(
    id: &SandboxId,
    socket_path: &Path,
    exec: &ExecSpec,
    env: Vec<String>,
    user: String,
    cwd: Option<String>,
) -> Result<Process, Error> {
    if exec.argv.is_empty() || exec.argv[0].is_empty() {
        return Err(Error::InvalidSpec { what: "exec needs a program: argv is empty".to_string() });
    }
    let connection = connect_to(id, socket_path)?;
    let stdio = match exec.stdio {
        ExecStdio::Pipes | ExecStdio::Merged => Stdio::Fds,
        ExecStdio::Pty { rows, cols } => Stdio::Pty { rows, cols },
    };
    let request = Request::Spawn(Spawn { argv: exec.argv.clone(), env, cwd, user, stdio });
    let pipe = |what: &str| std::io::pipe().map_err(Error::sandbox(id, format!("create {what} pipe")));
    let (mut stdin, mut stdout, mut stderr) = (None, None, None);
    match exec.stdio {
        ExecStdio::Pipes => {
            let (stdin_read, stdin_write) = pipe("stdin")?;
            let (stdout_read, stdout_write) = pipe("stdout")?;
            let (stderr_read, stderr_write) = pipe("stderr")?;
            let fds = [stdin_read.as_raw_fd(), stdout_write.as_raw_fd(), stderr_write.as_raw_fd()];
            channel::send(connection.as_fd(), &request, &fds).map_err(Error::sandbox(id, "send spawn request"))?;
            stdin = Some(File::from(OwnedFd::from(stdin_write)));
            stdout = Some(File::from(OwnedFd::from(stdout_read)));
            stderr = Some(File::from(OwnedFd::from(stderr_read)));
            // The child's ends close here, so EOF on stdout means the process side closed it.
        }
        ExecStdio::Merged => {
            let (stdin_read, stdin_write) = pipe("stdin")?;
            let (output_read, output_write) = pipe("output")?;
            let fds = [stdin_read.as_raw_fd(), output_write.as_raw_fd(), output_write.as_raw_fd()];
            channel::send(connection.as_fd(), &request, &fds).map_err(Error::sandbox(id, "send spawn request"))?;
            stdin = Some(File::from(OwnedFd::from(stdin_write)));
            stdout = Some(File::from(OwnedFd::from(output_read)));
        }
        ExecStdio::Pty { .. } => {
            channel::send(connection.as_fd(), &request, &[]).map_err(Error::sandbox(id, "send spawn request"))?;
        }
    }
    match channel::recv::<Reply>(connection.as_fd()) {
        Ok(Some((Reply::Spawned { pid }, mut fds))) => {
            // From here the connection only carries the exit status, which may take any time.
            let forever = nix::sys::time::TimeVal::new(0, 0);
            nix::sys::socket::setsockopt(&connection, nix::sys::socket::sockopt::ReceiveTimeout, &forever)
                .map_err(|e| Error::sandbox(id, "clear the reply timeout")(e.into()))?;
            let pty = match exec.stdio {
                ExecStdio::Pty { .. } => {
                    let master = fds.pop().ok_or_else(|| Error::request(id, "init sent no pty master"))?;
                    Some(Pty { master: File::from(master) })
                }
                ExecStdio::Pipes | ExecStdio::Merged => None,
            };
            Ok(Process {
                pid,
                stdin,
                stdout,
                stderr,
                pty,
                sandbox: id.clone(),
                socket: socket_path.to_path_buf(),
                connection,
            })
        }
        Ok(Some((Reply::Failed { error, kind }, _))) => Err(Error::Request { id: id.clone(), kind, error }),
        Ok(Some((other, _))) => Err(Error::request(id, format!("unexpected reply {other:?}"))),
        Ok(None) => Err(Error::request(id, "init closed the connection")),
        Err(e) => Err(Error::sandbox(id, "read spawn reply")(e)),
    }
}

/// Sends a request that init answers with `Done` (or `Pong`).
pub(crate) fn request(id: &SandboxId, socket_path: &Path, request: &Request) -> Result<(), Error> {
    let connection = connect_to(id, socket_path)?;
    channel::send(connection.as_fd(), request, &[]).map_err(Error::sandbox(id, "send request to init"))?;
    match channel::recv::<Reply>(connection.as_fd()) {
        Ok(Some((Reply::Done | Reply::Pong, _))) => Ok(()),
        Ok(Some((Reply::Failed { error, kind }, _))) => Err(Error::Request { id: id.clone(), kind, error }),
        Ok(Some((other, _))) => Err(Error::request(id, format!("unexpected reply {other:?}"))),
        Ok(None) => Err(Error::request(id, "init closed the connection")),
        Err(e) => Err(Error::sandbox(id, "read reply from init")(e)),
    }
}

fn connect_to(id: &SandboxId, socket_path: &Path) -> Result<OwnedFd, Error> {
    let step = || format!("connect to init at {}", socket_path.display());
    let fd = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sandbox(id, step())(e.into()))?;
    let address = UnixAddr::new(socket_path).map_err(|e| Error::sandbox(id, step())(e.into()))?;
    connect(fd.as_raw_fd(), &address).map_err(|e| Error::sandbox(id, step())(e.into()))?;
    // Requests and spawn replies come within milliseconds; a wedged init must turn into an
    // error, not a caller blocked forever (stop then falls back to killing init).
    let timeout = nix::sys::time::TimeVal::new(REPLY_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
        .and_then(|()| nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::SendTimeout, &timeout))
        .map_err(|e| Error::sandbox(id, step())(e.into()))?;
    Ok(fd)
}

/// Most output [`Process::collect`] keeps per stream.
pub const COLLECT_LIMIT: usize = 32 << 20;
const TRUNCATED: &[u8] = b"\n[sandbar: output truncated]\n";
/// Most bytes read from one pipe before the loop looks at its deadlines again.
const READ_BURST: usize = 1 << 20;

/// How long the host waits for init to answer a request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
