//! One command of a session: its process id, its [`SessionLog`], its stdin while it takes input,
//! and a change counter that wakes whoever waits for it or follows its log. No transport here:
//! the HTTP routes and a future SSH gateway read it through [`Command::wait`],
//! [`Command::follow`] and [`Command::input`].

use super::log::{SessionLog, Stream};
use crate::ToolboxError;
use sandbar_api::toolbox::session::Command as CommandSummary;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// One command of a session and everything it printed.
pub(crate) struct Command {
    pub(crate) id: String,
    /// The process in the sandbox's pid namespace (its group is killed with the session).
    pub(crate) pid: i32,
    command: String,
    state: Mutex<CommandState>,
    /// Bumped on every change, so followers wake up.
    changed: watch::Sender<u64>,
}

struct CommandState {
    log: SessionLog,
    exit_code: Option<i32>,
    stdin: Option<std::fs::File>,
    suppress_echo: bool,
}

/// What a command printed so far, and its exit code once it ended.
pub(crate) struct Snapshot {
    /// The combined log with its stream markers.
    pub(crate) log: Vec<u8>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) exit_code: Option<i32>,
}

/// Why a command does not take input.
pub(crate) enum InputRefused {
    /// It ended.
    Completed,
    /// Only `runAsync` commands keep their stdin.
    NoStdin,
}

impl Command {
    /// A running command; `stdin` is kept only for commands that take input.
    pub(crate) fn new(
        id: String,
        pid: i32,
        command: String,
        stdin: Option<std::fs::File>,
        suppress_echo: bool,
    ) -> Command {
        Command::with_log(id, pid, command, stdin, suppress_echo, SessionLog::default())
    }

    /// A running command whose output goes into `log` (one counted against its sandbox's log
    /// budget).
    pub(crate) fn with_log(
        id: String,
        pid: i32,
        command: String,
        stdin: Option<std::fs::File>,
        suppress_echo: bool,
        log: SessionLog,
    ) -> Command {
        let state = CommandState { log, stdin, suppress_echo, exit_code: None };
        Command { id, pid, command, state: Mutex::new(state), changed: watch::channel(0).0 }
    }

    /// A command that already ended with an empty log (stands for a missing entrypoint).
    pub(crate) fn finished_empty(id: &str) -> Command {
        let command = Command::new(id.to_string(), 0, String::new(), None, false);
        command.state().exit_code = Some(0);
        command
    }

    fn state(&self) -> MutexGuard<'_, CommandState> {
        sandbar_runtime::lock(&self.state)
    }

    /// Adds output read from `stream` to the log.
    pub(crate) fn append(&self, stream: Stream, bytes: &[u8]) {
        let changed = self.state().log.append(stream, bytes);
        if changed {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Records the exit code and closes stdin.
    pub(crate) fn finish(&self, exit_code: i32) {
        {
            let mut state = self.state();
            state.exit_code = Some(exit_code);
            state.stdin = None;
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Whether the command still runs.
    pub(crate) fn running(&self) -> bool {
        self.state().exit_code.is_none()
    }

    /// Waits until the command ended.
    pub(crate) async fn wait(&self) {
        let mut changes = self.changed.subscribe();
        while self.running() {
            if changes.changed().await.is_err() {
                break;
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.state();
        Snapshot {
            log: state.log.bytes(),
            stdout: state.log.stdout(),
            stderr: state.log.stderr(),
            exit_code: state.exit_code,
        }
    }

    pub(crate) fn summary(&self) -> CommandSummary {
        CommandSummary { id: self.id.clone(), command: self.command.clone(), exit_code: self.state().exit_code }
    }

    /// A reader of the log from its start, which waits for more until the command ended.
    pub(crate) fn follow(self: &Arc<Self>) -> Follower {
        Follower { changes: self.changed.subscribe(), command: Arc::clone(self), sent: 0 }
    }

    /// A handle on the command's stdin and whether input is echoed into the log; refused once
    /// the command ended or when it was not started to take input.
    pub(crate) fn input(&self) -> Result<Result<(std::fs::File, bool), InputRefused>, ToolboxError> {
        let state = self.state();
        if state.exit_code.is_some() {
            return Ok(Err(InputRefused::Completed));
        }
        let Some(stdin) = state.stdin.as_ref() else { return Ok(Err(InputRefused::NoStdin)) };
        let writer = stdin.try_clone().map_err(|e| ToolboxError::internal(&e))?;
        Ok(Ok((writer, !state.suppress_echo)))
    }
}

/// Follows one command's log: every byte once, in order, then the end.
pub(crate) struct Follower {
    command: Arc<Command>,
    changes: watch::Receiver<u64>,
    sent: usize,
}

impl Follower {
    /// The log bytes not yet returned, waiting for them while the command runs; `None` once the
    /// command ended and everything was returned. Cancel-safe: a dropped call loses nothing.
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let (chunk, done) = {
                let state = self.command.state();
                (state.log.since(self.sent), state.exit_code.is_some())
            };
            if !chunk.is_empty() {
                self.sent += chunk.len();
                return Some(chunk);
            }
            if done || self.changes.changed().await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_sees_everything_once_then_the_end() {
        let command = Arc::new(Command::new("c".into(), 1, "echo".into(), None, false));
        command.append(Stream::Stdout, b"early\n");
        let mut follower = command.follow();
        assert_eq!(follower.next().await.as_deref(), Some(&b"\x01\x01\x01early\n"[..]));
        let writer = Arc::clone(&command);
        let late = tokio::spawn(async move {
            writer.append(Stream::Stderr, b"late\n");
            writer.finish(3);
        });
        let mut rest = Vec::new();
        while let Some(chunk) = follower.next().await {
            rest.extend(chunk);
        }
        late.await.unwrap();
        assert_eq!(rest, b"\x02\x02\x02late\n");
        assert_eq!(command.snapshot().exit_code, Some(3));
        assert!(follower.next().await.is_none(), "the end is sticky");
    }

    #[tokio::test]
    async fn wait_returns_when_the_command_ends() {
        let command = Arc::new(Command::new("c".into(), 1, "sleep".into(), None, false));
        let finisher = Arc::clone(&command);
        let waiter = tokio::spawn(async move { command.wait().await });
        finisher.finish(0);
        waiter.await.unwrap();
        assert!(!finisher.running());
    }

    #[test]
    fn input_is_refused_without_stdin_and_after_the_end() {
        let command = Command::new("c".into(), 1, "cat".into(), None, false);
        assert!(matches!(command.input(), Ok(Err(InputRefused::NoStdin))));
        command.finish(0);
        assert!(matches!(command.input(), Ok(Err(InputRefused::Completed))));
        let empty = Command::finished_empty("entrypoint_command");
        assert_eq!(empty.snapshot().exit_code, Some(0));
        assert!(empty.snapshot().log.is_empty());
    }
}
