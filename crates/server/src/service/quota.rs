//! Admission against the organization's quotas and the node's capacity: what live sandboxes
//! hold, summed, plus what the request asks, checked before a sandbox is made, started or grows.
//! Pure: the caller reads the rows, the quota and the capacity, and holds the admission lock
//! until the sandbox's new state is written, so two requests never both take the last room.
//!
//! Sandboxes count as Daytona counts them: cpu and memory while they run or are about to
//! (paused ones too: their memory stays taken), disk until they are archived or gone. Quota
//! refusals are Daytona's 400s with its messages; a full host is a 503 that says what is taken
//! and how to make room.

use super::ServiceError;
use crate::model::{OrganizationQuota, UsageRow};
use sandbar_api::SandboxState;
use sandbar_runtime::Capacity;

/// How far the sum of sandbox limits may exceed the host (limits are ceilings, not
/// reservations; the parent cgroup bounds what the sandboxes really use together).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overcommit {
    /// Cores of running sandboxes per host cpu.
    pub cpu: f64,
    /// Memory of running sandboxes per byte the host offers sandboxes.
    pub memory: f64,
    /// Disk of sandboxes per byte of the data disk.
    pub disk: f64,
}

impl Default for Overcommit {
    fn default() -> Overcommit {
        Overcommit { cpu: 16.0, memory: 2.0, disk: 16.0 }
    }
}

/// What a sandbox will hold once the operation is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Demand {
    /// Cores.
    pub cpu: i64,
    /// GiB.
    pub memory: i64,
    /// GiB.
    pub disk: i64,
    /// Whether it will run (cpu and memory count only then).
    pub runs: bool,
    /// Whether it is a new sandbox (counts against the sandbox quota).
    pub new: bool,
}

impl Demand {
    /// What `row` holds as it is (cpu, memory, disk), running or not.
    pub fn of(row: &crate::model::SandboxRow, runs: bool, new: bool) -> Demand {
        Demand { cpu: row.cpu, memory: row.memory, disk: row.disk, runs, new }
    }
}

/// Everything the check needs besides the demand.
pub(super) struct Room<'a> {
    /// The organization asking.
    pub organization_id: &'a str,
    /// The node the sandbox is on.
    pub target: &'a str,
    /// The organization's quotas.
    pub quota: &'a OrganizationQuota,
    /// What the node offers.
    pub capacity: Capacity,
    /// Over-commit ratios.
    pub overcommit: Overcommit,
    /// Every live sandbox (all organizations).
    pub rows: &'a [UsageRow],
    /// The sandbox the demand replaces (resize, start), not counted twice.
    pub exclude: Option<&'a str>,
}

/// Whether a sandbox in `state` holds cpu and memory.
pub(super) fn holds_compute(state: SandboxState) -> bool {
    use SandboxState::*;
    matches!(
        state,
        Creating
            | Restoring
            | Started
            | Starting
            | Stopping
            | PendingBuild
            | BuildingSnapshot
            | Unknown
            | PullingSnapshot
            | Forking
            | Pausing
            | Paused
            | Resuming
            | Resizing
            | Snapshotting
    )
}

/// Whether a sandbox in `state` holds disk.
pub(super) fn holds_disk(state: SandboxState) -> bool {
    holds_compute(state) || matches!(state, SandboxState::Stopped | SandboxState::Archiving)
}

/// What a set of sandboxes holds, counted as admission counts it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Sandboxes that are not destroyed.
    pub sandboxes: i64,
    /// Cores of those that run.
    pub cpu: i64,
    /// GiB of memory of those that run.
    pub memory: i64,
    /// GiB of disk of those not archived.
    pub disk: i64,
}

/// What `rows` hold together.
pub fn usage_of(rows: &[UsageRow]) -> Totals {
    totals(rows.iter())
}

fn totals<'a>(rows: impl Iterator<Item = &'a UsageRow>) -> Totals {
    let mut totals = Totals::default();
    for row in rows {
        totals.sandboxes += 1;
        if holds_compute(row.state) {
            totals.cpu += row.cpu;
            totals.memory += row.memory;
        }
        if holds_disk(row.state) {
            totals.disk += row.disk;
        }
    }
    totals
}

const GIB: f64 = (1u64 << 30) as f64;

/// Refuses the demand when it breaks a quota (400) or does not fit the node (400 when it never
/// could, 503 when the node is full now).
pub(super) fn admit(room: &Room<'_>, demand: &Demand) -> Result<(), ServiceError> {
    check_quota(room, demand)?;
    check_capacity(room, demand)
}

fn check_quota(room: &Room<'_>, demand: &Demand) -> Result<(), ServiceError> {
    let quota = room.quota;
    let refuse = |message: String| Err(ServiceError::Invalid(message));
    if let Some(max) = quota.max_cpu_per_sandbox.filter(|max| demand.cpu > *max) {
        return refuse(format!("CPU request {} exceeds maximum allowed per sandbox ({max}).", demand.cpu));
    }
    if let Some(max) = quota.max_memory_per_sandbox.filter(|max| demand.memory > *max) {
        return refuse(format!("Memory request {}GB exceeds maximum allowed per sandbox ({max}GB).", demand.memory));
    }
    if let Some(max) = quota.max_disk_per_sandbox.filter(|max| demand.disk > *max) {
        return refuse(format!("Disk request {}GB exceeds maximum allowed per sandbox ({max}GB).", demand.disk));
    }
    let others =
        room.rows.iter().filter(|r| r.organization_id == room.organization_id && Some(r.id.as_str()) != room.exclude);
    let used = totals(others);
    if demand.new {
        if let Some(max) = quota.max_sandboxes.filter(|max| used.sandboxes + 1 > *max) {
            return refuse(format!(
                "Total sandbox limit exceeded. Maximum allowed: {max}.\nDelete unused Sandboxes to make room."
            ));
        }
    }
    if demand.runs {
        if let Some(max) = quota.total_cpu.filter(|max| used.cpu + demand.cpu > *max) {
            return refuse(format!("Total CPU limit exceeded. Maximum allowed: {max}."));
        }
        if let Some(max) = quota.total_memory.filter(|max| used.memory + demand.memory > *max) {
            return refuse(format!("Total memory limit exceeded. Maximum allowed: {max}GiB."));
        }
    }
    if let Some(max) = quota.total_disk.filter(|max| used.disk + demand.disk > *max) {
        return refuse(format!(
            "Total disk limit exceeded. Maximum allowed: {max}GiB.\nConsider archiving your unused Sandboxes to free up available storage."
        ));
    }
    Ok(())
}

fn check_capacity(room: &Room<'_>, demand: &Demand) -> Result<(), ServiceError> {
    let capacity = room.capacity;
    let memory_gib = capacity.memory_bytes as f64 / GIB;
    // Requests no state of the host could ever admit.
    if demand.cpu > i64::from(capacity.cpus) {
        return Err(ServiceError::Invalid(format!(
            "cpu {} is more than this host has ({} cpus)",
            demand.cpu, capacity.cpus
        )));
    }
    if demand.memory as f64 > memory_gib {
        return Err(ServiceError::Invalid(format!(
            "memory {} GiB is more than this host can give sandboxes ({memory_gib:.1} GiB)",
            demand.memory
        )));
    }
    let disk_gib = capacity.disk_bytes.map(|bytes| bytes as f64 / GIB);
    if let Some(disk_gib) = disk_gib.filter(|gib| demand.disk as f64 > *gib) {
        return Err(ServiceError::Invalid(format!(
            "disk {} GiB is more than this host's data disk holds ({disk_gib:.1} GiB)",
            demand.disk
        )));
    }
    let others = room.rows.iter().filter(|r| r.target == room.target && Some(r.id.as_str()) != room.exclude);
    let used = totals(others);
    let full = |what: &str, used: String, allowed: String, flag: &str| {
        Err(ServiceError::Capacity(format!(
            "this host is full: sandboxes hold {used} of the {allowed} of {what} it offers; stop, archive or \
             delete sandboxes, or raise {flag}"
        )))
    };
    if demand.runs {
        let allowed = f64::from(capacity.cpus) * room.overcommit.cpu;
        if (used.cpu + demand.cpu) as f64 > allowed {
            let allowed = format!("{allowed:.0} ({} cpus x {})", capacity.cpus, room.overcommit.cpu);
            return full("cpu", used.cpu.to_string(), allowed, "--cpu-overcommit");
        }
        let allowed = memory_gib * room.overcommit.memory;
        if (used.memory + demand.memory) as f64 > allowed {
            let allowed = format!("{allowed:.1} GiB ({memory_gib:.1} GiB x {})", room.overcommit.memory);
            return full("memory", format!("{} GiB", used.memory), allowed, "--memory-overcommit");
        }
    }
    if let Some(disk_gib) = disk_gib {
        let allowed = disk_gib * room.overcommit.disk;
        if (used.disk + demand.disk) as f64 > allowed {
            let allowed = format!("{allowed:.1} GiB ({disk_gib:.1} GiB x {})", room.overcommit.disk);
            return full("disk", format!("{} GiB", used.disk), allowed, "--disk-overcommit");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, org: &str, state: SandboxState, cpu: i64, memory: i64, disk: i64) -> UsageRow {
        UsageRow { id: id.into(), organization_id: org.into(), target: "local".into(), state, cpu, memory, disk }
    }

    fn capacity() -> Capacity {
        Capacity { cpus: 4, memory_bytes: 8 << 30, disk_bytes: Some(100 << 30) }
    }

    fn check(
        rows: &[UsageRow],
        quota: &OrganizationQuota,
        exclude: Option<&str>,
        demand: Demand,
    ) -> Result<(), String> {
        let room = Room {
            organization_id: "org",
            target: "local",
            quota,
            capacity: capacity(),
            overcommit: Overcommit { cpu: 2.0, memory: 1.5, disk: 1.0 },
            rows,
            exclude,
        };
        admit(&room, &demand).map_err(|e| {
            let status = if matches!(e, ServiceError::Capacity(_)) { "503" } else { "400" };
            format!("{status} {e}")
        })
    }

    fn runs(cpu: i64, memory: i64, disk: i64) -> Demand {
        Demand { cpu, memory, disk, runs: true, new: true }
    }

    #[test]
    fn states_count_as_daytona_counts_them() {
        assert!(holds_compute(SandboxState::Started) && holds_compute(SandboxState::Paused));
        assert!(!holds_compute(SandboxState::Stopped) && !holds_compute(SandboxState::Archived));
        assert!(holds_disk(SandboxState::Stopped) && holds_disk(SandboxState::Started));
        assert!(!holds_disk(SandboxState::Archived) && !holds_disk(SandboxState::Error));
    }

    #[test]
    fn a_request_larger_than_the_host_is_a_400_naming_the_host() {
        let none = OrganizationQuota::default();
        assert_eq!(
            check(&[], &none, None, runs(1, 69, 1)).unwrap_err(),
            "400 memory 69 GiB is more than this host can give sandboxes (8.0 GiB)"
        );
        assert_eq!(
            check(&[], &none, None, runs(5, 1, 1)).unwrap_err(),
            "400 cpu 5 is more than this host has (4 cpus)"
        );
        assert!(check(&[], &none, None, runs(1, 1, 101)).unwrap_err().starts_with("400 disk 101 GiB is more"));
        assert_eq!(check(&[], &none, None, runs(4, 8, 100)), Ok(()));
    }

    #[test]
    fn a_full_host_is_a_503_that_says_what_is_taken() {
        let none = OrganizationQuota::default();
        // 12 GiB of memory may be given out (8 x 1.5); 10 are taken by running sandboxes.
        let rows = [
            row("a", "other", SandboxState::Started, 1, 5, 10),
            row("b", "org", SandboxState::Paused, 1, 5, 10),
            row("c", "org", SandboxState::Stopped, 4, 8, 10),
        ];
        let error = check(&rows, &none, None, runs(1, 3, 1)).unwrap_err();
        assert!(error.starts_with("503 this host is full: sandboxes hold 10 GiB of the 12.0 GiB"), "{error}");
        assert!(error.contains("--memory-overcommit"), "{error}");
        assert_eq!(check(&rows, &none, None, runs(1, 2, 1)), Ok(()));
        // A stopped sandbox holds no cpu or memory: creating one stopped always fits.
        assert_eq!(check(&rows, &none, None, Demand { runs: false, ..runs(1, 8, 1) }), Ok(()));
        // Resizing a running sandbox does not count it twice.
        assert_eq!(check(&rows, &none, Some("b"), Demand { new: false, ..runs(1, 7, 10) }), Ok(()));
        // 8 cpus may run (4 x 2).
        let busy = [row("a", "other", SandboxState::Started, 4, 1, 1), row("b", "x", SandboxState::Started, 3, 1, 1)];
        assert!(check(&busy, &none, None, runs(2, 1, 1)).unwrap_err().contains("7 of the 8 (4 cpus x 2) of cpu"));
        // Disk counts every sandbox that is not archived.
        let disks =
            [row("a", "other", SandboxState::Stopped, 1, 1, 60), row("b", "x", SandboxState::Archived, 1, 1, 90)];
        assert!(check(&disks, &none, None, runs(1, 1, 41)).unwrap_err().contains("--disk-overcommit"));
        assert_eq!(check(&disks, &none, None, runs(1, 1, 40)), Ok(()));
    }

    #[test]
    fn quotas_answer_daytonas_messages() {
        let quota = OrganizationQuota {
            max_sandboxes: Some(3),
            total_cpu: Some(3),
            total_memory: Some(4),
            total_disk: Some(15),
            max_cpu_per_sandbox: Some(2),
            max_memory_per_sandbox: Some(3),
            max_disk_per_sandbox: Some(10),
        };
        let rows = [
            row("a", "org", SandboxState::Started, 2, 2, 5),
            row("b", "org", SandboxState::Stopped, 2, 2, 5),
            row("z", "other", SandboxState::Started, 1, 1, 1),
        ];
        let refused = |demand| check(&rows, &quota, None, demand).unwrap_err();
        assert_eq!(refused(runs(3, 1, 1)), "400 CPU request 3 exceeds maximum allowed per sandbox (2).");
        assert_eq!(refused(runs(1, 4, 1)), "400 Memory request 4GB exceeds maximum allowed per sandbox (3GB).");
        assert_eq!(refused(runs(1, 1, 11)), "400 Disk request 11GB exceeds maximum allowed per sandbox (10GB).");
        assert_eq!(refused(runs(2, 1, 1)), "400 Total CPU limit exceeded. Maximum allowed: 3.");
        assert_eq!(refused(runs(1, 3, 1)), "400 Total memory limit exceeded. Maximum allowed: 4GiB.");
        assert!(refused(runs(1, 1, 10))
            .starts_with("400 Total disk limit exceeded. Maximum allowed: 15GiB.\nConsider archiving"));
        assert_eq!(check(&rows, &quota, None, runs(1, 2, 5)), Ok(()));
        // The organization's third sandbox fits; a fourth does not.
        let more = [rows[0].clone(), rows[1].clone(), row("c", "org", SandboxState::Archived, 1, 1, 1)];
        assert!(check(&more, &quota, None, runs(1, 1, 1))
            .unwrap_err()
            .starts_with("400 Total sandbox limit exceeded. Maximum allowed: 3."));
        // Starting sandbox b again is not a new sandbox, and b's own usage is not counted twice.
        let start_b = Demand { cpu: 1, memory: 2, disk: 5, runs: true, new: false };
        assert_eq!(check(&more, &quota, Some("b"), start_b), Ok(()));
    }
}
