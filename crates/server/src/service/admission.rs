//! The rules a request must pass before anything is stored or run, as firecracker parses a
//! request into an action before the VMM sees it: a create body (with the snapshot and volumes it
//! names, looked up by the caller) becomes the new sandbox's row or the exact 400; likewise a
//! fork's row, a resize's new resources, labels and intervals. Pure: no store, no runtime, no
//! clock (the caller passes the fresh id and the time).
//!
//! The file is long for its tests: every rule is pinned with the exact message a client sees.

use super::{Interval, ServiceError, DEFAULT_SNAPSHOT};
use crate::model::{SandboxRow, SnapshotRow, VolumeMount, VolumeRow};
use sandbar_api::{CreateSandbox, ResizeSandbox, SandboxState, SandboxVolume};
use sandbar_runtime::Limits;
use std::collections::BTreeMap;

/// Every sandbox gets at most this many processes unless told otherwise: a fork bomb must not
/// reach the host's limit.
const DEFAULT_PIDS: u64 = 4096;
/// Defaults of Daytona's sandboxes: 1 vCPU, 1 GiB memory, 3 GiB disk.
pub(super) const DEFAULT_CPU: i64 = 1;
pub(super) const DEFAULT_MEMORY_GIB: i64 = 1;
pub(super) const DEFAULT_DISK_GIB: i64 = 3;
/// Upper bounds a single sandbox may ask for.
const MAX_CPU: i64 = 64;
const MAX_MEMORY_GIB: i64 = 256;
const MAX_DISK_GIB: i64 = 1024;
/// Default auto-stop interval in minutes, as Daytona's.
const DEFAULT_AUTO_STOP: i64 = 15;
/// Default auto-archive interval in minutes (7 days), as Daytona's.
const DEFAULT_AUTO_ARCHIVE: i64 = 10080;
/// The OS user of a sandbox whose request names none (the default image's user).
const DEFAULT_USER: &str = "daytona";

/// What a new sandbox gets from the control plane rather than from the request.
#[derive(Debug, Clone)]
pub(super) struct Fresh {
    /// Its new id (also its name when the request gives none).
    pub id: String,
    /// The caller's organization.
    pub organization_id: String,
    /// The region, when the request names none.
    pub target: String,
    /// Now, as stored text: its creation, activity and state-change time.
    pub now: String,
}

/// A sandbox's resources in cores and GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resources {
    pub cpu: i64,
    pub memory: i64,
    pub disk: i64,
}

/// Refuses a create that asks for an image build, naming the image of its Dockerfile. Checked
/// before the snapshot is looked up: such a request names none.
pub(super) fn refuse_build(request: &CreateSandbox) -> Result<(), ServiceError> {
    let Some(build) = &request.build_info else { return Ok(()) };
    let from = build
        .dockerfile_content
        .as_deref()
        .and_then(|d| d.lines().find(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM ")))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "the requested image".to_string());
    Err(ServiceError::Invalid(format!(
        "image {from:?} is not available locally: Sandbar cannot build images yet; create the sandbox from a snapshot instead (e.g. \"{DEFAULT_SNAPSHOT}\")"
    )))
}

/// The snapshot a create starts from: the one it names, else the default one.
pub(super) fn snapshot_name(request: &CreateSandbox) -> String {
    request.snapshot.clone().unwrap_or_else(|| DEFAULT_SNAPSHOT.to_string())
}

/// The 400 of a create whose snapshot the caller did not find.
pub(super) fn snapshot_not_found(name: &str) -> ServiceError {
    ServiceError::Invalid(format!("snapshot {name:?} not found"))
}

/// The row of the sandbox `request` creates from `snapshot`, born `creating` on its way to
/// `started`, or the first rule it breaks. `volumes` holds what the caller found for each
/// requested `volumeId` (by id or name); a requested volume missing from it is a 400.
pub(super) fn new_sandbox(
    request: CreateSandbox,
    snapshot: &SnapshotRow,
    volumes: &BTreeMap<String, VolumeRow>,
    fresh: Fresh,
) -> Result<SandboxRow, ServiceError> {
    let snapshot_name = snapshot_name(&request);
    if snapshot.state != "active" {
        return Err(ServiceError::Invalid(format!("snapshot {snapshot_name:?} is {}, not active", snapshot.state)));
    }
    if request.snapshot.is_some() && (request.cpu.is_some() || request.memory.is_some() || request.disk.is_some()) {
        return Err(ServiceError::Invalid(
            "cannot specify sandbox resources when creating from a snapshot: the snapshot sets them".into(),
        ));
    }
    let cpu = bounded("cpu", request.cpu.unwrap_or(snapshot.cpu), 1, MAX_CPU)?;
    let memory = bounded("memory", request.memory.unwrap_or(snapshot.mem), 1, MAX_MEMORY_GIB)?;
    let disk = bounded("disk", request.disk.unwrap_or(snapshot.disk), 1, MAX_DISK_GIB)?;
    refuse_gpu(request.gpu)?;
    let env = request.env.unwrap_or_default();
    for key in env.keys() {
        check_env_name(key)?;
    }
    let name = request.name.unwrap_or_else(|| fresh.id.clone());
    validate_name("sandbox name", &name)?;
    let user = request.user.unwrap_or_else(|| DEFAULT_USER.to_string());
    if user.is_empty() || user.contains([':', '/', '\0']) {
        return Err(ServiceError::Invalid(format!("user {user:?} is not a valid OS user name")));
    }
    let volumes = mounts(request.volumes.unwrap_or_default(), volumes)?;
    super::network::check_create(request.network_allow_list.as_deref(), request.domain_allow_list.as_deref())?;
    for (name, interval) in [
        ("autoStopInterval", request.auto_stop_interval),
        ("autoArchiveInterval", request.auto_archive_interval),
        ("autoPauseInterval", request.auto_pause_interval),
    ] {
        if interval.is_some_and(|n| n < 0) {
            return Err(ServiceError::Invalid(format!("{name} must be 0 or more minutes")));
        }
    }
    if request.auto_delete_interval.is_some_and(|n| n < -1) {
        return Err(ServiceError::Invalid("autoDeleteInterval must be -1 (never), 0 (on stop) or more minutes".into()));
    }
    Ok(SandboxRow {
        id: fresh.id,
        organization_id: fresh.organization_id,
        name,
        snapshot: snapshot.name.clone(),
        user,
        env,
        labels: request.labels.unwrap_or_default(),
        public: request.public.unwrap_or(false),
        network_block_all: request.network_block_all.unwrap_or(false),
        network_allow_list: request.network_allow_list,
        domain_allow_list: request.domain_allow_list,
        linked_sandbox_id: None,
        target: request.target.unwrap_or(fresh.target),
        cpu,
        gpu: 0,
        memory,
        disk,
        state: SandboxState::Creating,
        desired_state: SandboxState::Started,
        error_reason: None,
        recoverable: None,
        auto_stop_interval: Some(request.auto_stop_interval.unwrap_or(DEFAULT_AUTO_STOP)),
        auto_archive_interval: Some(request.auto_archive_interval.unwrap_or(DEFAULT_AUTO_ARCHIVE)),
        auto_delete_interval: Some(request.auto_delete_interval.unwrap_or(-1)),
        auto_pause_interval: request.auto_pause_interval,
        volumes,
        created_at: fresh.now.clone(),
        updated_at: fresh.now.clone(),
        last_activity_at: fresh.now.clone(),
        state_changed_at: fresh.now,
    })
}

/// The mounts of a create's `volumes`, each checked: the volume exists, its mount path is
/// absolute and below `/`, its subpath relative; none may climb with `..`.
fn mounts(
    requested: Vec<SandboxVolume>,
    found: &BTreeMap<String, VolumeRow>,
) -> Result<Vec<VolumeMount>, ServiceError> {
    let mut mounts = Vec::new();
    for volume in requested {
        let row = found
            .get(&volume.volume_id)
            .ok_or_else(|| ServiceError::Invalid(format!("volume {:?} not found", volume.volume_id)))?;
        // The runtime's rule for mount targets, in the API's words.
        if sandbar_runtime::validate_mount_target(std::path::Path::new(&volume.mount_path)).is_err() {
            return Err(ServiceError::Invalid(format!(
                "mountPath {:?} must be an absolute path below / without '..'",
                volume.mount_path
            )));
        }
        if let Some(sub) = &volume.subpath {
            if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                return Err(ServiceError::Invalid(format!("subpath {sub:?} must be relative and without '..'")));
            }
        }
        mounts.push(VolumeMount { volume_id: row.id.clone(), mount_path: volume.mount_path, subpath: volume.subpath });
    }
    Ok(mounts)
}

/// The row of a fork of `source`: the same settings and resources under a new id and name, born
/// `creating` on its way to `started`.
pub(super) fn forked(source: &SandboxRow, name: Option<String>, fresh: Fresh) -> Result<SandboxRow, ServiceError> {
    let name = name.unwrap_or_else(|| fresh.id.clone());
    validate_name("sandbox name", &name)?;
    Ok(SandboxRow {
        id: fresh.id,
        name,
        state: SandboxState::Creating,
        desired_state: SandboxState::Started,
        error_reason: None,
        recoverable: None,
        created_at: fresh.now.clone(),
        updated_at: fresh.now.clone(),
        last_activity_at: fresh.now.clone(),
        state_changed_at: fresh.now,
        ..source.clone()
    })
}

/// Refuses any GPU: this host has none.
pub(super) fn refuse_gpu(gpu: Option<i64>) -> Result<(), ServiceError> {
    if gpu.unwrap_or(0) != 0 {
        return Err(ServiceError::Invalid("this Sandbar host has no GPUs: gpu must be 0".into()));
    }
    Ok(())
}

/// The resources `request` gives `row` (whose state `lifecycle::plan` already allowed a resize
/// in), or why not. As Daytona: something must change, the disk only grows, and a running
/// sandbox's cpu and memory only grow while its disk changes only when it is stopped.
pub(super) fn resize(row: &SandboxRow, request: &ResizeSandbox) -> Result<Resources, ServiceError> {
    if request.cpu.is_none() && request.memory.is_none() && request.disk.is_none() {
        return Err(ServiceError::Invalid("no resource changes specified: set cpu, memory or disk".into()));
    }
    let cpu = bounded("cpu", request.cpu.unwrap_or(row.cpu), 1, MAX_CPU)?;
    let memory = bounded("memory", request.memory.unwrap_or(row.memory), 1, MAX_MEMORY_GIB)?;
    let disk = bounded("disk", request.disk.unwrap_or(row.disk), 1, MAX_DISK_GIB)?;
    if disk < row.disk {
        return Err(ServiceError::Invalid(format!(
            "disk can only grow: {disk} GiB is less than the current {} GiB",
            row.disk
        )));
    }
    if row.state == SandboxState::Started {
        if disk != row.disk {
            return Err(ServiceError::Invalid(
                "disk can only be resized while the sandbox is stopped; stop it first".into(),
            ));
        }
        if cpu < row.cpu || memory < row.memory {
            return Err(ServiceError::Invalid(format!(
                "a running sandbox's cpu and memory can only grow (now {} cpu, {} GiB); stop it to decrease them",
                row.cpu, row.memory
            )));
        }
    }
    Ok(Resources { cpu, memory, disk })
}

/// Refuses an empty or overlong label key.
pub(super) fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    for key in labels.keys() {
        if key.is_empty() || key.len() > 253 {
            return Err(ServiceError::Invalid(format!("label key {key:?} must be 1-253 characters")));
        }
    }
    Ok(())
}

/// Refuses an interval below its minimum: -1 (never) for auto-delete, 0 for the others.
pub(super) fn check_interval(interval: Interval, minutes: i64) -> Result<(), ServiceError> {
    let minimum = if interval == Interval::AutoDelete { -1 } else { 0 };
    if minutes < minimum {
        return Err(ServiceError::Invalid(format!("interval {minutes} must be {minimum} or more minutes")));
    }
    Ok(())
}

/// Runtime limits of `cpu` cores, `memory` GiB and `disk` GiB (the disk limit is enforced when
/// the runtime has a data disk).
pub(super) fn limits_of(cpu: i64, memory: i64, disk: i64) -> Limits {
    Limits {
        memory_bytes: Some((memory as u64) << 30),
        cpu_millis: Some(cpu as u64 * 1000),
        pids: Some(DEFAULT_PIDS),
        disk_bytes: Some((disk as u64) << 30),
    }
}

fn bounded(what: &str, value: i64, min: i64, max: i64) -> Result<i64, ServiceError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ServiceError::Invalid(format!("{what} {value} is out of range: it must be between {min} and {max}")))
    }
}

/// Refuses a name that is not 1-63 characters of letters, digits, `-`, `_` and `.` (it appears in
/// URLs and lists; a leading `-` or `.` reads as an option or a hidden file).
pub(super) fn validate_name(what: &str, name: &str) -> Result<(), ServiceError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if valid {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "{what} {name:?} must be 1-63 characters of letters, digits, '-', '_' and '.', not starting with '-' or '.'"
        )))
    }
}

/// Refuses an environment variable name a shell could not export.
/// The runtime's rule for environment names (`SandboxSpec::validate` checks it again), answered
/// before anything is stored.
fn check_env_name(key: &str) -> Result<(), ServiceError> {
    sandbar_runtime::validate_env_name(key).map_err(|error| match error {
        sandbar_runtime::Error::InvalidSpec { what } => ServiceError::Invalid(what),
        other => ServiceError::Invalid(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot() -> SnapshotRow {
        SnapshotRow {
            id: "snap-id".into(),
            organization_id: None,
            name: DEFAULT_SNAPSHOT.into(),
            image: "sandbar-default".into(),
            source_sandbox_id: None,
            state: "active".into(),
            general: true,
            cpu: DEFAULT_CPU,
            gpu: 0,
            mem: DEFAULT_MEMORY_GIB,
            disk: DEFAULT_DISK_GIB,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            last_used_at: None,
        }
    }

    fn fresh() -> Fresh {
        Fresh {
            id: "0b9a3c1e-0000-4000-8000-000000000001".into(),
            organization_id: "org".into(),
            target: "local".into(),
            now: "2026-02-03T04:05:06.007Z".into(),
        }
    }

    fn volume(id: &str, name: &str) -> VolumeRow {
        VolumeRow {
            id: id.into(),
            organization_id: "org".into(),
            name: name.into(),
            state: "ready".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            last_used_at: None,
        }
    }

    fn request(body: serde_json::Value) -> CreateSandbox {
        serde_json::from_value(body).expect("a CreateSandbox body")
    }

    /// The row of a create with `body`, every requested volume found as `vol-<name>`.
    fn admit(body: serde_json::Value) -> Result<SandboxRow, ServiceError> {
        let request = request(body);
        let found = request
            .volumes
            .iter()
            .flatten()
            .filter(|v| v.volume_id != "missing")
            .map(|v| (v.volume_id.clone(), volume(&format!("vol-{}", v.volume_id), &v.volume_id)))
            .collect();
        new_sandbox(request, &snapshot(), &found, fresh())
    }

    fn refusal(body: serde_json::Value) -> String {
        match admit(body.clone()) {
            Err(ServiceError::Invalid(message)) => message,
            other => panic!("{body}: expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_create_gets_daytonas_defaults() {
        let row = admit(json!({})).unwrap();
        let fresh = fresh();
        assert_eq!(row.id, fresh.id);
        assert_eq!(row.name, fresh.id, "the name defaults to the id");
        assert_eq!(row.organization_id, "org");
        assert_eq!(row.snapshot, "default");
        assert_eq!(row.user, "daytona");
        assert_eq!((row.cpu, row.gpu, row.memory, row.disk), (1, 0, 1, 3), "the snapshot's resources");
        assert_eq!((row.state, row.desired_state), (SandboxState::Creating, SandboxState::Started));
        assert_eq!(row.auto_stop_interval, Some(15));
        assert_eq!(row.auto_archive_interval, Some(10080));
        assert_eq!(row.auto_delete_interval, Some(-1));
        assert_eq!(row.auto_pause_interval, None);
        assert_eq!(row.target, "local");
        assert!(!row.public && !row.network_block_all);
        assert_eq!((row.network_allow_list.as_deref(), row.domain_allow_list.as_deref()), (None, None));
        assert!(row.env.is_empty() && row.labels.is_empty() && row.volumes.is_empty());
        assert_eq!((row.error_reason.as_deref(), row.recoverable), (None, None));
        for at in [&row.created_at, &row.updated_at, &row.last_activity_at, &row.state_changed_at] {
            assert_eq!(at, &fresh.now);
        }
    }

    #[test]
    fn a_full_create_keeps_every_setting() {
        let row = admit(json!({
            "name": "my-box_1.x",
            "user": "root",
            "env": {"GREETING": "hi", "_X1": ""},
            "labels": {"team": "a", "code-toolbox-language": "python"},
            "public": true,
            "networkBlockAll": true,
            "networkAllowList": "10.0.0.0/8",
            "domainAllowList": "example.com",
            "target": "eu",
            "cpu": 4,
            "memory": 8,
            "disk": 20,
            "gpu": 0,
            "autoStopInterval": 0,
            "autoArchiveInterval": 60,
            "autoDeleteInterval": 0,
            "autoPauseInterval": 5,
        }))
        .unwrap();
        assert_eq!((row.name.as_str(), row.user.as_str(), row.target.as_str()), ("my-box_1.x", "root", "eu"));
        assert_eq!(row.env, BTreeMap::from([("GREETING".into(), "hi".into()), ("_X1".into(), String::new())]));
        assert_eq!(row.labels["code-toolbox-language"], "python");
        assert!(row.public && row.network_block_all);
        assert_eq!(row.network_allow_list.as_deref(), Some("10.0.0.0/8"));
        assert_eq!(row.domain_allow_list.as_deref(), Some("example.com"));
        assert_eq!((row.cpu, row.memory, row.disk), (4, 8, 20));
        assert_eq!(
            (row.auto_stop_interval, row.auto_archive_interval, row.auto_delete_interval, row.auto_pause_interval),
            (Some(0), Some(60), Some(0), Some(5))
        );
    }

    #[test]
    fn resources_out_of_bounds_are_refused_with_the_bound() {
        let cases = [
            (json!({"cpu": 0}), "cpu 0 is out of range: it must be between 1 and 64"),
            (json!({"cpu": 1000}), "cpu 1000 is out of range: it must be between 1 and 64"),
            (json!({"memory": 0}), "memory 0 is out of range: it must be between 1 and 256"),
            (json!({"memory": 257}), "memory 257 is out of range: it must be between 1 and 256"),
            (json!({"disk": 1025}), "disk 1025 is out of range: it must be between 1 and 1024"),
            (json!({"gpu": 1}), "this Sandbar host has no GPUs: gpu must be 0"),
        ];
        for (body, message) in cases {
            assert_eq!(refusal(body), message);
        }
        assert_eq!(admit(json!({"cpu": 64, "memory": 256, "disk": 1024})).map(|r| r.cpu).unwrap(), 64);
    }

    #[test]
    fn a_named_snapshot_sets_the_resources_and_must_be_active() {
        assert_eq!(
            refusal(json!({"snapshot": "default", "cpu": 2})),
            "cannot specify sandbox resources when creating from a snapshot: the snapshot sets them"
        );
        let mut building = snapshot();
        building.state = "building".into();
        let error = new_sandbox(request(json!({"snapshot": "default"})), &building, &BTreeMap::new(), fresh());
        assert_eq!(error.unwrap_err().to_string(), "snapshot \"default\" is building, not active");
        let mut big = snapshot();
        (big.cpu, big.mem, big.disk) = (2, 4, 10);
        let row = new_sandbox(request(json!({"snapshot": "default"})), &big, &BTreeMap::new(), fresh()).unwrap();
        assert_eq!((row.cpu, row.memory, row.disk), (2, 4, 10));
    }

    #[test]
    fn bad_names_and_users_are_refused() {
        let name_rule = "must be 1-63 characters of letters, digits, '-', '_' and '.', not starting with '-' or '.'";
        for bad in ["has space", "-x", ".x", "a/b", "", &"x".repeat(64)] {
            assert_eq!(refusal(json!({ "name": bad })), format!("sandbox name {bad:?} {name_rule}"));
        }
        for bad in ["", "a:b", "../x", "nul\0"] {
            assert_eq!(refusal(json!({ "user": bad })), format!("user {bad:?} is not a valid OS user name"));
        }
    }

    #[test]
    fn bad_environment_variable_names_are_refused() {
        for bad in ["BAD-NAME", "1X", "", "A B", "É"] {
            assert_eq!(
                refusal(json!({ "env": { bad: "x" } })),
                format!("environment variable name {bad:?} must match [A-Za-z_][A-Za-z0-9_]*")
            );
        }
    }

    #[test]
    fn volumes_must_exist_and_mount_below_root() {
        assert_eq!(
            refusal(json!({"volumes": [{"volumeId": "missing", "mountPath": "/data"}]})),
            "volume \"missing\" not found"
        );
        for bad in ["/", "data", "/a/../b", "/.."] {
            assert_eq!(
                refusal(json!({"volumes": [{"volumeId": "v", "mountPath": bad}]})),
                format!("mountPath {bad:?} must be an absolute path below / without '..'")
            );
        }
        for bad in ["/abs", "a/../b", ".."] {
            assert_eq!(
                refusal(json!({"volumes": [{"volumeId": "v", "mountPath": "/data", "subpath": bad}]})),
                format!("subpath {bad:?} must be relative and without '..'")
            );
        }
        let row = admit(json!({"volumes": [
            {"volumeId": "cache", "mountPath": "/data"},
            {"volumeId": "logs", "mountPath": "/var/log/app", "subpath": "a/b"},
        ]}))
        .unwrap();
        assert_eq!(
            row.volumes,
            [
                VolumeMount { volume_id: "vol-cache".into(), mount_path: "/data".into(), subpath: None },
                VolumeMount {
                    volume_id: "vol-logs".into(),
                    mount_path: "/var/log/app".into(),
                    subpath: Some("a/b".into())
                },
            ],
            "mounts name the volume by its id"
        );
    }

    #[test]
    fn intervals_have_minimums() {
        assert_eq!(refusal(json!({"autoStopInterval": -5})), "autoStopInterval must be 0 or more minutes");
        assert_eq!(refusal(json!({"autoArchiveInterval": -1})), "autoArchiveInterval must be 0 or more minutes");
        assert_eq!(refusal(json!({"autoPauseInterval": -1})), "autoPauseInterval must be 0 or more minutes");
        assert_eq!(
            refusal(json!({"autoDeleteInterval": -2})),
            "autoDeleteInterval must be -1 (never), 0 (on stop) or more minutes"
        );
        assert_eq!(admit(json!({"autoDeleteInterval": -1})).unwrap().auto_delete_interval, Some(-1));
        assert!(check_interval(Interval::AutoDelete, -1).is_ok());
        assert_eq!(
            check_interval(Interval::AutoStop, -1).unwrap_err().to_string(),
            "interval -1 must be 0 or more minutes"
        );
        assert_eq!(
            check_interval(Interval::AutoDelete, -2).unwrap_err().to_string(),
            "interval -2 must be -1 or more minutes"
        );
    }

    #[test]
    fn the_first_broken_rule_is_the_answer() {
        // The order callers see: resources, gpu, env, name, user, volumes, intervals.
        assert_eq!(
            refusal(json!({"cpu": 0, "gpu": 1, "name": "a b"})),
            "cpu 0 is out of range: it must be between 1 and 64"
        );
        assert_eq!(refusal(json!({"gpu": 2, "env": {"1": ""}})), "this Sandbar host has no GPUs: gpu must be 0");
        assert_eq!(
            refusal(json!({"name": "a b", "volumes": [{"volumeId": "missing", "mountPath": "/d"}]})),
            format!("sandbox name \"a b\" must be 1-63 characters of letters, digits, '-', '_' and '.', not starting with '-' or '.'")
        );
        assert_eq!(
            refusal(json!({"autoStopInterval": -1, "volumes": [{"volumeId": "missing", "mountPath": "/d"}]})),
            "volume \"missing\" not found"
        );
    }

    #[test]
    fn builds_are_refused_naming_their_image() {
        let from =
            request(json!({"buildInfo": {"dockerfileContent": "# syntax\n  from python:3.12 AS base\nRUN x\n"}}));
        assert_eq!(
            refuse_build(&from).unwrap_err().to_string(),
            "image \"from python:3.12 AS base\" is not available locally: Sandbar cannot build images yet; create the sandbox from a snapshot instead (e.g. \"default\")"
        );
        let bare = request(json!({"buildInfo": {}}));
        assert!(refuse_build(&bare).unwrap_err().to_string().starts_with("image \"the requested image\" is not"));
        assert!(refuse_build(&request(json!({"snapshot": "x"}))).is_ok());
        assert_eq!(snapshot_name(&request(json!({}))), "default");
        assert_eq!(snapshot_name(&request(json!({"snapshot": "mine"}))), "mine");
        assert_eq!(snapshot_not_found("mine").to_string(), "snapshot \"mine\" not found");
    }

    #[test]
    fn a_fork_copies_the_settings_under_a_new_identity() {
        let mut source = admit(json!({"name": "src", "labels": {"a": "b"}, "cpu": 2})).unwrap();
        source.state = SandboxState::Stopped;
        source.error_reason = Some("old".into());
        let fresh = Fresh { id: "new-id".into(), now: "2026-03-01T00:00:00.000Z".into(), ..super::tests::fresh() };
        let fork = forked(&source, Some("copy".into()), fresh.clone()).unwrap();
        assert_eq!((fork.id.as_str(), fork.name.as_str()), ("new-id", "copy"));
        assert_eq!((fork.state, fork.desired_state), (SandboxState::Creating, SandboxState::Started));
        assert_eq!((fork.cpu, &fork.labels, &fork.snapshot), (2, &source.labels, &source.snapshot));
        assert_eq!(fork.error_reason, None);
        assert_eq!(fork.created_at, "2026-03-01T00:00:00.000Z");
        assert_eq!(forked(&source, None, fresh).unwrap().name, "new-id");
        assert!(forked(&source, Some("a b".into()), super::tests::fresh()).is_err());
    }

    #[test]
    fn resizes_follow_daytonas_rules() {
        let resize_of = |state, body: serde_json::Value| {
            let mut row = admit(json!({"cpu": 2, "memory": 4, "disk": 10})).unwrap();
            row.state = state;
            let request: ResizeSandbox = serde_json::from_value(body).unwrap();
            resize(&row, &request).map_err(|e| e.to_string())
        };
        use SandboxState::{Started, Stopped};
        assert_eq!(resize_of(Stopped, json!({"cpu": 1, "disk": 12})), Ok(Resources { cpu: 1, memory: 4, disk: 12 }));
        assert_eq!(resize_of(Started, json!({"cpu": 4, "memory": 8})), Ok(Resources { cpu: 4, memory: 8, disk: 10 }));
        assert_eq!(resize_of(Stopped, json!({})), Err("no resource changes specified: set cpu, memory or disk".into()));
        assert_eq!(
            resize_of(Stopped, json!({"disk": 5})),
            Err("disk can only grow: 5 GiB is less than the current 10 GiB".into())
        );
        assert_eq!(
            resize_of(Started, json!({"disk": 11})),
            Err("disk can only be resized while the sandbox is stopped; stop it first".into())
        );
        assert_eq!(
            resize_of(Started, json!({"memory": 2})),
            Err("a running sandbox's cpu and memory can only grow (now 2 cpu, 4 GiB); stop it to decrease them".into())
        );
        assert_eq!(
            resize_of(Stopped, json!({"cpu": 65})),
            Err("cpu 65 is out of range: it must be between 1 and 64".into())
        );
        assert_eq!(refuse_gpu(Some(1)).unwrap_err().to_string(), "this Sandbar host has no GPUs: gpu must be 0");
        assert!(refuse_gpu(Some(0)).is_ok() && refuse_gpu(None).is_ok());
    }

    #[test]
    fn label_keys_are_1_to_253_characters() {
        assert!(check_labels(&BTreeMap::from([("k".repeat(253), String::new())])).is_ok());
        for bad in [String::new(), "k".repeat(254)] {
            let labels = BTreeMap::from([(bad.clone(), "v".to_string())]);
            assert_eq!(
                check_labels(&labels).unwrap_err().to_string(),
                format!("label key {bad:?} must be 1-253 characters")
            );
        }
    }

    #[test]
    fn limits_are_in_bytes_and_millicores() {
        let limits = limits_of(2, 3, 4);
        assert_eq!(limits.cpu_millis, Some(2000));
        assert_eq!(limits.memory_bytes, Some(3 << 30));
        assert_eq!(limits.disk_bytes, Some(4 << 30));
        assert_eq!(limits.pids, Some(DEFAULT_PIDS));
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("n", "my-box_1.x").is_ok());
        for bad in ["", "-x", ".x", "a b", "a/b", &"x".repeat(64)] {
            assert!(validate_name("n", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resources_are_bounded() {
        assert_eq!(bounded("cpu", 2, 1, 4).unwrap(), 2);
        let err = bounded("cpu", 0, 1, 4).unwrap_err().to_string();
        assert_eq!(err, "cpu 0 is out of range: it must be between 1 and 4");
    }
}
