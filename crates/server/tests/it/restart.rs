//! A server that dies without stopping its sandboxes (kill -9) loses nothing: the next one
//! re-adopts the sandboxes still running (their processes go on) and can exec in, stop and
//! delete them.

use crate::common::{runtime_with_parent, App};
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_servers_running_sandboxes_are_re_adopted_with_their_processes() {
    let first = App::new().await;
    let sandbox = first.create(json!({"name": "survivor", "labels": {"k": "v"}})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    let out = first
        .runtime
        .exec(
            &runtime_id,
            &sandbar_runtime::ExecSpec::new([
                "sh",
                "-c",
                "echo precious > /tmp/in-memory; sleep 1000 & echo $! > /tmp/sleeper",
            ]),
        )
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

    // A paused sandbox's init is frozen and cannot answer a ping: it is adopted all the same.
    let paused = first.create(json!({"name": "frozen"})).await["id"].as_str().unwrap().to_string();
    let (_, body) = first.call(Method::POST, &format!("/sandbox/{paused}/pause"), None).await;
    assert_eq!(body["state"], "paused");
    let paused_init = first.runtime.init_pid(&sandbar_runtime::SandboxId::new(paused.clone()).unwrap()).unwrap();

    // "kill -9": the first server's state is dropped without stopping anything.
    let data = first.crash();
    assert!(std::path::Path::new(&format!("/proc/{orphan_init}")).exists(), "the orphan still runs");

    let runtime = Arc::new(runtime_with_parent(data.path(), &parent));
    let recovered = runtime.recover_orphans().unwrap();
    assert_eq!((recovered.adopted, recovered.stopped), (2, 0));
    let second = App::assemble(data, runtime, 10_000).await;
    second.plane.reconcile().await.unwrap();

    let (status, body) = second.call(Method::GET, "/sandbox/survivor", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["state"].as_str(), body["labels"]["k"].as_str()), (Some("started"), Some("v")));
    assert_eq!(second.runtime.init_pid(&runtime_id).unwrap(), orphan_init, "the same init, not a new one");
    // tmpfs contents and a background process from before the crash are still there.
    let exec = json!({"command": "cat /tmp/in-memory; kill -0 $(cat /tmp/sleeper) && echo sleeper-alive"});
    let (status, body) = second.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(exec)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "precious\nsleeper-alive\n");

    let (_, body) = second.call(Method::GET, "/sandbox/frozen", None).await;
    assert_eq!(body["state"], "paused", "the paused sandbox is adopted paused");
    let (_, body) = second.call(Method::POST, "/sandbox/frozen/start", None).await;
    assert_eq!(body["state"], "started");
    let (status, body) = second
        .call_raw(Method::POST, &format!("/toolbox/{paused}/process/execute"), Some(json!({"command": "echo thawed"})))
        .await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("thawed\n")));
    second.call(Method::DELETE, "/sandbox/frozen", None).await;
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(paused_init), None);

    // The adopted sandbox stops, starts and is deleted like any other.
    let (_, body) = second.call(Method::POST, "/sandbox/survivor/stop", None).await;
    assert_eq!(body["state"], "stopped");
    // In a real restart the host's init reaps the old init; here the test process is its parent.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(orphan_init), None);
    assert!(!std::path::Path::new(&format!("/proc/{orphan_init}")).exists(), "the adopted init is gone");
    let (status, body) = second.call(Method::POST, "/sandbox/survivor/start", None).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("started")));
    let (status, _) = second.call(Method::DELETE, "/sandbox/survivor", None).await;
    assert_eq!(status, StatusCode::OK);
}
