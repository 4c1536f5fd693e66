//! Create, start, stop, start again, delete: state, files and idempotency.

use crate::common::{stdout, Fixture};
use sandbar_runtime::{BindMount, Error, ExecSpec, SandboxSpec, SandboxState, DEFAULT_IMAGE};
use std::time::Duration;

#[test]
fn files_survive_stop_and_start() {
    let fx = Fixture::new("files");
    let id = fx.default_sandbox("a");
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Running);
    let out = fx.sh(&id, "echo kept > /home/daytona/note && sudo sh -c 'echo root-kept > /etc/marker'");
    assert_eq!(out.status.shell_code(), 0, "{out:?}");

    fx.runtime.stop(&id, Duration::from_secs(1)).unwrap();
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Stopped);
    assert!(fx.runtime.cgroup_children().is_empty(), "a stopped sandbox keeps no cgroup");
    assert!(fx.runtime.upper_dir(&id).join("home/daytona/note").is_file(), "the writable layer holds the file");

    fx.runtime.start(&id).unwrap();
    let out = fx.sh(&id, "cat /home/daytona/note /etc/marker");
    assert_eq!(stdout(&out), "kept\nroot-kept\n");
    fx.runtime.delete(&id).unwrap();
    assert!(matches!(fx.runtime.state(&id), Err(Error::NotFound { .. })));
    assert!(fx.runtime.leftovers(&id).is_empty(), "{:?}", fx.runtime.leftovers(&id));
}

#[test]
fn stop_ends_every_process() {
    let fx = Fixture::new("stop");
    let id = fx.default_sandbox("a");
    let sleeper = fx.runtime.exec(&id, &ExecSpec::new(["sleep", "1000"])).unwrap();
    // A process that ignores SIGTERM must still go when the grace period ends.
    let stubborn = fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", "trap '' TERM; echo ready; sleep 1000"])).unwrap();
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(&mut stubborn.stdout.as_ref().unwrap(), &mut ready).unwrap();
    assert!(fx.runtime.pids(&id).unwrap().len() >= 3);
    fx.runtime.stop(&id, Duration::from_secs(2)).unwrap();
    // SIGTERM ended the sleeper during the grace period; the stubborn one died with init.
    assert_eq!(sleeper.wait().unwrap(), sandbar_runtime::ExitStatus::Signal(libc::SIGTERM));
    let stubborn = stubborn.wait();
    assert!(stubborn.is_err(), "the stubborn process reported {stubborn:?}");
    fx.runtime.start(&id).unwrap();
    let out = fx.sh(&id, "ps -e -o comm= | grep -c sleep || true");
    assert_eq!(stdout(&out).trim(), "0", "no process survives a stop");
}

#[test]
fn operations_are_idempotent_where_it_makes_sense() {
    let fx = Fixture::new("idem");
    let id = fx.id("a");
    let spec = SandboxSpec::new(DEFAULT_IMAGE);
    fx.runtime.create(&id, &spec).unwrap();
    assert!(matches!(fx.runtime.create(&id, &spec), Err(Error::AlreadyExists { .. })));
    assert!(matches!(fx.runtime.exec(&id, &ExecSpec::new(["true"])), Err(Error::NotRunning { .. })));
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    fx.runtime.start(&id).unwrap();
    let init = fx.runtime.init_pid(&id).unwrap();
    fx.runtime.start(&id).unwrap();
    assert_eq!(fx.runtime.init_pid(&id).unwrap(), init, "starting a running sandbox changes nothing");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    fx.runtime.delete(&id).unwrap();
    fx.runtime.delete(&id).unwrap();
    assert!(fx.runtime.leftovers(&id).is_empty());
}

#[test]
fn unknown_image_and_bad_specs_are_rejected_before_anything_exists() {
    let fx = Fixture::new("reject");
    let id = fx.id("a");
    let err = fx.runtime.create(&id, &SandboxSpec::new("no-such-image")).unwrap_err();
    assert!(matches!(err, Error::ImageNotFound { ref name } if name == "no-such-image"), "{err}");
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.env.push(("BAD-NAME".into(), "x".into()));
    assert!(matches!(fx.runtime.create(&id, &spec), Err(Error::InvalidSpec { .. })));
    assert!(fx.runtime.leftovers(&id).is_empty());
}

#[test]
fn failed_start_leaves_nothing_half_made() {
    let fx = Fixture::new("failstart");
    let host = tempfile::tempdir().unwrap();
    let source = host.path().join("gone");
    std::fs::create_dir(&source).unwrap();
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.mounts.push(BindMount { source: source.clone(), target: "/mnt/data".into(), read_only: false });
    let id = fx.id("a");
    fx.runtime.create(&id, &spec).unwrap();
    std::fs::remove_dir(&source).unwrap();

    let err = fx.runtime.start(&id).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::InitSetup { .. }), "{message}");
    assert!(message.contains(id.as_str()) && message.contains("/mnt/data"), "error names sandbox and step: {message}");
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Stopped);
    assert!(fx.runtime.cgroup_children().is_empty(), "failed start removed its cgroup");

    std::fs::create_dir(&source).unwrap();
    fx.runtime.start(&id).unwrap();
    assert_eq!(fx.sh(&id, "true").status.shell_code(), 0);
}

#[test]
fn bind_mounts_are_visible_read_write_and_read_only() {
    let fx = Fixture::new("binds");
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("given"), "from host\n").unwrap();
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.mounts.push(BindMount { source: rw.path().into(), target: "/work/out".into(), read_only: false });
    spec.mounts.push(BindMount { source: ro.path().into(), target: "/work/in".into(), read_only: true });
    let id = fx.started("a", &spec);
    let out = fx.sh_as(
        &id,
        Some("root"),
        "cat /work/in/given && echo made > /work/out/made && (echo x > /work/in/nope) 2>&1; true",
    );
    let text = stdout(&out);
    assert!(text.starts_with("from host\n"), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
    assert_eq!(std::fs::read_to_string(rw.path().join("made")).unwrap(), "made\n");
    assert!(!ro.path().join("nope").exists());
}

#[test]
fn env_user_and_cwd_are_as_asked() {
    let fx = Fixture::new("env");
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.env.push(("FROM_SANDBOX".into(), "s".into()));
    spec.env.push(("OVERRIDDEN".into(), "sandbox".into()));
    let id = fx.started("a", &spec);

    let mut exec = ExecSpec::new(["sh", "-c", "echo $FROM_SANDBOX $OVERRIDDEN $FROM_EXEC; id -un; pwd; echo $HOME"]);
    exec.env.push(("OVERRIDDEN".into(), "exec".into()));
    exec.env.push(("FROM_EXEC".into(), "e".into()));
    let out = fx.runtime.exec(&id, &exec).unwrap().output().unwrap();
    assert_eq!(stdout(&out), "s exec e\ndaytona\n/home/daytona\n/home/daytona\n");

    exec.user = Some("root".into());
    exec.cwd = Some("/tmp".into());
    let out = fx.runtime.exec(&id, &exec).unwrap().output().unwrap();
    assert_eq!(stdout(&out), "s exec e\nroot\n/tmp\n/root\n");

    exec.cwd = Some("/does/not/exist".into());
    let err = fx.runtime.exec(&id, &exec).unwrap_err().to_string();
    assert!(err.contains("chdir /does/not/exist") && err.contains(id.as_str()), "{err}");
    exec.cwd = None;
    exec.user = Some("nobody-here".into());
    let err = fx.runtime.exec(&id, &exec).unwrap_err().to_string();
    assert!(err.contains("nobody-here"), "{err}");
}

#[test]
fn an_init_killed_from_outside_is_reported_once_and_a_stop_is_no_exit() {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let fx = Fixture::new("death");
    let id = fx.default_sandbox("a");
    let watch = fx.runtime.watch_init(&id).unwrap().expect("a running sandbox has an init to watch");
    assert_eq!(watch.pid(), fx.runtime.init_pid(&id).unwrap());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(watch.pid()), nix::sys::signal::Signal::SIGKILL).unwrap();
    // The pidfd becomes readable once init is gone (bounded wait: 20 s).
    let mut fds = [PollFd::new(watch.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(20_000u16)).unwrap(), 1, "the pidfd never became readable");
    let exit = fx.runtime.init_exit(&watch).expect("an exit on its own is reported");
    assert_eq!(exit.status, Some(sandbar_runtime::ExitStatus::Signal(libc::SIGKILL)));
    assert!(!exit.oom_killed(), "{exit}");
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Stopped);
    assert!(fx.runtime.cgroup_children().is_empty(), "the dead init's cgroup is removed");
    assert_eq!(fx.runtime.init_exit(&watch), None, "an exit is reported once");

    // A stopped init is no exit on its own.
    fx.runtime.start(&id).unwrap();
    let watch = fx.runtime.watch_init(&id).unwrap().unwrap();
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    assert_eq!(fx.runtime.init_exit(&watch), None);
    assert!(fx.runtime.watch_init(&id).unwrap().is_none(), "a stopped sandbox has no init to watch");
}
