//! The sandbox state machine, in one place: which command may run in which state, which state a
//! sandbox shows while the command runs, and which it ends in. Pure, so it is tested exhaustively.

use sandbar_api::SandboxState;

/// What a caller asks of a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run it.
    Start,
    /// Stop every process, keep the files.
    Stop,
    /// Remove it entirely. Allowed from every state.
    Delete,
    /// Start again after an error.
    Recover,
    /// Freeze every process (no CPU), keeping memory and connections.
    Pause,
    /// Pack a stopped sandbox's files into one compressed file and free its directory.
    Archive,
}

/// How to carry out a command from the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Already where the command leads: answer with the sandbox as it is.
    Nothing,
    /// Show `during` while the runtime works, then `after`.
    Run {
        /// State shown while running the command.
        during: SandboxState,
        /// State after success.
        after: SandboxState,
    },
}

/// The plan for `command` in `state`, or why it is refused (a 409 for the caller).
pub fn plan(state: SandboxState, command: Command) -> Result<Plan, String> {
    use SandboxState as S;
    let run = |during, after| Ok(Plan::Run { during, after });
    match (command, state) {
        (Command::Delete, S::Destroyed) => Ok(Plan::Nothing),
        // Delete works from every state: users of other platforms' top complaint is sandboxes
        // stuck in a transitional state that cannot be deleted.
        (Command::Delete, _) => run(S::Destroying, S::Destroyed),
        (Command::Start, S::Started) => Ok(Plan::Nothing),
        (Command::Start | Command::Recover, S::Paused) => run(S::Resuming, S::Started),
        (Command::Pause, S::Paused) => Ok(Plan::Nothing),
        (Command::Pause, S::Started) => run(S::Pausing, S::Paused),
        (Command::Archive, S::Archived) => Ok(Plan::Nothing),
        (Command::Archive, S::Stopped) => run(S::Archiving, S::Archived),
        (Command::Start | Command::Recover, S::Archived) => run(S::Restoring, S::Started),
        (Command::Stop, S::Paused) => run(S::Stopping, S::Stopped),
        (Command::Start | Command::Recover, S::Stopped | S::Error | S::Unknown) => run(S::Starting, S::Started),
        (Command::Recover, S::Started) => Ok(Plan::Nothing),
        (Command::Stop, S::Stopped) => Ok(Plan::Nothing),
        (Command::Stop, S::Started | S::Error | S::Unknown) => run(S::Stopping, S::Stopped),
        (command, state) => Err(format!("cannot {} a sandbox that is {}", verb(command), state.as_str())),
    }
}

/// The command as a verb, for messages.
pub fn verb(command: Command) -> &'static str {
    match command {
        Command::Start => "start",
        Command::Stop => "stop",
        Command::Delete => "delete",
        Command::Recover => "recover",
        Command::Pause => "pause",
        Command::Archive => "archive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SandboxState as S;

    const ALL: &[SandboxState] = &[
        S::Creating,
        S::Restoring,
        S::Destroyed,
        S::Destroying,
        S::Started,
        S::Stopped,
        S::Starting,
        S::Stopping,
        S::Error,
        S::BuildFailed,
        S::PendingBuild,
        S::BuildingSnapshot,
        S::Unknown,
        S::PullingSnapshot,
        S::Archived,
        S::Archiving,
        S::Resizing,
        S::Snapshotting,
        S::Forking,
        S::Pausing,
        S::Paused,
        S::Resuming,
    ];

    #[test]
    fn delete_is_allowed_from_every_state() {
        for state in ALL {
            assert!(plan(*state, Command::Delete).is_ok(), "delete refused in {state:?}");
        }
    }

    #[test]
    fn every_plan_ends_in_a_resting_state() {
        for state in ALL {
            for command in
                [Command::Start, Command::Stop, Command::Delete, Command::Recover, Command::Pause, Command::Archive]
            {
                if let Ok(Plan::Run { after, .. }) = plan(*state, command) {
                    assert!(
                        matches!(after, S::Started | S::Stopped | S::Destroyed | S::Paused | S::Archived),
                        "{command:?} in {state:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn repeated_commands_do_nothing() {
        assert_eq!(plan(S::Started, Command::Start), Ok(Plan::Nothing));
        assert_eq!(plan(S::Stopped, Command::Stop), Ok(Plan::Nothing));
        assert_eq!(plan(S::Destroyed, Command::Delete), Ok(Plan::Nothing));
    }

    #[test]
    fn transitional_states_refuse_start_and_stop_with_a_reason() {
        let err = plan(S::Starting, Command::Stop).unwrap_err();
        assert_eq!(err, "cannot stop a sandbox that is starting");
        assert!(plan(S::Creating, Command::Start).is_err());
    }

    #[test]
    fn paused_sandboxes_resume_on_start_and_can_stop() {
        assert_eq!(plan(S::Started, Command::Pause), Ok(Plan::Run { during: S::Pausing, after: S::Paused }));
        assert_eq!(plan(S::Paused, Command::Start), Ok(Plan::Run { during: S::Resuming, after: S::Started }));
        assert_eq!(plan(S::Paused, Command::Stop), Ok(Plan::Run { during: S::Stopping, after: S::Stopped }));
        assert_eq!(plan(S::Stopped, Command::Pause), Err("cannot pause a sandbox that is stopped".into()));
    }

    #[test]
    fn only_stopped_sandboxes_archive_and_start_restores_them() {
        assert_eq!(plan(S::Stopped, Command::Archive), Ok(Plan::Run { during: S::Archiving, after: S::Archived }));
        assert_eq!(plan(S::Archived, Command::Archive), Ok(Plan::Nothing));
        assert_eq!(plan(S::Started, Command::Archive), Err("cannot archive a sandbox that is started".into()));
        assert_eq!(plan(S::Archived, Command::Start), Ok(Plan::Run { during: S::Restoring, after: S::Started }));
        assert!(plan(S::Archived, Command::Stop).is_err());
    }

    #[test]
    fn errored_sandboxes_can_be_started_stopped_or_recovered() {
        assert_eq!(plan(S::Error, Command::Start), Ok(Plan::Run { during: S::Starting, after: S::Started }));
        assert_eq!(plan(S::Error, Command::Recover), Ok(Plan::Run { during: S::Starting, after: S::Started }));
        assert_eq!(plan(S::Error, Command::Stop), Ok(Plan::Run { during: S::Stopping, after: S::Stopped }));
    }
}
