//! Collecting one session command's output on the async runtime: its stdout and stderr pipes
//! are read as tokio pipes and its exit is awaited on init's status connection, so a running
//! command costs the server a task, not an OS thread. Once the command exited, what it wrote
//! before is drained for a short bounded time; a background child that keeps the pipes open
//! never keeps the command running (Daytona #4230), as with the runtime's `stream_output`.

use super::command::Command;
use super::log::Stream;
use super::RunningSlot;
use sandbar_runtime::Process;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// How long the pipes may stay quiet after the exit before reading stops.
const QUIET: Duration = Duration::from_millis(25);
/// How long output is read after the exit at most.
const DRAIN: Duration = Duration::from_millis(500);
/// Bytes read from a pipe at once (small: every running command holds two such buffers).
const CHUNK: usize = 16 << 10;

/// Reads `process`'s output into `command` until it ended, then records the exit code; the
/// sandbox's running-command slot is given back when this returns.
pub(crate) async fn collect(mut process: Process, command: Arc<Command>, slot: RunningSlot) {
    let code = match read(&mut process, &command).await {
        Ok(code) => code,
        Err(error) => {
            tracing::warn!(command = %command.id, %error, "reading a session command's output failed");
            -1
        }
    };
    command.finish(code);
    drop(slot);
}

/// One output pipe and the stream it feeds; `None` once it reached its end.
struct Output {
    stream: Stream,
    pipe: Option<pipe::Receiver>,
    buffer: Vec<u8>,
}

impl Output {
    fn new(stream: Stream, file: Option<std::fs::File>) -> std::io::Result<Output> {
        let pipe = file.map(pipe::Receiver::from_file).transpose()?;
        Ok(Output { stream, pipe, buffer: vec![0; CHUNK] })
    }

    /// Reads one chunk into the log; the pipe is closed at its end or on an error.
    /// Cancel-safe: a read that did not complete took nothing.
    async fn read_into(&mut self, command: &Command) {
        let Some(pipe) = self.pipe.as_mut() else { return std::future::pending().await };
        match pipe.read(&mut self.buffer).await {
            Ok(0) | Err(_) => self.pipe = None,
            Ok(n) => command.append(self.stream, &self.buffer[..n]),
        }
    }

    fn open(&self) -> bool {
        self.pipe.is_some()
    }
}

/// Reads both pipes until init reports the exit, then drains them; answers the shell's code.
async fn read(process: &mut Process, command: &Command) -> std::io::Result<i32> {
    let mut stdout = Output::new(Stream::Stdout, process.stdout.take())?;
    let mut stderr = Output::new(Stream::Stderr, process.stderr.take())?;
    // A second descriptor of init's status connection, watched for readability: the exit
    // status (or the end, when the sandbox stopped) arrives there as one seqpacket message.
    // `AsyncFd::new` is deprecated because a borrowed descriptor could close while registered;
    // this one is owned by the `AsyncFd` (a dup), so it lives exactly as long as the
    // registration, and no unsafe `register` is needed.
    #[allow(deprecated)]
    let exit = AsyncFd::new(process.status_connection().try_clone()?)?;
    loop {
        // Biased: when both pipes have data, stdout's goes first (what it wrote first usually
        // is), as a poll over both in order did; and output is read before the exit is taken.
        tokio::select! {
            biased;
            () = stdout.read_into(command), if stdout.open() => {}
            () = stderr.read_into(command), if stderr.open() => {}
            ready = exit.readable() => {
                let mut ready = ready?;
                if readable_now(exit.get_ref()) {
                    break;
                }
                ready.clear_ready();
            }
        }
    }
    // The reply is there: this read does not block.
    let code = match process.wait() {
        Ok(status) => status.shell_code(),
        Err(error) => {
            tracing::warn!(command = %command.id, %error, "a session command ended without its exit status");
            -1
        }
    };
    let until = tokio::time::Instant::now() + DRAIN;
    while stdout.open() || stderr.open() {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let read = async {
            tokio::select! {
                biased;
                () = stdout.read_into(command), if stdout.open() => {}
                () = stderr.read_into(command), if stderr.open() => {}
            }
        };
        if tokio::time::timeout(QUIET.min(left), read).await.is_err() {
            break;
        }
    }
    Ok(code)
}

/// Whether `fd` has data (or its end) to read right now.
fn readable_now(fd: &std::os::fd::OwnedFd) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).is_ok_and(|ready| ready > 0)
}
