//! What bounds one tenant's use of the server through sessions (issue 19): running session
//! commands cost no server thread each and are capped per sandbox, and big logs leave the
//! server's memory yet read back whole.

use crate::common::App;
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// The server's (this test process's) OS threads.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[tokio::test(flavor = "multi_thread")]
async fn running_session_commands_take_no_thread_each_and_are_capped_per_sandbox() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/process/session");
    assert_eq!(app.call_raw(Method::POST, &base, Some(json!({"sessionId": "s"}))).await.0, StatusCode::CREATED);
    let exec = format!("{base}/s/exec");
    let start = |command: &str| {
        let body = json!({"command": command, "runAsync": true});
        app.call_raw(Method::POST, &exec, Some(body))
    };
    // One command first, so the blocking thread that starts processes exists before counting.
    assert_eq!(start("sleep 300").await.0, StatusCode::ACCEPTED);
    let before = threads();
    for _ in 1..64 {
        let (status, body) = start("sleep 300").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let grown = threads().saturating_sub(before);
    assert!(grown < 16, "63 more running commands grew the server by {grown} threads");
    // The 65th at once is refused, in the daemon's error shape.
    let (status, body) = start("sleep 300").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!((body["statusCode"].as_u64(), body["error"].as_str()), (Some(429), Some("Too Many Requests")));
    assert!(body["message"].as_str().unwrap().contains("64"), "{body}");
    // Another session of the same sandbox shares the cap.
    assert_eq!(app.call_raw(Method::POST, &base, Some(json!({"sessionId": "t"}))).await.0, StatusCode::CREATED);
    let other = app.call_raw(Method::POST, &format!("{base}/t/exec"), Some(json!({"command": "true"}))).await;
    assert_eq!(other.0, StatusCode::TOO_MANY_REQUESTS, "{}", other.1);
    // Deleting the session kills its commands, and their slots come back.
    assert_eq!(app.call_raw(Method::DELETE, &format!("{base}/s"), None).await.0, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) =
            app.call_raw(Method::POST, &format!("{base}/t/exec"), Some(json!({"command": "echo freed"}))).await;
        if status == StatusCode::OK {
            assert_eq!(body["stdout"], "freed\n");
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(Instant::now() < deadline, "the killed commands never gave their slots back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn big_logs_of_finished_commands_read_back_whole() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/process/session");
    assert_eq!(app.call_raw(Method::POST, &base, Some(json!({"sessionId": "s"}))).await.0, StatusCode::CREATED);
    // 8 commands of 4 MiB each (lines on stdout, one line on stderr): twice the sandbox's
    // in-memory log budget, so most of it spills to disk.
    let mut commands = Vec::new();
    for n in 0..8 {
        let command = format!("echo start{n} >&2; yes {n}abcdefghijklmnopqrstuvwxyz0123456789 | head -c 4194304");
        let (status, body) =
            app.call_raw(Method::POST, &format!("{base}/s/exec"), Some(json!({"command": command}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["stdout"].as_str().map(str::len), Some(4 << 20), "command {n}");
        commands.push(body["cmdId"].as_str().unwrap().to_string());
    }
    for (n, command) in commands.iter().enumerate() {
        let (status, logs) = app.call_raw(Method::GET, &format!("{base}/s/command/{command}/logs"), None).await;
        assert_eq!(status, StatusCode::OK);
        let stdout = logs["stdout"].as_str().unwrap();
        let line = format!("{n}abcdefghijklmnopqrstuvwxyz0123456789\n");
        let expected = line.repeat((4 << 20) / line.len() + 1);
        assert!(stdout == &expected[..4 << 20], "command {n}: stdout of {} bytes differs", stdout.len());
        assert_eq!(logs["stderr"], format!("start{n}\n"));
        // Every stdout line (the last one unfinished) and the stderr line carry their marker.
        let output = logs["output"].as_str().unwrap();
        assert!(output.contains(&format!("\u{2}\u{2}\u{2}start{n}\n")), "command {n}");
        assert_eq!(output.len(), (4 << 20) + 3 * ((4 << 20) / line.len() + 1) + 3 + "start0\n".len());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recursive_delete_of_a_tree_deeper_than_the_stack_allowed_removes_it_all() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    // 5,000 levels (a file and a link out of the tree on each): the recursive delete this
    // replaced overflowed its 2 MiB blocking-pool stack near 2,600 and aborted the server.
    let script = "import os\nos.mkdir('deep')\nos.chdir('deep')\nfor _ in range(5000):\n    \
                  open('f', 'w').close()\n    os.symlink('/etc', 'link')\n    os.mkdir('d')\n    os.chdir('d')\n\
                  print('made')";
    let command = format!("python3 -c \"{script}\"");
    let (status, body) =
        app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(json!({"command": command}))).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("made\n")), "{body}");
    let (status, body) =
        app.call_raw(Method::DELETE, &format!("/toolbox/{id}/files?path=deep&recursive=true"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, body) = app
        .call_raw(
            Method::POST,
            &format!("/toolbox/{id}/process/execute"),
            Some(json!({"command": "sh -c 'ls -a; test -d /etc && echo etc-kept'"})),
        )
        .await;
    let listing = body["result"].as_str().unwrap();
    assert!(!listing.lines().any(|l| l == "deep") && listing.contains("etc-kept"), "{listing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_background_child_holding_the_pipes_does_not_keep_a_session_command_running() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/process/session");
    assert_eq!(app.call_raw(Method::POST, &base, Some(json!({"sessionId": "s"}))).await.0, StatusCode::CREATED);
    // The child keeps stdout and stderr open long after the shell exited (Daytona #4230); the
    // command ends with the shell, with what it printed before.
    let command = json!({"command": "sleep 60 & echo started; echo oops >&2; exit 3"});
    let (status, body) = app.call_raw(Method::POST, &format!("{base}/s/exec"), Some(command)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["exitCode"].as_i64(), body["stdout"].as_str(), body["stderr"].as_str()),
        (Some(3), Some("started\n"), Some("oops\n"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recursive_delete_never_enters_a_mounted_volume() {
    let app = App::new().await;
    let (status, volume) = app.call(Method::POST, "/volumes", Some(json!({"name": "kept"}))).await;
    assert_eq!(status, StatusCode::OK, "{volume}");
    let volume_id = volume["id"].as_str().unwrap().to_string();
    let mount = json!([{"volumeId": volume_id, "mountPath": "/home/daytona/proj/data", "subpath": "team"}]);
    let sandbox = app.create(json!({ "volumes": mount })).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let execute = format!("/toolbox/{id}/process/execute");
    // As the sandbox's root: the mount made `proj` root's.
    let setup = "cd /home/daytona && mkdir -p proj/src && echo mine > proj/src/own.txt && echo theirs > proj/data/file";
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    let mut spec = sandbar_runtime::ExecSpec::new(["sh", "-c", setup]);
    spec.user = Some("root".to_string());
    let out = app.runtime.exec(&runtime_id, &spec).unwrap().output().unwrap();
    assert_eq!(out.status.shell_code(), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let (status, body) =
        app.call_raw(Method::DELETE, &format!("/toolbox/{id}/files?path=proj&recursive=true"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("mount point"), "{body}");
    // Everything of the sandbox's own went; the volume's data did not.
    let (_, body) = app.call_raw(Method::POST, &execute, Some(json!({"command": "ls -A proj"}))).await;
    assert_eq!(body["result"], "data\n", "{body}");
    let stored = app.data.path().join("volumes").join(&volume_id).join("team/file");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "theirs\n", "the volume's file is untouched");
    app.call(Method::DELETE, &format!("/sandbox/{id}"), None).await;
}
