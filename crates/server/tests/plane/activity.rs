//! Toolbox traffic counts as activity without writing the store on its path: the activity is
//! recorded in memory, shown by reads at once, and written by the reaper's next pass before it
//! decides; an idle sandbox still stops on time.

use crate::common::{App, KEY};
use axum::http::{Method, StatusCode};
use sandbar_server::reaper::{reap_once, Decision};
use serde_json::json;

/// The last activity the store holds for a sandbox.
async fn stored(app: &App, org: &str, id: &str) -> String {
    app.store.find_sandbox(org, id).await.unwrap().unwrap().last_activity_at
}

#[tokio::test]
async fn toolbox_activity_is_kept_in_memory_until_the_reaper_writes_it() {
    let app = App::new().await;
    let org = app.store.organization_of_key(&sandbar_server::http::hash_key(KEY)).await.unwrap().unwrap();
    let id = app.create(json!({"autoStopInterval": 10})).await["id"].as_str().unwrap().to_string();
    let created_at = stored(&app, &org.id, &id).await;

    app.clock.advance(time::Duration::minutes(8));
    let sandbox = app.plane.toolbox_sandbox(&org, &id).await.unwrap();
    assert_eq!((sandbox.user.as_str(), sandbox.home.as_str()), ("daytona", "/home/daytona"));
    assert_eq!(stored(&app, &org.id, &id).await, created_at, "the toolbox path wrote nothing");
    let (_, shown) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    let shown_activity = shown["lastActivityAt"].as_str().unwrap().to_string();
    assert!(shown_activity > created_at, "reads show the recorded activity: {shown_activity} vs {created_at}");

    // 11 minutes after create but 3 after the toolbox call: not idle. The pass writes the activity.
    app.clock.advance(time::Duration::minutes(3));
    assert!(reap_once(&app.plane).await.is_empty(), "recent toolbox activity postpones auto-stop");
    assert_eq!(stored(&app, &org.id, &id).await, shown_activity, "the reaper's pass stored the activity");

    app.clock.advance(time::Duration::minutes(8));
    assert_eq!(reap_once(&app.plane).await, vec![(id.clone(), Decision::Stop)], "idle for 11 minutes: stopped");
}

#[tokio::test]
async fn the_toolbox_of_a_stopped_sandbox_is_a_conflict_that_says_so() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    let (status, body) =
        app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(json!({"command": "true"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("is stopped; start it before using the toolbox"), "{body}");
    let (status, _) = app.call_raw(Method::POST, "/toolbox/no-such-sandbox/process/execute", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
