//! cgroup limits: memory (OOM kill stays inside the sandbox), pids (fork bombs stop), cpu quota,
//! and the bounds on all sandboxes together (the parent cgroup's).

use crate::common::{stdout, Fixture};
use sandbar_runtime::{ExecSpec, ExitStatus, HostBounds, SandboxId, SandboxSpec, DEFAULT_IMAGE};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The sandbox's cgroup file `name`, from whichever hierarchy has it (v1 or v2).
fn cgroup_file(fx: &Fixture, id: &SandboxId, name: &str) -> PathBuf {
    fx.runtime
        .cgroup_dirs(id)
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("no cgroup of {id} has {name}"))
}

fn counter(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(key).map(|rest| rest.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no {key} in {text:?}"))
}

#[test]
fn memory_hog_is_killed_inside_its_own_sandbox_only() {
    let fx = Fixture::new("oom");
    let neighbour = fx.default_sandbox("neighbour");
    let bystander = fx.runtime.exec(&neighbour, &ExecSpec::new(["sleep", "1000"])).unwrap();
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.limits.memory_bytes = Some(64 << 20);
    let id = fx.started("hog", &spec);

    let limit = std::fs::read_to_string(cgroup_file(&fx, &id, "memory.limit_in_bytes"))
        .or_else(|_| std::fs::read_to_string(cgroup_file(&fx, &id, "memory.max")))
        .unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());

    let out = fx.sh(&id, "exec python3 -c 'x = bytearray(200 << 20); print(len(x))'");
    assert_eq!(out.status, ExitStatus::Signal(9), "the hog is OOM-killed: {out:?}");
    let events = std::fs::read_to_string(cgroup_file(&fx, &id, "memory.oom_control"))
        .or_else(|_| std::fs::read_to_string(cgroup_file(&fx, &id, "memory.events")))
        .unwrap();
    assert!(counter(&events, "oom_kill ") >= 1, "{events}");

    // The sandbox itself lives on, and so does its neighbour's process.
    assert_eq!(stdout(&fx.sh(&id, "echo alive")), "alive\n");
    assert!(fx.runtime.pids(&neighbour).unwrap().len() >= 2, "the neighbour's sleep still runs");
    bystander.kill(libc::SIGKILL, false).unwrap();
    assert_eq!(bystander.wait().unwrap(), ExitStatus::Signal(9));
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    let fx = Fixture::new("forkbomb");
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.limits.pids = Some(64);
    let id = fx.started("bomb", &spec);
    assert_eq!(std::fs::read_to_string(cgroup_file(&fx, &id, "pids.max")).unwrap().trim(), "64");

    let bomb = fx.runtime.exec(&id, &ExecSpec::new(["bash", "-c", "bomb() { bomb | bomb & }; bomb"])).unwrap();
    drop(bomb);
    let events_path = cgroup_file(&fx, &id, "pids.events");
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(&std::fs::read_to_string(&events_path).unwrap(), "max ") == 0 {
        assert!(Instant::now() < deadline, "the bomb never reached the limit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let current: u64 = std::fs::read_to_string(cgroup_file(&fx, &id, "pids.current")).unwrap().trim().parse().unwrap();
    assert!(current <= 64, "pids.current {current} is over the limit");
    // The host is unaffected and the sandbox can still be stopped cleanly.
    assert!(std::process::Command::new("true").status().unwrap().success());
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    assert!(fx.runtime.cgroup_children().is_empty());
}

#[test]
fn cpu_limit_becomes_a_quota() {
    let fx = Fixture::new("cpu");
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.limits.cpu_millis = Some(500);
    let id = fx.started("cpu", &spec);
    let quota = std::fs::read_to_string(cgroup_file(&fx, &id, "cpu.cfs_quota_us"))
        .map(|q| q.trim().to_string())
        .or_else(|_| {
            std::fs::read_to_string(cgroup_file(&fx, &id, "cpu.max"))
                .map(|m| m.split_whitespace().next().unwrap().to_string())
        })
        .unwrap();
    assert_eq!(quota, "50000");
    // A busy loop runs (throttled, not killed) and the sandbox stays responsive.
    let busy = fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", "while :; do :; done"])).unwrap();
    assert_eq!(stdout(&fx.sh(&id, "echo responsive")), "responsive\n");
    busy.kill(libc::SIGKILL, false).unwrap();
    assert_eq!(busy.wait().unwrap(), ExitStatus::Signal(9));
}

/// The parent cgroup's file `name` (the directory above a sandbox's cgroup that has it).
fn parent_file(fx: &Fixture, id: &SandboxId, name: &str) -> PathBuf {
    fx.runtime
        .cgroup_dirs(id)
        .into_iter()
        .filter_map(|dir| dir.parent().map(|p| p.join(name)))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("no parent cgroup of {id} has {name}"))
}

#[test]
fn sandboxes_together_stay_within_the_host_bounds() {
    // Each sandbox may have 4096 pids and 1 GiB; all of them together get 200 pids and 160 MiB.
    let bounds = HostBounds { pids: 200, memory_bytes: 160 << 20 };
    let fx = Fixture::with_bounds("bounds", bounds);
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.limits.pids = Some(4096);
    spec.limits.memory_bytes = Some(1 << 30);
    let bomber = fx.started("bomber", &spec);
    let hog = fx.started("hog", &spec);
    assert_eq!(std::fs::read_to_string(parent_file(&fx, &bomber, "pids.max")).unwrap().trim(), "200");
    let memory_limit = std::fs::read_to_string(parent_file(&fx, &hog, "memory.limit_in_bytes"))
        .or_else(|_| std::fs::read_to_string(parent_file(&fx, &hog, "memory.max")))
        .unwrap();
    assert_eq!(memory_limit.trim(), (160u64 << 20).to_string());

    // A fork bomb under a 4096-pid limit stops at the parent's 200.
    let bomb = fx.runtime.exec(&bomber, &ExecSpec::new(["bash", "-c", "bomb() { bomb | bomb & }; bomb"])).unwrap();
    drop(bomb);
    // A refused fork counts in the forking cgroup's pids.events on v1, in every level's on v2.
    let events_path = cgroup_file(&fx, &bomber, "pids.events");
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(&std::fs::read_to_string(&events_path).unwrap(), "max ") == 0 {
        assert!(Instant::now() < deadline, "the bomb never reached a limit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let current: u64 =
        std::fs::read_to_string(parent_file(&fx, &bomber, "pids.current")).unwrap().trim().parse().unwrap();
    assert!(current <= 200, "the parent's pids.current {current} is over its limit");
    let own: u64 = std::fs::read_to_string(cgroup_file(&fx, &bomber, "pids.current")).unwrap().trim().parse().unwrap();
    assert!(own <= 200, "the bomb stopped at the parent's 200 pids, not its own 4096: {own}");
    fx.runtime.stop(&bomber, Duration::ZERO).unwrap();

    // 300 MiB in a sandbox allowed 1 GiB is more than all sandboxes together may have.
    let out = fx.sh(&hog, "exec python3 -c 'x = bytearray(300 << 20); print(len(x))'");
    assert_eq!(out.status, ExitStatus::Signal(9), "the hog is OOM-killed at the parent's bound: {out:?}");
    assert_eq!(stdout(&fx.sh(&hog, "echo alive")), "alive\n");
}

#[test]
fn capacity_reports_the_host_and_the_bounds() {
    let fx = Fixture::new("capacity");
    let capacity = fx.runtime.capacity();
    let cpus = std::thread::available_parallelism().unwrap().get() as u32;
    assert_eq!(capacity.cpus, cpus);
    assert_eq!(capacity.memory_bytes, fx.runtime.host_bounds().memory_bytes);
    assert_eq!(capacity.disk_bytes, None, "no data disk, no disk capacity");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    assert!(capacity.memory_bytes < total_kib * 1024, "a reserve stays for the host");
    let id = fx.default_sandbox("probe");
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    let pids_max: u64 = std::fs::read_to_string(parent_file(&fx, &id, "pids.max")).unwrap().trim().parse().unwrap();
    assert!(pids_max < pid_max, "the parent's pids.max {pids_max} keeps some of the host's {pid_max}");
}

#[test]
fn sandbox_root_cannot_make_the_oom_killer_prefer_init() {
    let fx = Fixture::new("oomscore");
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.limits.memory_bytes = Some(64 << 20);
    let id = fx.started("a", &spec);
    let init = fx.runtime.init_pid(&id).unwrap();
    let score = |pid: i32| -> i32 {
        std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap().trim().parse().unwrap()
    };
    let before = score(init);

    // Every file through which a score can be raised (raising needs no capability).
    let attack = "for f in /proc/1/oom_score_adj /proc/1/oom_adj /proc/1/task/1/oom_score_adj \
                  /proc/1/task/1/oom_adj; do echo 1000 > $f 2>/dev/null && echo wrote $f; done; \
                  cat /proc/1/oom_score_adj /proc/self/oom_score_adj";
    let out = fx.sh_as(&id, Some("root"), attack);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert!(!lines.iter().any(|l| l.starts_with("wrote")), "sandbox root raised init's score: {out:?}");
    assert_eq!(score(init), before, "init's score changed");
    assert_eq!(lines.first().map(String::as_str), Some(before.to_string().as_str()), "init's score reads inside");
    let workload: i32 = lines.get(1).expect("the shell's own score").parse().unwrap();
    assert_eq!(workload, (before + 500).min(1000), "sandbox processes start above init");

    // In an OOM the workload goes, init stays.
    let out = fx.sh_as(&id, Some("root"), "exec python3 -c 'x = bytearray(200 << 20); print(len(x))'");
    assert_eq!(out.status, ExitStatus::Signal(9), "the hog is OOM-killed: {out:?}");
    assert_eq!(fx.runtime.init_pid(&id).unwrap(), init, "init survived the OOM");
    assert_eq!(stdout(&fx.sh(&id, "echo alive")), "alive\n");
}
