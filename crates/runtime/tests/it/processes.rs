//! Processes in a running sandbox: stdio, PTYs, exit statuses, signals, concurrency, detach.

use crate::common::{stdout, Fixture};
use sandbar_runtime::{Error, ExecSpec, ExecStdio, ExitStatus, SpawnErrorKind};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn stdout_stderr_and_exit_code_are_separate() {
    let fx = Fixture::new("stdio");
    let id = fx.default_sandbox("a");
    let out = fx.sh(&id, "echo out; echo err >&2; exit 7");
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status, ExitStatus::Code(7));
}

#[test]
fn stdin_is_real_and_closes_when_the_caller_is_done() {
    let fx = Fixture::new("stdin");
    let id = fx.default_sandbox("a");
    let mut process = fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", "cat; echo eof-seen"])).unwrap();
    process.stdin.as_mut().unwrap().write_all(b"typed\n").unwrap();
    let out = process.output().unwrap();
    assert_eq!(stdout(&out), "typed\neof-seen\n");
    // Nothing to send: `output` closes stdin first, so a reader sees EOF instead of hanging.
    let out = fx.runtime.exec(&id, &ExecSpec::new(["cat"])).unwrap().output().unwrap();
    assert_eq!(out.status, ExitStatus::Code(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn signals_are_reported_and_delivered() {
    let fx = Fixture::new("signals");
    let id = fx.default_sandbox("a");
    let out = fx.sh(&id, "kill -9 $$");
    assert_eq!(out.status, ExitStatus::Signal(9));

    let process = fx.runtime.exec(&id, &ExecSpec::new(["sleep", "1000"])).unwrap();
    process.kill(libc::SIGTERM, false).unwrap();
    assert_eq!(process.wait().unwrap(), ExitStatus::Signal(libc::SIGTERM));

    let err = fx.runtime.kill(&id, 1, libc::SIGKILL, false).unwrap_err();
    assert!(matches!(err, Error::Request { .. }), "init refuses to signal itself: {err}");
    let err = fx.runtime.exec(&id, &ExecSpec::new(["/no/such/program"])).unwrap_err().to_string();
    assert!(err.contains("exec /no/such/program") && err.contains("ENOENT"), "{err}");
}

#[test]
fn a_failed_spawn_says_why_as_a_kind() {
    let fx = Fixture::new("spawnkind");
    let id = fx.default_sandbox("a");
    let kind_of = |exec: ExecSpec| match fx.runtime.exec(&id, &exec) {
        Err(Error::Request { kind, error, .. }) => (kind, error),
        other => panic!("expected a refused spawn, got {other:?}"),
    };
    let (kind, error) = kind_of(ExecSpec::new(["no-such-program"]));
    assert_eq!(kind, SpawnErrorKind::NotFound, "{error}");
    assert!(error.starts_with("exec no-such-program:"), "{error}");
    fx.sh(&id, "printf '#!/bin/sh\\n' > /tmp/plain; chmod 644 /tmp/plain");
    let (kind, error) = kind_of(ExecSpec::new(["/tmp/plain"]));
    assert_eq!(kind, SpawnErrorKind::PermissionDenied, "{error}");
    let mut exec = ExecSpec::new(["true"]);
    exec.cwd = Some("/no/such/dir".into());
    let (kind, error) = kind_of(exec);
    assert_eq!(kind, SpawnErrorKind::BadCwd, "{error}");
    assert!(error.starts_with("chdir /no/such/dir:"), "{error}");
    let mut exec = ExecSpec::new(["true"]);
    exec.user = Some("nobody-here".into());
    let (kind, error) = kind_of(exec);
    assert_eq!(kind, SpawnErrorKind::BadUser, "{error}");
    let err = fx.runtime.kill(&id, 1, libc::SIGKILL, false).unwrap_err();
    assert!(matches!(err, Error::Request { kind: SpawnErrorKind::Other, .. }), "{err}");
}

#[test]
fn killing_a_group_ends_its_children() {
    let fx = Fixture::new("group");
    let id = fx.default_sandbox("a");
    let process =
        fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", "sleep 1000 & sleep 1000 & echo started; wait"])).unwrap();
    let mut first = [0u8; 8];
    process.stdout.as_ref().unwrap().read_exact(&mut first).unwrap();
    assert_eq!(&first, b"started\n");
    process.kill(libc::SIGKILL, true).unwrap();
    assert_eq!(process.wait().unwrap(), ExitStatus::Signal(9));
    // Killed children are reaped by init asynchronously; poll until none is left.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = fx.sh(&id, "ps -e -o stat=,comm= | grep -v '^Z' | grep -c ' sleep$' || true");
        if stdout(&out).trim() == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the group's sleeps survived: {}", stdout(&out));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pty_is_a_terminal_and_resizes() {
    let fx = Fixture::new("pty");
    let id = fx.default_sandbox("a");
    let mut exec = ExecSpec::new(["sh", "-c", "tty; stty size; read line; stty size; echo got:$line"]);
    exec.stdio = ExecStdio::Pty { rows: 24, cols: 80 };
    let mut process = fx.runtime.exec(&id, &exec).unwrap();
    let pty = process.pty.take().unwrap();
    let mut seen = Vec::new();
    let mut master = pty.master.try_clone().unwrap();
    let mut buffer = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("24 80") {
        let n = master.read(&mut buffer).unwrap();
        assert!(n > 0, "pty closed early: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    pty.resize(40, 120).unwrap();
    master.write_all(b"hello\n").unwrap();
    loop {
        match master.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("/dev/pts/0"), "{text}");
    assert!(text.contains("40 120") && text.contains("got:hello"), "{text}");
    assert_eq!(process.wait().unwrap(), ExitStatus::Code(0));
}

#[test]
fn many_processes_at_once() {
    let fx = Fixture::new("many");
    let id = fx.default_sandbox("a");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let fx = &fx;
                let id = &id;
                scope.spawn(move || fx.sh(id, &format!("echo {i}")))
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(stdout(&handle.join().unwrap()), format!("{i}\n"));
        }
    });
}

#[test]
fn a_process_outlives_its_caller() {
    let fx = Fixture::new("detach");
    let id = fx.default_sandbox("a");
    let mut exec = ExecSpec::new(["sh", "-c", "sleep 0.3; echo finished > /tmp/marker"]);
    exec.user = Some("root".into());
    let process = fx.runtime.exec(&id, &exec).unwrap();
    drop(process);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = fx.sh(&id, "cat /tmp/marker 2>/dev/null || true");
        if stdout(&out) == "finished\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the detached process never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn env_updates_apply_to_later_processes_until_the_sandbox_stops() {
    let fx = Fixture::new("envupdate");
    let id = fx.default_sandbox("a");
    let before = fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", "read x; echo ${LATE:-none}"])).unwrap();
    fx.runtime.update_env(&id, &[("GONE".into(), "soon".into())], &[], None).unwrap();
    let env = fx.runtime.update_env(&id, &[("LATE".into(), "yes".into())], &["GONE".into()], None).unwrap();
    assert!(env.contains(&("LATE".into(), "yes".into())) && !env.iter().any(|(k, _)| k == "GONE"), "{env:?}");
    assert_eq!(stdout(&fx.sh(&id, "echo $LATE ${GONE:-unset}")), "yes unset\n");
    // A process started before keeps the environment it started with.
    let mut before = before;
    before.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(stdout(&before.output().unwrap()), "none\n");
    let err = fx.runtime.update_env(&id, &[("1X".into(), "v".into())], &[], None).unwrap_err();
    assert!(matches!(err, Error::InvalidSpec { .. }), "{err}");

    fx.runtime.stop(&id, Duration::from_secs(1)).unwrap();
    fx.runtime.start(&id).unwrap();
    assert_eq!(stdout(&fx.sh(&id, "echo ${LATE:-forgotten}")), "forgotten\n");
}

#[test]
fn usage_reads_cpu_memory_and_disk() {
    let fx = Fixture::new("usage");
    let id = fx.default_sandbox("a");
    let first = fx.runtime.usage(&id).unwrap();
    fx.sh(&id, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; head -c 5000000 /dev/zero > /tmp/fill");
    let second = fx.runtime.usage(&id).unwrap();
    assert!(second.cpu_time_ns > first.cpu_time_ns, "{first:?} then {second:?}");
    assert!(second.memory_used + second.memory_cache > 0 && second.memory_limit > 0, "{second:?}");
    assert!(second.disk_total > 0 && second.disk_used <= second.disk_total, "{second:?}");
    assert!(second.cpus >= 1.0, "{second:?}");
}
