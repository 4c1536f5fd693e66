//! Leak check: many create/start/exec/delete cycles leave nothing of Sandbar's on the host.

use crate::common::{stdout, Fixture};
use sandbar_runtime::{SandboxSpec, DEFAULT_IMAGE};

/// Mount points on the host that mention `needle`.
fn host_mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// Init processes of this test process whose cgroup lies under `parent` (tests run in parallel
/// threads of one process, so other fixtures' inits are children of this process too).
fn our_inits(cgroup_parent: &str) -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let after_comm = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        let parent = after_comm.split_whitespace().nth(1).unwrap_or("");
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if parent == me && stat.contains("(sandbar-init)") && cgroups.contains(&format!("/{cgroup_parent}/")) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn hundred_cycles_leave_nothing_behind() {
    let fx = Fixture::new("leak");
    let data = fx.data.path().display().to_string();
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.limits.memory_bytes = Some(256 << 20);
    spec.limits.pids = Some(128);
    for cycle in 0..100 {
        let id = fx.id(&format!("c{cycle}"));
        fx.runtime.create(&id, &spec).unwrap();
        fx.runtime.start(&id).unwrap();
        assert_eq!(stdout(&fx.sh(&id, "echo $((6 * 7))")), "42\n");
        fx.runtime.delete(&id).unwrap();
        let leftovers = fx.runtime.leftovers(&id);
        assert!(leftovers.is_empty(), "cycle {cycle} left {leftovers:?}");
        assert!(fx.runtime.cgroup_children().is_empty(), "cycle {cycle} left {:?}", fx.runtime.cgroup_children());
    }
    assert!(host_mounts_mentioning(&data).is_empty(), "{:?}", host_mounts_mentioning(&data));
    assert!(our_inits(&fx.cgroup_parent).is_empty(), "init processes remain: {:?}", our_inits(&fx.cgroup_parent));
    let sandboxes: Vec<_> =
        std::fs::read_dir(fx.data.path().join("sandboxes")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(sandboxes.is_empty(), "{sandboxes:?}");
    // A sandbox's network namespace is held only by its init (never bind-mounted), so no init
    // and no mount means no namespace is left.
    fx.runtime.delete_all().unwrap();
}
