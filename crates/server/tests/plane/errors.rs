//! Bad input gets a 4xx with a message and changes nothing.

use crate::common::App;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

async fn sandbox_count(app: &App) -> usize {
    app.call(Method::GET, "/sandbox", None).await.1["items"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_creates_are_rejected_with_a_message_and_leave_nothing() {
    let app = App::new().await;
    let cases = [
        (json!({"cpu": "two"}), "invalid request body"),
        (json!({"snapshot": "no-such-snapshot"}), "no-such-snapshot"),
        (json!({"snapshot": "default", "cpu": 2}), "resources"),
        (json!({"cpu": 1000}), "cpu 1000 is out of range"),
        (json!({"memory": 0}), "memory 0 is out of range"),
        (json!({"env": {"BAD-NAME": "x"}}), "BAD-NAME"),
        (json!({"name": "has space"}), "has space"),
        (json!({"gpu": 1}), "gpu"),
        (json!({"autoStopInterval": -5}), "autoStopInterval"),
        (json!({"volumes": [{"volumeId": "missing", "mountPath": "/data"}]}), "missing"),
        (json!({"buildInfo": {"dockerfileContent": "FROM python:3.12\n"}}), "FROM python:3.12"),
    ];
    for (body, needle) in cases {
        let (status, error) = app.call(Method::POST, "/sandbox", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: message {message:?} lacks {needle:?}");
        assert_eq!(error["statusCode"], 400);
    }
    assert_eq!(sandbox_count(&app).await, 0, "nothing was created");
    assert!(app.node.calls().is_empty(), "the node was never asked to make a sandbox: {:?}", app.node.calls());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_and_bad_parameters_are_4xx() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let cases = [
        (Method::GET, "/sandbox/00000000-0000-0000-0000-000000000000".to_string(), StatusCode::NOT_FOUND),
        (Method::POST, "/sandbox/nope/start".to_string(), StatusCode::NOT_FOUND),
        (Method::POST, format!("/sandbox/{id}/autostop/soon"), StatusCode::BAD_REQUEST),
        (Method::POST, format!("/sandbox/{id}/autodelete/-2"), StatusCode::BAD_REQUEST),
        (Method::POST, format!("/sandbox/{id}/public/maybe"), StatusCode::BAD_REQUEST),
        (Method::GET, "/sandbox?limit=0".to_string(), StatusCode::BAD_REQUEST),
        (Method::GET, "/sandbox?states=flying".to_string(), StatusCode::BAD_REQUEST),
        (Method::GET, "/sandbox?labels=notjson".to_string(), StatusCode::BAD_REQUEST),
        (Method::GET, "/sandbox?cursor=bogus".to_string(), StatusCode::BAD_REQUEST),
        (Method::GET, "/sandbox?sort=color".to_string(), StatusCode::BAD_REQUEST),
        (Method::GET, "/snapshots/nope".to_string(), StatusCode::NOT_FOUND),
        (Method::POST, format!("/sandbox/{id}/archive"), StatusCode::CONFLICT),
        (Method::POST, "/sandbox/nope/archive".to_string(), StatusCode::NOT_FOUND),
        (Method::GET, "/no/such/route".to_string(), StatusCode::NOT_FOUND),
    ];
    for (method, path, expected) in cases {
        let (status, body) = app.call(method.clone(), &path, None).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {body}");
    }
    let (_, still) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(still["state"], "started", "bad requests changed nothing");
    assert_eq!(still["autoStopInterval"], 15);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_required_and_checked() {
    let app = App::new().await;
    let no_key = Request::builder().uri("/api/sandbox").body(Body::empty()).unwrap();
    let (status, body) = app.send(no_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = app.call_as("wrong", Method::GET, "/sandbox", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Health needs no key, and neither does the Socket.IO handshake: its key travels in the
    // CONNECT packet (checked by tests/sdk/socketio_events.py). An Engine.IO polling handshake
    // opens a session.
    let (status, _) = app.send(Request::builder().uri("/api/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let handshake = Request::builder().uri("/api/socket.io/?EIO=4&transport=polling").body(Body::empty()).unwrap();
    let (status, open) = app.send(handshake).await;
    assert_eq!(status, StatusCode::OK, "{open}");
    assert!(open.as_str().is_some_and(|text| text.starts_with("0{") && text.contains("\"sid\"")), "{open}");
    // A revoked key stops working.
    let prefix: String = crate::common::OTHER_KEY.chars().take(8).collect();
    assert_eq!(app.store.revoke_api_key(&prefix, "2026-01-01T00:00:00.000Z").await.unwrap(), 1);
    let (status, _) = app.call_as(crate::common::OTHER_KEY, Method::GET, "/sandbox", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_over_the_rate_limit_get_429() {
    let app = App::with_rate_limit(1).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.call(Method::GET, "/sandbox", None).await.0);
    }
    assert_eq!(statuses[0], StatusCode::OK);
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_keeps_no_signing_key_only_a_nonce_the_master_key_turns_into_one() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, key) = app.call(Method::GET, &format!("/sandbox/{id}/signing-key"), None).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let key = key.as_str().expect("the key is a JSON string").to_string();
    let (_, nonce) = app.store.signing_nonce_by_id(&id).await.unwrap().expect("a nonce was made");
    assert_ne!(nonce, key, "the database does not hold the key");
    assert_eq!(sandbar_server::signing::MasterKey::from_bytes([7; 32]).derive(&id, &nonce), key);
    let (_, rotated) = app.call(Method::POST, &format!("/sandbox/{id}/signing-key/rotate"), None).await;
    assert_ne!(rotated.as_str().unwrap(), key, "rotation gives a new key");
}
