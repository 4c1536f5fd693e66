//! Inputs the API fuzzer (tests/fuzz) found answered with a 5xx, each kept as a regression test:
//! a timeout past what a clock can hold, a NUL byte in a git identity, git's local "unable to
//! access" taken for a network failure, and a PTY id with a NUL byte (it panicked naming a thread).

use crate::common::App;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_beyond_any_clock_is_no_deadline_not_a_panic() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let huge = json!({"command": "echo ran", "timeout": 9_223_372_036_854_775_808u64});
    let (status, body) = app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(huge)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["exitCode"].as_i64(), body["result"].as_str()), (Some(0), Some("ran\n")));
    let code = json!({"code": "print('ran')", "timeout": 9_223_372_036_854_775_808u64});
    let (status, body) = app.call_raw(Method::POST, &format!("/toolbox/{id}/process/code-run"), Some(code)).await;
    assert!(status.is_success(), "{status} {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn git_inputs_that_git_cannot_take_are_400s() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let git = |op: &str| format!("/toolbox/{id}/git/{op}");
    let (status, body) = app.call_raw(Method::POST, &git("init"), Some(json!({"path": "/home/daytona/r"}))).await;
    assert!(status.is_success(), "{status} {body}");
    let commit =
        json!({"path": "/home/daytona/r", "message": "m", "author": "a", "email": "a\u{0}b", "allow_empty": true});
    let (status, body) = app.call_raw(Method::POST, &git("commit"), Some(commit)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("NUL"), "{body}");

    // A directory where git's config file should be: git's "unable to access" is about a local
    // file, so it is the request's fault (400), not a failed transport (502).
    let folder = format!("/toolbox/{id}/files/folder?path=/home/daytona/x/.git/config&mode=755");
    let (status, body) = app.call_raw(Method::POST, &folder, None).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = app.call_raw(Method::POST, &git("init"), Some(json!({"path": "/home/daytona/x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pty_id_with_a_control_character_is_a_400() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let pty = format!("/toolbox/{id}/process/pty");
    for bad in ["a\u{0}b", "tab\there", "line\nbreak"] {
        let (status, body) = app.call_raw(Method::POST, &pty, Some(json!({"id": bad}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("control characters"), "{body}");
    }
    let (status, body) = app.call_raw(Method::POST, &pty, Some(json!({"id": "fine-1"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.call_raw(Method::DELETE, &format!("{pty}/fine-1"), None).await;
    assert!(status.is_success(), "{status} {body}");
}
