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
    /// Make and start a sandbox just recorded (born `creating`).
    Create,
    /// Copy a sandbox into a new one. Its plan is the new sandbox's: `creating` while the files
    /// are copied, then `started` when the source runs or is paused, `stopped` when it is
    /// stopped. The source itself shows no change.
    Fork,
    /// Make an image of its files; it shows `snapshotting` and then the state it had.
    Snapshot,
    /// Change its limits; it shows `resizing` and then the state it had.
    Resize,
}

impl Command {
    /// Every command, for exhaustive tests.
    pub const ALL: [Command; 10] = [
        Command::Start,
        Command::Stop,
        Command::Delete,
        Command::Recover,
        Command::Pause,
        Command::Archive,
        Command::Create,
        Command::Fork,
        Command::Snapshot,
        Command::Resize,
    ];

    /// The command as a verb, for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Delete => "delete",
            Command::Recover => "recover",
            Command::Pause => "pause",
            Command::Archive => "archive",
            Command::Create => "create",
            Command::Fork => "fork",
            Command::Snapshot => "snapshot",
            Command::Resize => "resize",
        }
    }
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

/// A command the sandbox's state does not allow (a 409 for the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a sandbox that is {}", .command.verb(), .state.as_str())]
pub struct Refused {
    /// What was asked.
    pub command: Command,
    /// The state that does not allow it.
    pub state: SandboxState,
}

/// The plan for `command` in `state`, or why it is refused.
pub fn plan(state: SandboxState, command: Command) -> Result<Plan, Refused> {
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
        (Command::Create, S::Creating) => run(S::Creating, S::Started),
        (Command::Fork, S::Started | S::Paused) => run(S::Creating, S::Started),
        (Command::Fork, S::Stopped) => run(S::Creating, S::Stopped),
        // Files are copied, and limits changed, only of a sandbox at rest: never while another
        // operation moves them.
        (Command::Snapshot, S::Started | S::Stopped | S::Paused) => run(S::Snapshotting, state),
        (Command::Resize, S::Started | S::Stopped) => run(S::Resizing, state),
        (command, state) => Err(Refused { command, state }),
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
            for command in Command::ALL {
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
        assert_eq!(err, Refused { command: Command::Stop, state: S::Starting });
        assert_eq!(err.to_string(), "cannot stop a sandbox that is starting");
        assert!(plan(S::Creating, Command::Start).is_err());
    }

    #[test]
    fn paused_sandboxes_resume_on_start_and_can_stop() {
        assert_eq!(plan(S::Started, Command::Pause), Ok(Plan::Run { during: S::Pausing, after: S::Paused }));
        assert_eq!(plan(S::Paused, Command::Start), Ok(Plan::Run { during: S::Resuming, after: S::Started }));
        assert_eq!(plan(S::Paused, Command::Stop), Ok(Plan::Run { during: S::Stopping, after: S::Stopped }));
        assert_eq!(plan(S::Stopped, Command::Pause).unwrap_err().to_string(), "cannot pause a sandbox that is stopped");
    }

    #[test]
    fn only_stopped_sandboxes_archive_and_start_restores_them() {
        assert_eq!(plan(S::Stopped, Command::Archive), Ok(Plan::Run { during: S::Archiving, after: S::Archived }));
        assert_eq!(plan(S::Archived, Command::Archive), Ok(Plan::Nothing));
        assert_eq!(
            plan(S::Started, Command::Archive).unwrap_err().to_string(),
            "cannot archive a sandbox that is started"
        );
        assert_eq!(plan(S::Archived, Command::Start), Ok(Plan::Run { during: S::Restoring, after: S::Started }));
        assert!(plan(S::Archived, Command::Stop).is_err());
    }

    #[test]
    fn errored_sandboxes_can_be_started_stopped_or_recovered() {
        assert_eq!(plan(S::Error, Command::Start), Ok(Plan::Run { during: S::Starting, after: S::Started }));
        assert_eq!(plan(S::Error, Command::Recover), Ok(Plan::Run { during: S::Starting, after: S::Started }));
        assert_eq!(plan(S::Error, Command::Stop), Ok(Plan::Run { during: S::Stopping, after: S::Stopped }));
    }

    /// The states a command is planned in; every other state refuses it.
    fn allowed(command: Command) -> Vec<SandboxState> {
        ALL.iter().copied().filter(|state| plan(*state, command).is_ok()).collect()
    }

    #[test]
    fn every_refusal_names_the_command_and_the_state() {
        for state in ALL {
            for command in Command::ALL {
                if let Err(refused) = plan(*state, command) {
                    assert_eq!(refused, Refused { command, state: *state });
                    assert_eq!(
                        refused.to_string(),
                        format!("cannot {} a sandbox that is {}", command.verb(), state.as_str())
                    );
                }
            }
        }
    }

    #[test]
    fn fork_plans_the_new_sandbox_from_a_resting_source() {
        assert_eq!(allowed(Command::Fork), [S::Started, S::Stopped, S::Paused]);
        assert_eq!(plan(S::Started, Command::Fork), Ok(Plan::Run { during: S::Creating, after: S::Started }));
        assert_eq!(plan(S::Paused, Command::Fork), Ok(Plan::Run { during: S::Creating, after: S::Started }));
        assert_eq!(plan(S::Stopped, Command::Fork), Ok(Plan::Run { during: S::Creating, after: S::Stopped }));
        assert_eq!(plan(S::Archived, Command::Fork).unwrap_err().to_string(), "cannot fork a sandbox that is archived");
        assert_eq!(plan(S::Forking, Command::Fork).unwrap_err().to_string(), "cannot fork a sandbox that is forking");
    }

    #[test]
    fn snapshot_shows_snapshotting_and_returns_to_where_it_was() {
        assert_eq!(allowed(Command::Snapshot), [S::Started, S::Stopped, S::Paused]);
        for state in [S::Started, S::Stopped, S::Paused] {
            assert_eq!(plan(state, Command::Snapshot), Ok(Plan::Run { during: S::Snapshotting, after: state }));
        }
        assert_eq!(
            plan(S::Snapshotting, Command::Snapshot).unwrap_err().to_string(),
            "cannot snapshot a sandbox that is snapshotting"
        );
        assert_eq!(
            plan(S::Error, Command::Snapshot).unwrap_err().to_string(),
            "cannot snapshot a sandbox that is error"
        );
    }

    #[test]
    fn resize_shows_resizing_and_returns_to_where_it_was() {
        assert_eq!(allowed(Command::Resize), [S::Started, S::Stopped]);
        for state in [S::Started, S::Stopped] {
            assert_eq!(plan(state, Command::Resize), Ok(Plan::Run { during: S::Resizing, after: state }));
        }
        assert_eq!(plan(S::Paused, Command::Resize).unwrap_err().to_string(), "cannot resize a sandbox that is paused");
        assert_eq!(
            plan(S::Resizing, Command::Resize).unwrap_err().to_string(),
            "cannot resize a sandbox that is resizing"
        );
    }

    #[test]
    fn create_runs_only_for_a_sandbox_just_recorded() {
        assert_eq!(allowed(Command::Create), [S::Creating]);
        assert_eq!(plan(S::Creating, Command::Create), Ok(Plan::Run { during: S::Creating, after: S::Started }));
        assert_eq!(
            plan(S::Started, Command::Create).unwrap_err().to_string(),
            "cannot create a sandbox that is started"
        );
    }

    #[test]
    fn the_other_commands_keep_their_states() {
        assert_eq!(allowed(Command::Start), [S::Started, S::Stopped, S::Error, S::Unknown, S::Archived, S::Paused]);
        assert_eq!(allowed(Command::Stop), [S::Started, S::Stopped, S::Error, S::Unknown, S::Paused]);
        assert_eq!(allowed(Command::Recover), [S::Started, S::Stopped, S::Error, S::Unknown, S::Archived, S::Paused]);
        assert_eq!(allowed(Command::Pause), [S::Started, S::Paused]);
        assert_eq!(allowed(Command::Archive), [S::Stopped, S::Archived]);
        assert_eq!(allowed(Command::Delete), ALL);
    }
}
