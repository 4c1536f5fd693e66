//! Toolbox file routes: confinement to the sandbox root, ownership, upload and download shapes.

use crate::common::App;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

const BOUNDARY: &str = "test-boundary-7d1";

/// A bulk-upload request body with (destination, bytes) pairs, in the SDK's field order.
fn upload_body(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (path, _)) in files.iter().enumerate() {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[{i}].path\"\r\n\r\n{path}\r\n")
                .as_bytes(),
        );
    }
    for (i, (path, bytes)) in files.iter().enumerate() {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[{i}].file\"; filename=\"{path}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(app: &App, id: &str, files: &[(&str, &[u8])]) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/toolbox/{id}/files/bulk-upload"))
        .header("authorization", format!("Bearer {}", crate::common::KEY))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(upload_body(files)))
        .unwrap();
    app.send(request).await
}

async fn sh(app: &App, id: &str, command: &str) -> String {
    let (_, body) =
        app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(json!({"command": command}))).await;
    body["result"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_land_inside_the_sandbox_owned_by_its_user() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, body) = upload(&app, &id, &[("notes/a.txt", b"hello\n"), ("/tmp/empty", b"")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["files"], json!([{"path": "notes/a.txt", "bytes": 6}, {"path": "/tmp/empty", "bytes": 0}]));
    assert_eq!(
        sh(&app, &id, "cat notes/a.txt; stat -c '%U %a' notes notes/a.txt; wc -c < /tmp/empty").await,
        "hello\ndaytona 755\ndaytona 644\n0\n"
    );
    // Nothing of the upload is left beside the file.
    assert_eq!(sh(&app, &id, "ls -A notes").await, "a.txt\n");

    let (status, list) = app.call_raw(Method::GET, &format!("/toolbox/{id}/files?path=notes"), None).await;
    assert_eq!(status, StatusCode::OK);
    let entry = &list[0];
    assert_eq!(
        (entry["name"].as_str(), entry["size"].as_i64(), entry["mode"].as_str()),
        (Some("a.txt"), Some(6), Some("-rw-r--r--"))
    );
    for key in ["modTime", "modifiedAt", "owner", "group", "permissions", "isDir"] {
        assert!(!entry[key].is_null(), "FileInfo lacks {key}: {entry}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_never_leave_the_sandbox_root() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let marker = std::env::temp_dir().join(format!("sandbar-files-escape-{}", std::process::id()));
    std::fs::write(&marker, "host secret").unwrap();
    let marker_path = marker.display().to_string();
    // A symlink that points at a host path, and one made of '..'.
    sh(&app, &id, &format!("ln -s {marker_path} /home/daytona/out; ln -s ../../../../../../ /home/daytona/up")).await;

    let (status, body) = app
        .call_raw(
            Method::POST,
            &format!("/toolbox/{id}/files/bulk-download"),
            Some(json!({"paths": ["out", "up/etc/hostname", "../../../../../../../../etc/shadow", marker_path]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap_or_default().to_string();
    assert!(!text.contains("host secret"), "a host file was read through the toolbox: {text}");
    assert!(
        text.ends_with("--DAYTONA-FILE-BOUNDARY--\r\n") || text.ends_with("--DAYTONA-FILE-BOUNDARY--"),
        "closing boundary: {text:?}"
    );

    // Writing through the same links changes only the sandbox.
    let (status, _) =
        upload(&app, &id, &[("out", b"overwritten"), ("up/tmp/via-link", b"x"), (&marker_path, b"overwritten")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "host secret");
    let _ = std::fs::remove_file(&marker);
    let (status, _) = app.call_raw(Method::DELETE, &format!("/toolbox/{id}/files?path=/&recursive=true"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the root itself cannot be deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn folder_move_permissions_and_delete() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/files");
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/folder?path=a/b&mode=750"), None).await.0,
        StatusCode::CREATED
    );
    upload(&app, &id, &[("a/b/f", b"1")]).await;
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/move?source=a/b/f&destination=a/g"), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/move?source=a/g&destination=a/b"), None).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/move?source=missing&destination=x"), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/permissions?path=a/g&mode=600&owner=root"), None).await.0,
        StatusCode::OK
    );
    let (_, info) = app.call_raw(Method::GET, &format!("{base}/info?path=a/g"), None).await;
    assert_eq!((info["permissions"].as_str(), info["owner"].as_str()), (Some("0600"), Some("0")));
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/permissions?path=a/g&mode=999"), None).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.call_raw(Method::DELETE, &format!("{base}?path=a"), None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.call_raw(Method::DELETE, &format!("{base}?path=a&recursive=true"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.call_raw(Method::GET, &format!("{base}/info?path=a"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/bulk-download"), Some(json!({"paths": []}))).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn find_search_and_replace() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    upload(
        &app,
        &id,
        &[
            ("src/a:b.py", b"x = 1\nneedle here\n"),
            ("src/c.txt", b"no match\nneedle\n"),
            ("src/bin.dat", b"needle\0\x01"),
        ],
    )
    .await;
    let base = format!("/toolbox/{id}/files");
    let (status, found) = app.call_raw(Method::GET, &format!("{base}/find?path=src&pattern=needle"), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let mut found: Vec<(String, i64, String)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["file"].as_str().unwrap().to_string(),
                m["line"].as_i64().unwrap(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![("src/a:b.py".into(), 2, "needle here".into()), ("src/c.txt".into(), 2, "needle".into())],
        "binary files are skipped"
    );

    let (_, searched) = app.call_raw(Method::GET, &format!("{base}/search?path=src&pattern=*.py"), None).await;
    assert_eq!(searched, json!({"files": ["src/a:b.py"]}));

    let (status, replaced) = app
        .call_raw(
            Method::POST,
            &format!("{base}/replace"),
            Some(json!({"files": ["src/c.txt", "src/missing"], "pattern": "needle", "newValue": "pin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replaced[0], json!({"file": "src/c.txt", "success": true}));
    assert_eq!(replaced[1]["success"], false);
    assert_eq!(sh(&app, &id, "cat src/c.txt").await, "no match\npin\n");
}

/// See the review of 2026-11-26: a volume subpath that a sandbox turned into a symlink to `/`
/// must not bind the host's root into another sandbox.
#[tokio::test(flavor = "multi_thread")]
async fn r_volume_subpath_symlinks_stay_inside_the_volume() {
    let app = App::new().await;
    let (_, volume) = app.call(Method::POST, "/volumes", Some(json!({"name": "v"}))).await;
    let volume_id = volume["id"].as_str().unwrap().to_string();
    let planter = app.create(json!({"volumes": [{"volumeId": volume_id, "mountPath": "/vol"}]})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    sh(&app, &planter, "ln -s / /vol/x; ln -s /etc /vol/y; echo in-volume > /vol/marker").await;
    let host_root_owner = std::fs::metadata("/").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap();

    let (status, body) = app
        .call(
            Method::POST,
            "/sandbox",
            Some(json!({"volumes": [{"volumeId": volume_id, "mountPath": "/mnt/v", "subpath": "x"}]})),
        )
        .await;
    if status == StatusCode::OK {
        let victim = body["id"].as_str().unwrap();
        // The link resolved inside the volume: the victim sees the volume, never the host's `/`.
        assert_eq!(
            sh(&app, victim, "cat /mnt/v/marker; test -e /mnt/v/root && echo host-root || echo no-host-root").await,
            "in-volume\nno-host-root\n"
        );
    } else {
        assert!(status.is_client_error(), "{status}: {body}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/sandbox",
            Some(json!({"volumes": [{"volumeId": volume_id, "mountPath": "/mnt/w", "subpath": "y/ssh"}]})),
        )
        .await;
    assert!(status == StatusCode::OK || status.is_client_error());
    assert_eq!(
        std::fs::metadata("/").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap(),
        host_root_owner,
        "the host's / was chowned"
    );
    assert!(!std::path::Path::new("/etc/ssh/.sandbar").exists());
}

/// Special files are refused by the file routes instead of blocking the server or reading host
/// state with its credentials.
#[tokio::test(flavor = "multi_thread")]
async fn r_special_files_are_refused_and_never_hang() {
    let app = App::new().await;
    let id = app.create(json!({"user": "root"})).await["id"].as_str().unwrap().to_string();
    sh(&app, &id, "mkfifo /tmp/fifo; cp /etc/passwd /tmp/passwd.bak; rm /etc/passwd; mkfifo /etc/passwd").await;
    let (status, body) = app
        .call_raw(
            Method::POST,
            &format!("/toolbox/{id}/files/bulk-download"),
            Some(json!({"paths": ["/tmp/fifo", "/proc/kmsg", "/proc/kallsyms", "/dev/tty", "/dev/zero"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap_or_default();
    assert_eq!(text.matches("name=\"error\"").count(), 5, "every special file is an error part: {text}");
    // A FIFO in place of /etc/passwd does not wedge the server's file calls (it reads account
    // files only when they are regular files), and an upload replaces it atomically.
    let (status, _) = app.call_raw(Method::GET, &format!("/toolbox/{id}/files?path=/tmp"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, backup) = app
        .call_raw(
            Method::POST,
            &format!("/toolbox/{id}/files/bulk-download"),
            Some(json!({"paths": ["/tmp/passwd.bak"]})),
        )
        .await;
    let backup = backup.as_str().unwrap_or_default();
    let start = backup.find("\r\n\r\n").unwrap() + 4;
    let end = backup[start..].find("\r\n--DAYTONA-FILE-BOUNDARY").unwrap() + start;
    let (status, _) = upload(&app, &id, &[("/etc/passwd", &backup.as_bytes()[start..end])]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sh(&app, &id, "test -p /etc/passwd && echo fifo || echo regular").await, "regular\n");
    // A background writer that never lets the output pipe go quiet does not keep exec waiting.
    let writer = "(while :; do echo y; sleep 0.01; done) > /dev/stdout & echo started";
    let (status, body) =
        app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(json!({"command": writer}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["result"].as_str().unwrap().contains("started"), "{body}");
}

/// Sends `request` with no API key at all.
fn unauthenticated(method: Method, uri: &str, body: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/octet-stream")
        .body(Body::from(body))
        .unwrap()
}

/// The URL the SDK's `download_url` / `upload_url` build.
fn signed_url(id: &str, operation: &str, method: &str, path: &str, key: &str, expires: i64) -> String {
    let signature = sandbar_server::signing::sign(key, method, path, expires);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("path", path)
        .append_pair("expires", &expires.to_string())
        .append_pair("signature", &signature)
        .finish();
    format!("/toolbox/{id}/files/{operation}?{query}")
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_urls_work_without_a_key_until_they_expire_or_the_key_rotates() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, key) = app.call(Method::GET, &format!("/sandbox/{id}/signing-key"), None).await;
    assert_eq!(status, StatusCode::OK);
    let key = key.as_str().expect("the key is a bare string").to_string();
    assert_eq!(key.len(), 64, "{key}");
    let (_, again) = app.call(Method::GET, &format!("/sandbox/{id}/signing-key"), None).await;
    assert_eq!(again, key, "the key stays until rotated");
    let (status, _) =
        app.call_as(crate::common::OTHER_KEY, Method::GET, &format!("/sandbox/{id}/signing-key"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organization cannot read the key");

    let now = sandbar_server::clock::Clock::now(app.clock.as_ref()).unix_timestamp();
    let path = "/home/daytona/signed dir/a.bin";
    let upload = signed_url(&id, "upload-v2", "POST", path, &key, now + 60);
    let (status, body) = app.send(unauthenticated(Method::POST, &upload, b"payload".to_vec())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"name": "a.bin", "path": path, "type": "file"}));
    assert_eq!(
        sh(&app, &id, "cat '/home/daytona/signed dir/a.bin'; stat -c %U '/home/daytona/signed dir/a.bin'").await,
        "payloaddaytona\n"
    );

    let download = signed_url(&id, "download", "GET", path, &key, 0);
    let (status, body) = app.send(unauthenticated(Method::GET, &download, Vec::new())).await;
    assert_eq!((status, body), (StatusCode::OK, json!("payload")));

    // A URL signed for one operation or path cannot be used for another.
    let as_upload = download.replace("/files/download", "/files/upload-v2");
    let (status, _) = app.send(unauthenticated(Method::POST, &as_upload, b"x".to_vec())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other_path = download.replace("a.bin", "b.bin");
    let (status, _) = app.send(unauthenticated(Method::GET, &other_path, Vec::new())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let exec = format!("/toolbox/{id}/process/execute?signature=v1_x&expires=0&path=/");
    let (status, body) = app.send(unauthenticated(Method::POST, &exec, b"{}".to_vec())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let expiring = signed_url(&id, "download", "GET", path, &key, now + 60);
    app.clock.advance(time::Duration::seconds(120));
    let (status, body) = app.send(unauthenticated(Method::GET, &expiring, Vec::new())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");

    let (status, rotated) = app.call(Method::POST, &format!("/sandbox/{id}/signing-key/rotate"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated, key);
    let (status, _) = app.send(unauthenticated(Method::GET, &download, Vec::new())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a rotated key invalidates old URLs");
}

#[tokio::test(flavor = "multi_thread")]
async fn env_updates_reach_new_processes_and_metrics_read_the_sandbox() {
    let app = App::new().await;
    let id = app.create(json!({"env": {"KEEP": "k", "SECRET_A": "placeholder:a"}, "cpu": 1, "memory": 1})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let env = format!("/toolbox/{id}/env");
    let (status, body) = app
        .call_raw(Method::POST, &env, Some(json!({"set": {"ADDED": "1"}, "unsetValuePrefix": "placeholder:"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["ADDED"].clone(), body["KEEP"].clone(), body.get("SECRET_A")), (json!("1"), json!("k"), None));
    assert_eq!(sh(&app, &id, "echo $ADDED-$KEEP-${SECRET_A:-gone}").await, "1-k-gone\n");
    let (status, _) = app.call_raw(Method::POST, &env, Some(json!({"unset": ["ADDED"]}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sh(&app, &id, "echo ${ADDED:-unset}").await, "unset\n");
    let (status, body) = app.call_raw(Method::POST, &env, Some(json!({"set": {"1BAD": "x"}}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app.call_raw(Method::POST, &env, Some(json!({"set": {"NUL": "a\u{0}b"}}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a NUL would break every later exec: {body}");
    assert_eq!(sh(&app, &id, "echo still-runs").await, "still-runs\n");

    let (status, metrics) = app.call_raw(Method::GET, &format!("/toolbox/{id}/system/metrics"), None).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    assert_eq!(metrics["cpuCount"], 1);
    assert_eq!(metrics["memTotal"], 1 << 30, "the 1 GiB limit is the sandbox's memory");
    let used = metrics["memUsed"].as_u64().unwrap();
    assert!(used > 0 && used < 1 << 30, "{metrics}");
    let (total, disk_used) = (metrics["diskTotal"].as_u64().unwrap(), metrics["diskUsed"].as_u64().unwrap());
    assert!(total > 0 && disk_used <= total, "{metrics}");
    let pct = metrics["cpuUsedPct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&pct), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_ends_when_its_sandbox_stops_and_the_sandbox_starts_again() {
    use futures_util::StreamExt;
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    assert_eq!(sh(&app, &id, "head -c 64000000 /dev/zero > ~/big && echo made").await, "made\n");
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("/toolbox/{id}/files/download?path=big"))
        .header("authorization", format!("Bearer {}", crate::common::KEY))
        .body(Body::empty())
        .unwrap();
    let response = app.send_streaming(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let first = body.next().await.expect("a first chunk").expect("it reads");
    assert!(!first.is_empty());

    let (_, stopped) = app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    assert_eq!(stopped["state"], "stopped");
    // The rest of the stream ends with an error instead of holding the stopped sandbox's files.
    let mut ended_with_error = false;
    let mut received = first.len();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => received += bytes.len(),
            Err(_) => {
                ended_with_error = true;
                break;
            }
        }
    }
    assert!(ended_with_error && received < 64_000_000, "received {received} bytes after the stop");
    drop(body);
    let (status, started) = app.call(Method::POST, &format!("/sandbox/{id}/start"), None).await;
    assert_eq!((status, started["state"].as_str()), (StatusCode::OK, Some("started")), "{started}");
}

/// A bulk upload to sandbox `id` whose body is `head`, then whatever arrives on `receiver`.
fn bulk_upload_request(
    id: &str,
    head: String,
    receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> Request<Body> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head.into_bytes()) }).chain(
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        }),
    );
    Request::builder()
        .method(Method::POST)
        .uri(format!("/toolbox/{id}/files/bulk-upload"))
        .header("authorization", format!("Bearer {}", crate::common::KEY))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from_stream(stream))
        .unwrap()
}

/// A streamed upload body: the multipart head for `destination`, then whatever the test sends.
fn streaming_upload(
    id: &str,
    destination: &str,
) -> (tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>, Request<Body>) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n{destination}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"{destination}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let request = bulk_upload_request(id, head, receiver);
    (sender, request)
}

use futures_util::StreamExt as _;

#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_swapped_in_during_an_upload_never_reaches_the_host() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let host_dir = std::env::temp_dir().join(format!("sandbar-swap-{}", std::process::id()));
    std::fs::create_dir_all(&host_dir).unwrap();
    sh(&app, &id, "mkdir -p ~/drop").await;
    let (sender, request) = streaming_upload(&id, "drop/landed.bin");
    let response = tokio::spawn(app.send_streaming_owned(request));
    sender.send(Ok(vec![b'a'; 64 * 1024])).await.unwrap();
    // Wait until the upload's temporary file exists, then swap the directory for a link to a
    // host path (as seen from the host) and to the sandbox's root.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sh(&app, &id, "ls -a ~/drop").await.contains(".landed.bin.upload-") {
        assert!(std::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let swap = format!("mv ~/drop ~/drop.old && ln -s {} ~/drop && echo swapped", host_dir.display());
    assert_eq!(sh(&app, &id, &swap).await, "swapped\n");
    sender.send(Ok(format!("\r\n--{BOUNDARY}--\r\n").into_bytes())).await.unwrap();
    drop(sender);
    let response = response.await.unwrap();
    let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
    assert!(
        std::fs::read_dir(&host_dir).unwrap().next().is_none(),
        "the upload wrote into the host directory the link names"
    );
    std::fs::remove_dir_all(&host_dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_upload_streams_to_disk_without_sitting_in_memory() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let rss_kib = || {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap())
            })
            .unwrap()
    };
    let before = rss_kib();
    let (sender, request) = streaming_upload(&id, "huge.bin");
    let response = tokio::spawn(app.send_streaming_owned(request));
    // 64 KiB pieces, as HTTP bodies arrive (and below malloc's mmap threshold, so the
    // allocator's retained memory does not blur the measurement): 512 MiB in all.
    const CHUNK: usize = 64 << 10;
    const CHUNKS: usize = 8192;
    let mut peak = before;
    for _ in 0..CHUNKS {
        sender.send(Ok(vec![7u8; CHUNK])).await.unwrap();
        peak = peak.max(rss_kib());
    }
    sender.send(Ok(format!("\r\n--{BOUNDARY}--\r\n").into_bytes())).await.unwrap();
    drop(sender);
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["files"][0]["bytes"], (CHUNK * CHUNKS) as u64);
    assert_eq!(sh(&app, &id, "stat -c %s huge.bin").await, format!("{}\n", CHUNK * CHUNKS));
    // Other tests run in this process too, so allow them room; 512 MiB held in memory would
    // show far above this.
    assert!(peak - before < 128 * 1024, "RSS grew by {} MiB during a 512 MiB upload", (peak - before) / 1024);
}

/// Sends a bulk upload of `head` followed by up to 64 MiB of `a`s that never end the part, and
/// answers the response and how many bytes were offered before the server answered.
async fn endless_upload(app: &App, id: &str, head: String) -> (StatusCode, serde_json::Value, usize) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let request = bulk_upload_request(id, head, receiver);
    // 64 KiB at a time (then the body is cut): the answer must come long before the end.
    let feeder = tokio::spawn(async move {
        let mut offered = 0usize;
        while offered < 64 << 20 && sender.send(Ok(vec![b'a'; 64 << 10])).await.is_ok() {
            offered += 64 << 10;
        }
        offered
    });
    let response = app.send_streaming(request).await;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (status, body, feeder.await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_path_field_is_refused_once_it_passes_path_max() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let head = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n");
    let (status, body, offered) = endless_upload(&app, &id, head).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("PATH_MAX"), "{body}");
    assert!(body.to_string().len() < 500, "the answer does not repeat the field: {body}");
    assert!(offered < 8 << 20, "the server read {offered} bytes of a path field before it answered");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_part_header_is_refused_once_it_passes_its_bound() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let head = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"");
    let (status, body, offered) = endless_upload(&app, &id, head).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("header block"), "{body}");
    assert!(body.to_string().len() < 500, "the answer does not repeat the header: {body}");
    assert!(offered < 8 << 20, "the server read {offered} bytes of a part header before it answered");
}
