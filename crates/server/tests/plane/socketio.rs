//! The Socket.IO gateway refuses a wrong key at CONNECT (CONNECT_ERROR with the reason), so such a
//! client never holds a connection; a good key connects. Driven over Engine.IO's polling
//! transport, which needs no socket.

use crate::common::{App, KEY};
use axum::body::Body;
use axum::http::{Request, StatusCode};

const BASE: &str = "/api/socket.io/?EIO=4&transport=polling";

/// Opens an Engine.IO session; its id.
async fn open(app: &App) -> String {
    let (status, open) = app.send(Request::builder().uri(BASE).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let text = open.as_str().unwrap();
    let handshake: serde_json::Value = serde_json::from_str(text.strip_prefix('0').unwrap()).unwrap();
    handshake["sid"].as_str().unwrap().to_string()
}

/// Sends a Socket.IO CONNECT with `auth` and returns the server's answer packet.
async fn connect(app: &App, auth: &str) -> String {
    let sid = open(app).await;
    let uri = format!("{BASE}&sid={sid}");
    let post = Request::builder().method("POST").uri(&uri).body(Body::from(format!("40{auth}"))).unwrap();
    let (status, body) = app.send(post).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, answer) = app.send(Request::builder().uri(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer.as_str().map(str::to_string).unwrap_or_else(|| answer.to_string())
}

#[tokio::test]
async fn a_wrong_or_missing_key_gets_connect_error_with_the_reason() {
    let app = App::new().await;
    let wrong = connect(&app, r#"{"token":"not-a-key"}"#).await;
    assert!(wrong.starts_with("44"), "CONNECT_ERROR expected, got {wrong:?}");
    assert!(wrong.contains("invalid API key"), "{wrong:?}");
    let missing = connect(&app, "{}").await;
    assert!(missing.starts_with("44") && missing.contains("no API key"), "{missing:?}");
}

#[tokio::test]
async fn a_good_key_connects() {
    let app = App::new().await;
    let answer = connect(&app, &format!(r#"{{"token":"{KEY}"}}"#)).await;
    assert!(answer.starts_with("40{") && answer.contains("\"sid\""), "CONNECT expected, got {answer:?}");
}
