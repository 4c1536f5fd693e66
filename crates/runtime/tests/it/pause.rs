//! Pause and resume: frozen processes use no CPU and come back intact.

use crate::common::{stdout, Fixture};
use sandbar_runtime::{Error, ExecSpec, ExitStatus, SandboxState};
use std::io::{Read, Write};
use std::time::Duration;

/// CPU time the sandbox's cgroup has used, in microseconds (v1 cpuacct or v2 cpu.stat).
fn cpu_used_us(fx: &Fixture, id: &sandbar_runtime::SandboxId) -> u64 {
    for dir in fx.runtime.cgroup_dirs(id) {
        if let Ok(nanos) = std::fs::read_to_string(dir.join("cpuacct.usage")) {
            return nanos.trim().parse::<u64>().unwrap() / 1000;
        }
        if let Ok(stat) = std::fs::read_to_string(dir.join("cpu.stat")) {
            if let Some(line) = stat.lines().find(|l| l.starts_with("usage_usec ")) {
                return line[11..].trim().parse().unwrap();
            }
        }
    }
    panic!("no cpu accounting file in {:?}", fx.runtime.cgroup_dirs(id));
}

#[test]
fn paused_processes_use_no_cpu_and_resume_intact() {
    let fx = Fixture::new("pause");
    let id = fx.default_sandbox("a");
    let busy = fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", "while :; do :; done"])).unwrap();
    // A process with an open pipe and state in memory: it must answer after the resume.
    let mut echo = fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", "x=kept; read line; echo $x:$line"])).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let pids_before = fx.runtime.pids(&id).unwrap();

    fx.runtime.pause(&id).unwrap();
    fx.runtime.pause(&id).unwrap();
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Paused);
    assert!(matches!(fx.runtime.exec(&id, &ExecSpec::new(["true"])), Err(Error::Paused { .. })));
    let frozen_at = cpu_used_us(&fx, &id);
    std::thread::sleep(Duration::from_millis(300));
    let frozen_used = cpu_used_us(&fx, &id) - frozen_at;
    assert!(frozen_used < 5_000, "a paused sandbox used {frozen_used} µs of CPU");
    assert_eq!(fx.runtime.pids(&id).unwrap(), pids_before, "pausing kills nothing");

    fx.runtime.resume(&id).unwrap();
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Running);
    // The busy loop runs again: its CPU time grows (polled, so a loaded machine only slows this).
    let thawed_at = cpu_used_us(&fx, &id);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cpu_used_us(&fx, &id) - thawed_at < 20_000 {
        assert!(std::time::Instant::now() < deadline, "the busy loop never ran again after resume");
        std::thread::sleep(Duration::from_millis(20));
    }

    echo.stdin.take().unwrap().write_all(b"line\n").unwrap();
    let mut text = String::new();
    echo.stdout.take().unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "kept:line\n");
    assert_eq!(echo.wait().unwrap(), ExitStatus::Code(0));
    busy.kill(libc::SIGKILL, false).unwrap();
    assert_eq!(busy.wait().unwrap(), ExitStatus::Signal(9));
    assert_eq!(stdout(&fx.sh(&id, "echo after")), "after\n");
}

#[test]
fn a_paused_sandbox_can_be_stopped_and_deleted() {
    let fx = Fixture::new("pausestop");
    let id = fx.default_sandbox("a");
    let _sleeper = fx.runtime.exec(&id, &ExecSpec::new(["sleep", "1000"])).unwrap();
    fx.runtime.pause(&id).unwrap();
    fx.runtime.stop(&id, Duration::from_millis(100)).unwrap();
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Stopped);
    fx.runtime.start(&id).unwrap();
    fx.runtime.pause(&id).unwrap();
    fx.runtime.delete(&id).unwrap();
    assert!(fx.runtime.leftovers(&id).is_empty());
}
