//! Create, get, stop, start, delete through the API, as the SDKs call them.

use crate::common::{assert_full_dto, App, OTHER_KEY};
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn create_returns_a_started_sandbox_with_every_key() {
    let app = App::new().await;
    let sandbox = app
        .create(json!({"name": "alpha", "env": {"GREETING": "hi"}, "labels": {"code-toolbox-language": "python"}, "volumes": []}))
        .await;
    assert_full_dto(&sandbox);
    assert_eq!(sandbox["name"], "alpha");
    assert_eq!(sandbox["user"], "daytona");
    assert_eq!(sandbox["env"]["GREETING"], "hi");
    assert_eq!(sandbox["snapshot"], "default");
    let id = sandbox["id"].as_str().unwrap().to_string();

    // By id and by name.
    for key in [id.as_str(), "alpha"] {
        let (status, got) = app.call(Method::GET, &format!("/sandbox/{key}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got["id"], id.as_str());
    }
    // The env reaches processes: the runtime runs the sandbox with it.
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    let out = app
        .runtime
        .exec(&runtime_id, &sandbar_runtime::ExecSpec::new(["sh", "-c", "echo $GREETING; id -un"]))
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\ndaytona\n");
    // Resources became runtime limits: 1 GiB of memory by default.
    let limit = app
        .runtime
        .cgroup_dirs(&runtime_id)
        .into_iter()
        .map(|d| d.join("memory.limit_in_bytes"))
        .find(|p| p.exists())
        .map(|p| std::fs::read_to_string(p).unwrap());
    assert_eq!(limit.as_deref().map(str::trim), Some("1073741824"));
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_start_delete_round_trip() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, stopped) = app.call(Method::POST, &format!("/sandbox/{id}/stop?force=false"), None).await;
    assert_eq!((status, stopped["state"].as_str()), (StatusCode::OK, Some("stopped")));
    let (_, again) = app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    assert_eq!(again["state"], "stopped", "stopping twice is fine");
    let (status, started) = app.call(Method::POST, &format!("/sandbox/{id}/start"), None).await;
    assert_eq!((status, started["state"].as_str()), (StatusCode::OK, Some("started")));
    let (status, deleted) = app.call(Method::DELETE, &format!("/sandbox/{id}"), None).await;
    assert_eq!((status, deleted["state"].as_str()), (StatusCode::OK, Some("destroyed")));
    assert_full_dto(&deleted);
    let (status, _) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted sandbox is gone for the SDK");
    let runtime_id = sandbar_runtime::SandboxId::new(id).unwrap();
    assert!(app.runtime.leftovers(&runtime_id).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ephemeral_sandboxes_are_deleted_when_they_stop() {
    let app = App::new().await;
    let id = app.create(json!({"autoDeleteInterval": 0})).await["id"].as_str().unwrap().to_string();
    let (status, body) = app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "destroyed");
    let (status, _) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_organizations_see_nothing() {
    let app = App::new().await;
    let id = app.create(json!({"name": "mine"})).await["id"].as_str().unwrap().to_string();
    for path in [format!("/sandbox/{id}"), "/sandbox/mine".to_string()] {
        let (status, body) = app.call_as(OTHER_KEY, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "404, not 403: {body}");
    }
    let (status, _) = app.call_as(OTHER_KEY, Method::DELETE, &format!("/sandbox/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.call_as(OTHER_KEY, Method::GET, "/sandbox", None).await;
    assert_eq!(list["items"], json!([]));
    // Names are per organization.
    let (status, _) = app.call_as(OTHER_KEY, Method::POST, "/sandbox", Some(json!({"name": "mine"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.call(Method::POST, "/sandbox", Some(json!({"name": "mine"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_intervals_public_and_network_settings_are_stored() {
    let app = App::new().await;
    let id =
        app.create(json!({"labels": {"code-toolbox-language": "python"}})).await["id"].as_str().unwrap().to_string();
    let (status, labels) = app
        .call(
            Method::PUT,
            &format!("/sandbox/{id}/labels"),
            Some(json!({"labels": {"team": "x", "code-toolbox-language": "python"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(labels, json!({"labels": {"team": "x", "code-toolbox-language": "python"}}));
    for (path, key, value) in [
        ("autostop/30", "autoStopInterval", json!(30)),
        ("autoarchive/60", "autoArchiveInterval", json!(60)),
        ("autodelete/-1", "autoDeleteInterval", json!(-1)),
        ("public/true", "public", json!(true)),
    ] {
        let (status, body) = app.call(Method::POST, &format!("/sandbox/{id}/{path}"), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body[key], value, "{path}");
    }
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/sandbox/{id}/network-settings"),
            Some(json!({"networkBlockAll": true, "networkAllowList": "10.0.0.0/8"})),
        )
        .await;
    // Daytona's rule: a non-empty allow list in the same request lifts the block.
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["networkBlockAll"].clone(), body["networkAllowList"].clone()),
        (json!(false), json!("10.0.0.0/8"))
    );
    let (status, body) = app
        .call(Method::POST, &format!("/sandbox/{id}/network-settings"), Some(json!({"networkBlockAll": true})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["networkBlockAll"].clone(), body["networkAllowList"].clone()), (json!(true), json!(null)));
    for (settings, message) in [
        (json!({}), "At least one of networkBlockAll, networkAllowList or domainAllowList must be provided"),
        (
            json!({"networkAllowList": "10.0.0.0"}),
            "Invalid network format: \"10.0.0.0\". Missing CIDR prefix length (e.g., /24)",
        ),
        (json!({"domainAllowList": "*"}), "Invalid domain: \"*\". Must be a valid domain name"),
    ] {
        let (status, body) = app.call(Method::POST, &format!("/sandbox/{id}/network-settings"), Some(settings)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["message"], message);
    }
    let (_, got) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(
        (got["networkBlockAll"].clone(), got["domainAllowList"].clone()),
        (json!(true), json!(null)),
        "refused changes change nothing"
    );
    let (_, got) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!(got["labels"]["team"], "x");
    assert_eq!(got["autoStopInterval"], 30);
    let (status, url) = app.call(Method::GET, &format!("/sandbox/{id}/toolbox-proxy-url"), None).await;
    assert_eq!((status, url["url"].as_str()), (StatusCode::OK, Some("http://127.0.0.1:1/toolbox")));
    let (status, logs) = app.call(Method::GET, &format!("/sandbox/{id}/build-logs-url"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!logs["url"].as_str().unwrap().contains('?'), "G15: no query string in {logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_freezes_and_start_resumes() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, paused) = app.call(Method::POST, &format!("/sandbox/{id}/pause"), None).await;
    assert_eq!((status, paused["state"].as_str()), (StatusCode::OK, Some("paused")));
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    assert_eq!(app.runtime.state(&runtime_id).unwrap(), sandbar_runtime::SandboxState::Paused);
    let (status, _) = app.call(Method::POST, &format!("/sandbox/{id}/pause"), None).await;
    assert_eq!(status, StatusCode::OK, "pausing twice is fine");
    let (status, resumed) = app.call(Method::POST, &format!("/sandbox/{id}/start"), None).await;
    assert_eq!((status, resumed["state"].as_str()), (StatusCode::OK, Some("started")));
    assert_eq!(app.runtime.state(&runtime_id).unwrap(), sandbar_runtime::SandboxState::Running);
    app.call(Method::POST, &format!("/sandbox/{id}/pause"), None).await;
    let (status, stopped) = app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    assert_eq!((status, stopped["state"].as_str()), (StatusCode::OK, Some("stopped")));
}

#[tokio::test(flavor = "multi_thread")]
async fn resize_changes_limits_live_and_for_later_starts() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    let memory_limit = || {
        app.runtime
            .cgroup_dirs(&runtime_id)
            .into_iter()
            .map(|d| d.join("memory.limit_in_bytes"))
            .find(|p| p.exists())
            .map(|p| std::fs::read_to_string(p).unwrap().trim().to_string())
    };
    let (status, resized) =
        app.call(Method::POST, &format!("/sandbox/{id}/resize"), Some(json!({"cpu": 2, "memory": 2}))).await;
    assert_eq!(status, StatusCode::OK, "{resized}");
    assert_eq!(
        (resized["cpu"].as_i64(), resized["memory"].as_i64(), resized["state"].as_str()),
        (Some(2), Some(2), Some("started"))
    );
    assert_eq!(memory_limit().as_deref(), Some("2147483648"), "applied to the running sandbox");

    app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    app.call(Method::POST, &format!("/sandbox/{id}/start"), None).await;
    assert_eq!(memory_limit().as_deref(), Some("2147483648"), "kept for later starts");

    for (body, needle) in
        [(json!({"disk": 1}), "disk can only grow"), (json!({"gpu": 1}), "gpu"), (json!({"cpu": 0}), "cpu 0")]
    {
        let (status, error) = app.call(Method::POST, &format!("/sandbox/{id}/resize"), Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert!(error["message"].as_str().unwrap().contains(needle), "{body}: {error}");
    }
    let (_, still) = app.call(Method::GET, &format!("/sandbox/{id}"), None).await;
    assert_eq!((still["cpu"].as_i64(), still["disk"].as_i64()), (Some(2), Some(3)));
}

#[tokio::test(flavor = "multi_thread")]
async fn fork_and_snapshot_of_a_sandbox() {
    let app = App::new().await;
    let id = app.create(json!({"name": "origin", "labels": {"k": "v"}})).await["id"].as_str().unwrap().to_string();
    let exec = |sandbox: &str, command: &str| {
        let runtime_id = sandbar_runtime::SandboxId::new(sandbox).unwrap();
        let out = app
            .runtime
            .exec(&runtime_id, &sandbar_runtime::ExecSpec::new(["sh", "-c", command]))
            .unwrap()
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    exec(&id, "echo first > /home/daytona/f");

    let (status, fork) = app.call(Method::POST, &format!("/sandbox/{id}/fork"), Some(json!({"name": "copy"}))).await;
    assert_eq!(status, StatusCode::OK, "{fork}");
    assert_eq!(
        (fork["name"].as_str(), fork["state"].as_str(), fork["labels"]["k"].as_str()),
        (Some("copy"), Some("started"), Some("v"))
    );
    let fork_id = fork["id"].as_str().unwrap().to_string();
    assert_eq!(exec(&fork_id, "cat /home/daytona/f"), "first\n");
    exec(&fork_id, "echo fork > /home/daytona/f");
    assert_eq!(exec(&id, "cat /home/daytona/f"), "first\n", "the source never sees the fork's writes");

    let (status, body) =
        app.call(Method::POST, &format!("/sandbox/{id}/snapshot"), Some(json!({"name": "saved"}))).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("started")), "{body}");
    let (status, _) = app.call(Method::POST, &format!("/sandbox/{id}/snapshot"), Some(json!({"name": "saved"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, snapshot) = app.call(Method::GET, "/snapshots/saved", None).await;
    assert_eq!(
        (status, snapshot["state"].as_str(), snapshot["general"].as_bool()),
        (StatusCode::OK, Some("active"), Some(false))
    );
    let from_snapshot = app.create(json!({"snapshot": "saved"})).await["id"].as_str().unwrap().to_string();
    assert_eq!(exec(&from_snapshot, "cat /home/daytona/f"), "first\n");
    let (status, _) = app.call(Method::DELETE, "/snapshots/saved", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "in use by a sandbox");
    app.call(Method::DELETE, &format!("/sandbox/{from_snapshot}"), None).await;
    assert_eq!(app.call(Method::DELETE, "/snapshots/saved", None).await.0, StatusCode::OK);
    // Deleting the snapshot removed its image and its own layer.
    let image = snapshot["imageName"].as_str().unwrap();
    assert!(app.runtime.images().get(image).unwrap().is_none(), "the image of a deleted snapshot is gone");
    // Another organization sees neither the snapshot nor the fork.
    let (status, _) = app.call_as(crate::common::OTHER_KEY, Method::GET, "/snapshots/saved", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A client that disconnects in the middle of a create does not leave the sandbox `creating`:
/// the request's future is dropped as soon as the sandbox shows up, and it still ends `started`.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_client_went_away_still_finishes() {
    let app = App::new().await;
    let mut dropped_midway = 0;
    for attempt in 0..20 {
        let name = format!("dropped-{attempt}");
        // The block owns the request's future: leaving it drops the future if it had not
        // finished, as axum does when the client goes away.
        let seen_midway = {
            let create = app.call(Method::POST, "/sandbox", Some(json!({"name": name})));
            tokio::pin!(create);
            loop {
                tokio::select! {
                    _ = &mut create => break false,
                    _ = tokio::time::sleep(std::time::Duration::from_micros(200)) => {
                        let (status, body) = app.call(Method::GET, &format!("/sandbox/{name}"), None).await;
                        if status == StatusCode::OK && body["state"] != "started" {
                            break true;
                        }
                    }
                }
            }
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, body) = app.call(Method::GET, &format!("/sandbox/{name}"), None).await;
            if body["state"] == "started" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{name} stuck in {}", body["state"]);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if seen_midway {
            dropped_midway += 1;
            if dropped_midway == 3 {
                break;
            }
        }
    }
    assert!(dropped_midway > 0, "no create was ever caught in the middle; the test proved nothing");
}
