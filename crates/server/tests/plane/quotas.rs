//! Admission: an organization's quotas (Daytona's 400s and messages) and the node's capacity
//! (a 400 for what the host can never hold, a 503 while it is full), checked before anything is
//! made, started or grown; a refused request changes nothing.

use crate::common::{App, OTHER_KEY};
use axum::http::{Method, StatusCode};
use sandbar_runtime::Capacity;
use sandbar_server::model::OrganizationQuota;
use serde_json::{json, Value};

async fn sandbox_count(app: &App) -> usize {
    app.call(Method::GET, "/sandbox", None).await.1["items"].as_array().unwrap().len()
}

async fn set_quota(app: &App, org: &str, quota: OrganizationQuota) {
    let org = app.store.find_organization(org).await.unwrap().expect("organization exists");
    app.store.set_organization_quota(&org.id, &quota).await.unwrap();
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_organizations_cpu_quota_refuses_the_sandbox_that_would_pass_it() {
    let app = App::new().await;
    set_quota(&app, "default", OrganizationQuota { total_cpu: Some(2), ..Default::default() }).await;
    let first = app.create(json!({})).await;
    app.create(json!({})).await;
    let calls = app.node.calls().len();

    let (status, error) = app.call(Method::POST, "/sandbox", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(message(&error), "Total CPU limit exceeded. Maximum allowed: 2.");
    assert_eq!((error["statusCode"].as_u64(), error["error"].as_str()), (Some(400), Some("Bad Request")));
    assert_eq!(sandbox_count(&app).await, 2, "the refused sandbox was not made");
    assert_eq!(app.node.calls().len(), calls, "the node was not asked");

    // Another organization has no quota.
    let (status, other) = app.call_as(OTHER_KEY, Method::POST, "/sandbox", Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{other}");

    // A stopped sandbox holds no cpu: the next create fits, and starting the stopped one again
    // is refused the same way.
    let id = first["id"].as_str().unwrap();
    let (status, body) = app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.create(json!({})).await;
    let (status, error) = app.call(Method::POST, &format!("/sandbox/{id}/start"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(message(&error), "Total CPU limit exceeded. Maximum allowed: 2.");
    let (_, stopped) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(stopped["state"], "stopped", "a refused start leaves the sandbox as it was");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_sandbox_and_count_quotas_use_daytonas_messages() {
    let app = App::new().await;
    let quota = OrganizationQuota {
        max_sandboxes: Some(2),
        max_memory_per_sandbox: Some(2),
        total_disk: Some(7),
        ..Default::default()
    };
    set_quota(&app, "default", quota).await;
    let (status, error) = app.call(Method::POST, "/sandbox", Some(json!({"memory": 3}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(message(&error), "Memory request 3GB exceeds maximum allowed per sandbox (2GB).");
    app.create(json!({"disk": 3})).await;
    let (status, error) = app.call(Method::POST, "/sandbox", Some(json!({"disk": 5}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&error).starts_with("Total disk limit exceeded. Maximum allowed: 7GiB."), "{error}");
    app.create(json!({"disk": 4})).await;
    let (status, error) = app.call(Method::POST, "/sandbox", Some(json!({"disk": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&error).starts_with("Total sandbox limit exceeded. Maximum allowed: 2."), "{error}");
    assert_eq!(sandbox_count(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_host_answers_503_and_what_it_can_never_hold_is_a_400() {
    let app = App::new().await;
    // 6 GiB for sandboxes, over-committed twice by default: 12 GiB of memory limits may run.
    app.node.set_capacity(Capacity { cpus: 2, memory_bytes: 6 << 30, disk_bytes: None });
    let (status, error) = app.call(Method::POST, "/sandbox", Some(json!({"memory": 69}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(message(&error), "memory 69 GiB is more than this host can give sandboxes (6.0 GiB)");
    let (status, error) = app.call(Method::POST, "/sandbox", Some(json!({"cpu": 3}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(message(&error), "cpu 3 is more than this host has (2 cpus)");

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.create(json!({"memory": 4})).await["id"].as_str().unwrap().to_string());
    }
    let (status, error) = app.call(Method::POST, "/sandbox", Some(json!({"memory": 1}))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    assert_eq!(error["statusCode"], 503);
    let text = message(&error);
    assert!(text.starts_with("this host is full: sandboxes hold 12 GiB of the 12.0 GiB"), "{text}");
    assert!(text.contains("--memory-overcommit"), "{text}");
    assert_eq!(sandbox_count(&app).await, 3, "nothing was made");

    // Growing a running sandbox is refused the same way and leaves it as it was.
    let (status, error) =
        app.call(Method::POST, &format!("/sandbox/{}/resize", ids[0]), Some(json!({"memory": 5}))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    let (_, sandbox) = app.call(Method::GET, &format!("/sandbox/{}", ids[0]), None).await;
    assert_eq!((sandbox["state"].as_str(), sandbox["memory"].as_i64()), (Some("started"), Some(4)));

    // Stopping one makes room again.
    let (status, body) = app.call(Method::POST, &format!("/sandbox/{}/stop", ids[1]), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.create(json!({"memory": 4})).await;
}
