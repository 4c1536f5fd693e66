//! The reaper enforces auto-stop and auto-delete with an injected clock: no test sleeps.

use crate::common::App;
use axum::http::Method;
use sandbar_server::reaper::{reap_once, Decision};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn idle_sandboxes_stop_and_stopped_ones_are_deleted_on_time() {
    let app = App::new().await;
    let idle =
        app.create(json!({"autoStopInterval": 10, "autoDeleteInterval": 60})).await["id"].as_str().unwrap().to_string();
    let keep = app.create(json!({"autoStopInterval": 0})).await["id"].as_str().unwrap().to_string();

    app.clock.advance(time::Duration::minutes(9));
    assert!(reap_once(&app.plane).await.is_empty(), "nothing is due after 9 minutes");

    app.clock.advance(time::Duration::minutes(2));
    assert_eq!(reap_once(&app.plane).await, vec![(idle.clone(), Decision::Stop)]);
    let (_, body) = app.call(Method::GET, &format!("/sandbox/{idle}"), None).await;
    assert_eq!(body["state"], "stopped");

    // Activity resets the idle timer of the sandbox that never auto-stops anyway.
    app.call(Method::POST, &format!("/sandbox/{keep}/last-activity"), None).await;
    app.clock.advance(time::Duration::minutes(59));
    assert!(reap_once(&app.plane).await.is_empty());
    app.clock.advance(time::Duration::minutes(2));
    assert_eq!(reap_once(&app.plane).await, vec![(idle.clone(), Decision::Delete)]);
    let (status, _) = app.call(Method::GET, &format!("/sandbox/{idle}"), None).await;
    assert_eq!(status, axum::http::StatusCode::NOT_FOUND);
    let (_, kept) = app.call(Method::GET, &format!("/sandbox/{keep}"), None).await;
    assert_eq!(kept["state"], "started", "autoStopInterval 0 never stops");
}
