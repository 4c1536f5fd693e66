//! The reaper archives a real sandbox's files on time and start restores them (injected clock;
//! the timing rules themselves are in the unprivileged suite, tests/plane/reaper.rs).

use crate::common::App;
use axum::http::Method;
use sandbar_server::reaper::{reap_once, Decision};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn stopped_sandboxes_are_archived_on_time_and_start_restores_them() {
    let app = App::new().await;
    let id =
        app.create(json!({"autoStopInterval": 0, "autoArchiveInterval": 5})).await["id"].as_str().unwrap().to_string();
    let (status, body) = app.call(Method::POST, &format!("/sandbox/{id}/archive"), None).await;
    assert_eq!(status, axum::http::StatusCode::CONFLICT, "a running sandbox cannot be archived: {body}");
    let exec = json!({"command": "echo kept > ~/file"});
    app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(exec)).await;
    app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;

    app.clock.advance(time::Duration::minutes(4));
    assert!(reap_once(&app.plane).await.is_empty(), "not due after 4 minutes");
    app.clock.advance(time::Duration::minutes(2));
    assert_eq!(reap_once(&app.plane).await, vec![(id.clone(), Decision::Archive)]);
    let (_, body) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(body["state"], "archived");
    assert!(!app.runtime.upper_dir(&sandbar_runtime::SandboxId::new(id.clone()).unwrap()).exists());
    assert!(reap_once(&app.plane).await.is_empty(), "an archived sandbox is not archived again");

    let (_, body) = app.call(Method::POST, &format!("/sandbox/{id}/archive"), None).await;
    assert_eq!(body["state"], "archived", "archive is idempotent");
    let (_, body) = app.call(Method::POST, &format!("/sandbox/{id}/start"), None).await;
    assert_eq!(body["state"], "started");
    let cat = json!({"command": "cat ~/file"});
    let (_, out) = app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(cat)).await;
    assert_eq!(out["result"], "kept\n");
}
