//! Volumes: created by name, mounted into sandboxes, kept after the sandbox goes, 409 while used.

use crate::common::App;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn volume_data_outlives_sandboxes_and_deletion_waits_for_them() {
    let app = App::new().await;
    let (status, volume) = app.call(Method::POST, "/volumes", Some(json!({"name": "shared"}))).await;
    assert_eq!(status, StatusCode::OK, "{volume}");
    for key in ["id", "name", "organizationId", "state", "createdAt", "updatedAt", "region"] {
        assert!(!volume[key].is_null(), "volume lacks {key}: {volume}");
    }
    let volume_id = volume["id"].as_str().unwrap().to_string();
    let (status, _) = app.call(Method::POST, "/volumes", Some(json!({"name": "shared"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, by_name) = app.call(Method::GET, "/volumes/by-name/shared", None).await;
    assert_eq!((status, by_name["id"].as_str()), (StatusCode::OK, Some(volume_id.as_str())));
    let (status, _) = app.call(Method::GET, "/volumes/by-name/other", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let sandbox = app
        .create(json!({"volumes": [{"volumeId": volume_id, "mountPath": "/home/daytona/data", "subpath": "team"}]}))
        .await;
    assert_eq!(sandbox["volumes"][0]["mountPath"], "/home/daytona/data");
    let id = sandbox["id"].as_str().unwrap().to_string();
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    let out = app
        .runtime
        .exec(
            &runtime_id,
            &sandbar_runtime::ExecSpec::new(["sh", "-c", "echo kept > /home/daytona/data/file && echo ok"]),
        )
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{:?}", String::from_utf8_lossy(&out.stderr));

    let (status, body) = app.call(Method::DELETE, &format!("/volumes/{volume_id}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    app.call(Method::DELETE, &format!("/sandbox/{id}"), None).await;
    let stored = app.data.path().join("volumes").join(&volume_id).join("team/file");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "kept\n", "data survives the sandbox");

    // A new sandbox sees the same data.
    let again = app.create(json!({"volumes": [{"volumeId": "shared", "mountPath": "/mnt/v"}]})).await;
    let again_id = sandbar_runtime::SandboxId::new(again["id"].as_str().unwrap()).unwrap();
    let out = app
        .runtime
        .exec(&again_id, &sandbar_runtime::ExecSpec::new(["cat", "/mnt/v/team/file"]))
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept\n");
    app.call(Method::DELETE, &format!("/sandbox/{}", again["id"].as_str().unwrap()), None).await;

    let (status, _) = app.call(Method::DELETE, &format!("/volumes/{volume_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!app.data.path().join("volumes").join(&volume_id).exists());
    let (_, list) = app.call(Method::GET, "/volumes", None).await;
    assert_eq!(list, json!([]));
}
