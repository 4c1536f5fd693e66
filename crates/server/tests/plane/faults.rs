//! What the control plane does when its node fails or refuses: the sandbox ends in `error` with
//! the reason (never in a transitional state), the answer names the failure, recovery works, and
//! the node is asked exactly what the plan says. Failures are planted in the fake node.

use crate::common::App;
use axum::http::{Method, StatusCode};
use sandbar_runtime::{Error, SandboxId};
use sandbar_server::node::fake::{Call, Op};
use serde_json::json;

fn sid(id: &str) -> SandboxId {
    SandboxId::new(id).unwrap()
}

fn io_error(what: &str) -> std::io::Error {
    std::io::Error::other(what.to_string())
}

#[tokio::test]
async fn a_failed_start_leaves_the_sandbox_in_error_with_the_reason_and_it_recovers() {
    let app = App::new().await;
    let id = uuid::Uuid::new_v4().to_string();
    // The create's start fails on the node.
    app.node.fail_next(
        Op::Start,
        Error::Sandbox { id: sid(&id), step: "mount the overlay".into(), source: io_error("no space left") },
    );
    let (status, body) = app.call(Method::POST, "/sandbox", Some(json!({"name": "doomed"}))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("mount the overlay") && message.contains("no space left"), "{message}");

    let (_, sandbox) = app.call(Method::GET, "/sandbox/doomed", None).await;
    assert_eq!(sandbox["state"], "error", "never left creating: {sandbox}");
    assert_eq!(sandbox["recoverable"], true);
    let reason = sandbox["errorReason"].as_str().unwrap();
    assert!(reason.contains("no space left"), "{reason}");

    let real = sandbox["id"].as_str().unwrap().to_string();
    let (status, recovered) = app.call(Method::POST, "/sandbox/doomed/recover", None).await;
    assert_eq!(status, StatusCode::OK, "{recovered}");
    assert_eq!(recovered["state"], "started");
    assert!(recovered["errorReason"].is_null(), "the reason goes with the error: {recovered}");
    assert_eq!(app.node.sandbox_state(&real), Some(sandbar_runtime::SandboxState::Running));
}

#[tokio::test]
async fn a_sandbox_in_error_can_always_be_deleted() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    app.node.fail_next(Op::Stop, Error::Cgroup { id: sid(&id), step: "freeze".into(), source: "busy".into() });
    let (status, _) = app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (_, sandbox) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(sandbox["state"], "error");

    let (status, body) = app.call(Method::DELETE, &format!("/sandbox/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.node.sandbox_state(&id), None, "the node no longer has it");
    let (status, _) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_node_is_asked_what_each_transition_plans() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    for (path, state) in [("pause", "paused"), ("start", "started"), ("stop", "stopped"), ("archive", "archived")] {
        let (status, body) = app.call(Method::POST, &format!("/sandbox/{id}/{path}"), None).await;
        assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some(state)), "{path}: {body}");
    }
    // Archiving an archived sandbox plans nothing: the node is not asked again.
    app.call(Method::POST, &format!("/sandbox/{id}/archive"), None).await;
    app.call(Method::DELETE, &format!("/sandbox/{id}"), None).await;
    let calls = app.node.calls();
    assert_eq!(
        calls,
        [
            Call::Create { id: id.clone(), image: "default".into() },
            Call::Start(id.clone()),
            Call::Pause(id.clone()),
            // Start of a paused sandbox resumes it rather than starting anew.
            Call::Resume(id.clone()),
            Call::Stop(id.clone()),
            Call::Archive(id.clone()),
            Call::Delete(id.clone()),
        ]
    );
}

#[tokio::test]
async fn a_refused_transition_never_reaches_the_node() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let before = app.node.calls().len();
    let (status, body) = app.call(Method::POST, &format!("/sandbox/{id}/archive"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a started sandbox cannot be archived: {body}");
    let (status, _) = app.call(Method::POST, &format!("/sandbox/{id}/resize"), Some(json!({"disk": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "disk cannot shrink");
    assert_eq!(app.node.calls().len(), before, "{:?}", app.node.calls());
    let (_, sandbox) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(sandbox["state"], "started");
}

#[tokio::test]
async fn deleting_a_snapshot_whose_image_the_node_still_uses_is_a_conflict_with_the_reason() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, snapshot) =
        app.call(Method::POST, &format!("/sandbox/{id}/snapshot"), Some(json!({"name": "saved"}))).await;
    assert_eq!(status, StatusCode::OK, "{snapshot}");
    app.node.fail_next(Op::DeleteImage, Error::InUse { what: "image \"snap-x\" is used by sandbox hidden".into() });
    let (status, body) = app.call(Method::DELETE, "/snapshots/saved", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("used by sandbox hidden"), "{body}");
    let (status, _) = app.call(Method::GET, "/snapshots/saved", None).await;
    assert_eq!(status, StatusCode::OK, "the refused delete kept the snapshot");
}

#[tokio::test]
async fn reconcile_stops_what_the_node_no_longer_runs() {
    let app = App::new().await;
    let gone = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let alive = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    // The node lost one sandbox's processes (a crash while the server was down).
    app.node.crash(&gone);
    app.plane.reconcile().await.unwrap();
    let state = |body: serde_json::Value| body["state"].as_str().unwrap().to_string();
    assert_eq!(state(app.call(Method::GET, &format!("/sandbox/{gone}"), None).await.1), "stopped");
    assert_eq!(state(app.call(Method::GET, &format!("/sandbox/{alive}"), None).await.1), "started");
}

#[tokio::test]
async fn an_init_death_the_node_reports_turns_only_a_running_sandbox_to_error() {
    use sandbar_runtime::{ExitStatus, InitExit, SandboxId};
    use sandbar_server::node::InitExited;
    let app = App::new().await;
    let report = |id: &str, oom_kills| InitExited {
        id: SandboxId::new(id).unwrap(),
        exit: InitExit { status: Some(ExitStatus::Signal(libc::SIGKILL)), oom_kills },
    };
    let dead = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let alive = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let stopped = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    app.call(Method::POST, &format!("/sandbox/{stopped}/stop"), None).await;

    app.node.crash(&dead);
    assert!(app.plane.init_exited(&report(&dead, 1)).await.unwrap());
    let (_, body) = app.call(Method::GET, &format!("/sandbox/{dead}"), None).await;
    assert_eq!(body["state"], "error");
    assert_eq!(body["recoverable"], true);
    let reason = body["errorReason"].as_str().unwrap();
    assert!(reason.contains("killed by signal 9 (SIGKILL); OOM-killed"), "{reason}");

    // A stale report changes nothing: the sandbox runs on its node, or is not running anyway.
    assert!(!app.plane.init_exited(&report(&alive, 0)).await.unwrap());
    assert!(!app.plane.init_exited(&report(&stopped, 0)).await.unwrap());
    assert!(!app.plane.init_exited(&report(&dead, 0)).await.unwrap(), "an error sandbox is not recorded again");
    let state = |body: serde_json::Value| body["state"].as_str().unwrap().to_string();
    assert_eq!(state(app.call(Method::GET, &format!("/sandbox/{alive}"), None).await.1), "started");
    assert_eq!(state(app.call(Method::GET, &format!("/sandbox/{stopped}"), None).await.1), "stopped");
    // Recovering starts it again.
    assert_eq!(state(app.call(Method::POST, &format!("/sandbox/{dead}/start"), None).await.1), "started");
}
