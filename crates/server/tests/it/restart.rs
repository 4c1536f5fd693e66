//! A server that dies without stopping its sandboxes (kill -9) loses nothing: the next one
//! kills the orphaned sandboxes, marks them stopped, and they start again with their files.

use crate::common::{runtime_with_parent, App};
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_servers_sandboxes_are_found_stopped_with_their_files() {
    let first = App::new();
    let sandbox = first.create(json!({"name": "survivor", "labels": {"k": "v"}})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    let out = first
        .runtime
        .exec(&runtime_id, &sandbar_runtime::ExecSpec::new(["sh", "-c", "echo precious > /home/daytona/file"]))
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(out.status, sandbar_runtime::ExitStatus::Code(0));
    let orphan_init = first.runtime.init_pid(&runtime_id).unwrap();
    // The restarted server uses the same cgroup parent, as a real restart does.
    let parent = std::fs::read_to_string(format!("/proc/{orphan_init}/cgroup"))
        .unwrap()
        .lines()
        .find(|l| l.contains(":memory:"))
        .and_then(|l| l.rsplit('/').nth(1).map(str::to_string))
        .expect("the init's memory cgroup names its parent");

    // "kill -9": the first server's state is dropped without stopping anything.
    let data = first.crash();
    assert!(std::path::Path::new(&format!("/proc/{orphan_init}")).exists(), "the orphan still runs");

    let runtime = Arc::new(runtime_with_parent(data.path(), &parent));
    assert_eq!(runtime.recover_orphans().unwrap(), 1);
    // Reap the orphan here: in a real restart it is no longer our child.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(orphan_init), None);
    let second = App::assemble(data, runtime, 10_000);
    second.plane.reconcile().await.unwrap();

    let (status, body) = second.call(Method::GET, "/sandbox/survivor", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["state"].as_str(), body["labels"]["k"].as_str()), (Some("stopped"), Some("v")));
    let (status, body) = second.call(Method::POST, "/sandbox/survivor/start", None).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("started")));
    let out = second
        .runtime
        .exec(&runtime_id, &sandbar_runtime::ExecSpec::new(["cat", "/home/daytona/file"]))
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "precious\n");
}
