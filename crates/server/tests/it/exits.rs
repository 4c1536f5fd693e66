//! An init that dies on its own (here kill -9 from the host, as the OOM killer would) turns its
//! sandbox to `error` with how init ended, with the usual state event, and without any API call
//! noticing it first; a stop is no such death.

use crate::common::App;
use axum::http::Method;
use sandbar_api::events::SandboxEvent;
use sandbar_api::SandboxState;
use sandbar_runtime::SandboxId;
use serde_json::json;
use std::time::Duration;

/// The stored row of sandbox `id` once it is in `state`, polling the store (never the API) at
/// most 400 times, 25 ms apart.
async fn stored_once(app: &App, id: &str, state: SandboxState) -> sandbar_server::model::SandboxRow {
    for _ in 0..400 {
        let row = app.plane.store().find_live_sandbox(id).await.unwrap().expect("the row exists");
        if row.state == state {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("sandbox {id} never became {}", state.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_init_turns_its_sandbox_to_error_with_the_reason_by_itself() {
    let app = App::new().await;
    let watcher = tokio::spawn(sandbar_server::exits::run(app.plane.clone()));
    let mut events = app.plane.events().subscribe();
    let doomed = app.create(json!({"name": "doomed"})).await["id"].as_str().unwrap().to_string();
    let neighbour = app.create(json!({"name": "neighbour"})).await["id"].as_str().unwrap().to_string();
    let init = app.runtime.init_pid(&SandboxId::new(doomed.clone()).unwrap()).unwrap();

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::Signal::SIGKILL).unwrap();
    let row = stored_once(&app, &doomed, SandboxState::Error).await;
    let reason = row.error_reason.clone().unwrap_or_default();
    assert!(reason.contains("init was killed by signal 9 (SIGKILL)"), "{reason}");
    assert!(!reason.contains("OOM"), "a kill from outside is not called an OOM kill: {reason}");
    assert_eq!(row.recoverable, Some(true));
    let mut announced = false;
    while let Ok(event) = events.try_recv() {
        if let SandboxEvent::StateUpdated(update) = event.event {
            announced |= update.sandbox.id == doomed && update.new_state == "error" && update.old_state == "started";
        }
    }
    assert!(announced, "no sandbox.state.updated started -> error event");

    // The API says the same; the neighbour runs on; the dead one starts again.
    let (_, body) = app.call(Method::GET, "/sandbox/doomed", None).await;
    assert_eq!((body["state"].as_str(), body["errorReason"].as_str()), (Some("error"), Some(reason.as_str())));
    let (_, body) = app.call(Method::GET, "/sandbox/neighbour", None).await;
    assert_eq!(body["state"], "started");
    let (_, body) = app.call(Method::POST, "/sandbox/doomed/start", None).await;
    assert_eq!(body["state"], "started", "{body}");

    // A stop is no death on its own: the sandbox stays stopped. A later death of the restarted
    // init is seen too, which shows the stop's wake-up was handled before it.
    let (_, body) = app.call(Method::POST, &format!("/sandbox/{neighbour}/stop"), None).await;
    assert_eq!(body["state"], "stopped");
    let init = app.runtime.init_pid(&SandboxId::new(doomed.clone()).unwrap()).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::Signal::SIGKILL).unwrap();
    stored_once(&app, &doomed, SandboxState::Error).await;
    let row = app.plane.store().find_live_sandbox(&neighbour).await.unwrap().unwrap();
    assert_eq!(row.state, SandboxState::Stopped, "a stopped sandbox was recorded as an init death");
    watcher.abort();
}
