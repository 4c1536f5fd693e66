//! Network settings and linked sandboxes through the API: what reaches the node (the policy a
//! runtime enforces, the link), Daytona's checks and messages, and the cascade on delete.

use crate::common::App;
use axum::http::{Method, StatusCode};
use sandbar_runtime::EgressPolicy;
use serde_json::json;

#[tokio::test]
async fn settings_reach_the_node_as_the_policy_the_row_stands_for() {
    let app = App::new().await;
    let created = app.create(json!({"networkAllowList": "10.1.2.3/16", "domainAllowList": "*.Example.com"})).await;
    let id = created["id"].as_str().unwrap().to_string();
    let spec = app.node.spec(&id).unwrap();
    assert_eq!(spec.egress.allow_cidrs, vec!["10.1.0.0/16".parse::<ipnet::Ipv4Net>().unwrap()], "host bits masked");
    assert_eq!(spec.egress.allow_domains, vec!["*.example.com"]);
    // The DTO echoes what was sent.
    assert_eq!(
        (created["networkAllowList"].as_str(), created["domainAllowList"].as_str()),
        (Some("10.1.2.3/16"), Some("*.Example.com"))
    );

    let (status, body) = app
        .call(Method::POST, &format!("/sandbox/{id}/network-settings"), Some(json!({"networkBlockAll": true})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let policy = app.node.spec(&id).unwrap().egress;
    assert!(policy.block_all && policy.allow_cidrs.is_empty(), "block clears the CIDR list: {policy:?}");
    assert_eq!(policy.allow_domains, vec!["*.example.com"], "and keeps the domain list");

    // A node that refuses changes nothing in the store either.
    app.node.fail_next(
        sandbar_server::node::fake::Op::UpdateNetwork,
        sandbar_runtime::Error::InvalidSpec { what: "refused by the test".into() },
    );
    let (status, body) = app
        .call(Method::POST, &format!("/sandbox/{id}/network-settings"), Some(json!({"networkBlockAll": false})))
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    let (_, got) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(got["networkBlockAll"], true);

    // Bad input on create is a 400 with Daytona's message, and nothing is created.
    let (status, body) = app.call(Method::POST, "/sandbox", Some(json!({"networkAllowList": "10.0.0.0/33"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "Invalid CIDR prefix length: 10.0.0.0/33. Prefix must be between 0 and 32");
    let (status, body) = app
        .call(
            Method::POST,
            "/sandbox",
            Some(json!({"domainAllowList": "a.com,b.com,c.com,d.com,e.com,f.com,g.com,h.com,i.com,j.com,k.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "Domain allow list cannot contain more than 10 domains");
    assert!(EgressPolicy::default().is_open());
}

#[tokio::test]
async fn a_linked_sandbox_follows_daytonas_rules_and_goes_with_its_owner() {
    let app = App::new().await;
    let owner = app.create(json!({"name": "owner"})).await;
    let owner_id = owner["id"].as_str().unwrap().to_string();
    assert_eq!(owner["linkedSandboxId"], json!(null), "every DTO carries the key");

    let (status, body) = app.call(Method::POST, "/sandbox", Some(json!({"linkedSandbox": "owner"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "Linked sandboxes must be ephemeral (set autoDeleteInterval to 0)");
    let (status, _) =
        app.call(Method::POST, "/sandbox", Some(json!({"linkedSandbox": "nobody", "autoDeleteInterval": 0}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let follower = app.create(json!({"name": "follower", "linkedSandbox": "owner", "autoDeleteInterval": 0})).await;
    let follower_id = follower["id"].as_str().unwrap().to_string();
    assert_eq!(follower["linkedSandboxId"], owner_id.as_str());
    let link = app.node.spec(&follower_id).unwrap().link.expect("the node gets the link");
    assert_eq!(
        (link.owner.as_str(), link.owner_alias.as_str(), link.alias.as_str()),
        (owner_id.as_str(), "owner", "follower")
    );

    let (status, body) =
        app.call(Method::POST, "/sandbox", Some(json!({"linkedSandbox": "follower", "autoDeleteInterval": 0}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        format!("Linked sandbox {follower_id} is itself linked to another sandbox; chained links are not allowed")
    );
    let (_, paused) = app.call(Method::POST, &format!("/sandbox/{owner_id}/pause"), None).await;
    assert_eq!(paused["state"], "paused");
    let (status, body) =
        app.call(Method::POST, "/sandbox", Some(json!({"linkedSandbox": owner_id, "autoDeleteInterval": 0}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        "Linked sandbox must be in STARTED or STOPPED state with an assigned runner (current: paused)"
    );

    // Deleting the owner deletes its follower.
    let (status, _) = app.call(Method::DELETE, &format!("/sandbox/{owner_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, &format!("/sandbox/{follower_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the follower went with its owner");
    assert_eq!(app.node.sandbox_state(&follower_id), None);
}
