//! The toolbox routes through the server: auth, sandbox resolution, exec and code-run.

use crate::common::{App, OTHER_KEY};
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

async fn toolbox(app: &App, id: &str, path: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    app.call_raw(Method::POST, &format!("/toolbox/{id}{path}"), Some(body)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_merges_output_and_reports_exit_codes() {
    let app = App::new().await;
    let id = app.create(json!({"env": {"FROM_CREATE": "c"}})).await["id"].as_str().unwrap().to_string();
    let (status, body) = toolbox(
        &app,
        &id,
        "/process/execute",
        json!({"command": "echo $FROM_CREATE $FROM_CALL; echo oops >&2; cd /tmp && pwd; exit 4", "envs": {"FROM_CALL": "x"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"exitCode": 4, "result": "c x\noops\n/tmp\n"}));

    // A heredoc arrives on the shell's stdin intact.
    let (_, body) = toolbox(&app, &id, "/process/execute", json!({"command": "cat <<'EOF'\nline one\nEOF"})).await;
    assert_eq!(body["result"], "line one\n");

    let (_, body) = toolbox(&app, &id, "/process/execute", json!({"command": "ls", "cwd": "/does/not/exist"})).await;
    assert_eq!(body["exitCode"], -1);
    assert!(body["result"].as_str().unwrap().contains("/does/not/exist"), "{body}");

    for (request, needle) in [
        (json!({"command": "  "}), "empty"),
        (json!({"command": "true", "envs": {"1BAD": "x"}}), "1BAD"),
        (json!({"command": 5}), "invalid request body"),
    ] {
        let (status, body) = toolbox(&app, &id, "/process/execute", request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{request}: {body}");
        assert_eq!(body["source"], "DAYTONA_DAEMON");
    }
}

/// Regression (hardening): the command is fed to the shell on stdin, and the deadline used to
/// start only after all of it was written, so a shell that stopped reading pinned the call (and a
/// server thread) until the sandbox went.
#[tokio::test(flavor = "multi_thread")]
async fn the_timeout_covers_feeding_a_command_the_shell_never_reads() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    // The shell execs a process that never reads; 1 MiB of script is left unread behind it.
    let command = format!("exec sleep 300\n{}", "#".repeat(1 << 20));
    let call = toolbox(&app, &id, "/process/execute", json!({"command": command, "timeout": 1}));
    let (status, body) = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the call must end at its timeout, not wait for the input to be read");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(body["code"], "PROCESS_EXECUTION_TIMEOUT", "{body}");
    // The sandbox still serves the next call.
    let (status, body) = toolbox(&app, &id, "/process/execute", json!({"command": "echo next"})).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("next\n")), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_kill_the_process_group_and_background_children_never_hang_a_call() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let runtime_id = sandbar_runtime::SandboxId::new(id.clone()).unwrap();
    let (status, body) =
        toolbox(&app, &id, "/process/execute", json!({"command": "sleep 300 & sleep 300", "timeout": 1})).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(body["code"], "PROCESS_EXECUTION_TIMEOUT");
    // Both sleeps were in the killed group (the spare shell of the next exec may be there).
    let deadline = Instant::now() + Duration::from_secs(10);
    let sleeping =
        || {
            app.runtime.pids(&runtime_id).unwrap().into_iter().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "sleep")
            })
        };
    while sleeping() {
        assert!(Instant::now() < deadline, "the process group survived the timeout");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A daemon keeps the output pipe open; the call still returns when the shell exits.
    let (status, body) =
        toolbox(&app, &id, "/process/execute", json!({"command": "sleep 300 & echo started", "timeout": 30})).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("started\n")), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn code_run_uses_the_language_and_argv() {
    let app = App::new().await;
    let id =
        app.create(json!({"labels": {"code-toolbox-language": "python"}})).await["id"].as_str().unwrap().to_string();
    let (status, body) = toolbox(
        &app,
        &id,
        "/process/code-run",
        json!({"code": "import sys\nprint('py', sys.argv[1:])", "argv": ["a", "b"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"exitCode": 0, "result": "py ['a', 'b']\n", "artifacts": {"charts": []}}));
    let (_, body) = toolbox(
        &app,
        &id,
        "/process/code-run",
        json!({"code": "console.log('js', process.argv.slice(1).join(','))", "language": "javascript", "argv": ["x"]}),
    )
    .await;
    assert_eq!(body["result"], "js x\n");
    let (_, body) = toolbox(
        &app,
        &id,
        "/process/code-run",
        json!({"code": "const n: number = 2;\nconsole.log('ts', n * 21, process.argv.slice(1).join(','))", "language": "typescript", "argv": ["-y"]}),
    )
    .await;
    assert_eq!((body["exitCode"].clone(), body["result"].clone()), (json!(0), json!("ts 42 -y\n")), "{body}");

    // The program is the real __main__: its functions pickle by reference.
    let code = "import pickle, sys\ndef f():\n    return 1\nprint(pickle.loads(pickle.dumps(f))(), sys.modules['__main__'].f is f)";
    let (_, body) = toolbox(&app, &id, "/process/code-run", json!({"code": code})).await;
    assert_eq!(body["result"], "1 True\n", "{body}");

    // A figure shown with pyplot comes back as a chart, not as output.
    let code = "import matplotlib.pyplot as plt\nplt.pie([1, 3], labels=['x', 'y']); plt.title('Share'); plt.show()\nprint('ok')";
    let (_, body) = toolbox(&app, &id, "/process/code-run", json!({"code": code})).await;
    assert_eq!(body["result"], "ok\n", "{body}");
    let chart = &body["artifacts"]["charts"][0];
    assert_eq!((chart["type"].as_str(), chart["title"].as_str()), (Some("pie"), Some("Share")), "{chart}");
    let angles: Vec<f64> = chart["elements"].as_array().unwrap().iter().map(|e| e["angle"].as_f64().unwrap()).collect();
    assert!((angles[0] - 90.0).abs() < 0.01 && (angles[1] - 270.0).abs() < 0.01, "{angles:?}");
    assert!(chart["png"].as_str().is_some_and(|png| png.len() > 1000));

    let (status, _) = toolbox(&app, &id, "/process/code-run", json!({"code": "1", "language": "cobol"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) =
        toolbox(&app, &id, "/process/code-run", json!({"code": "import time; time.sleep(30)", "timeout": 1})).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn toolbox_requests_are_authorized_and_need_a_started_sandbox() {
    let app = App::new().await;
    let id = app.create(json!({"name": "tb"})).await["id"].as_str().unwrap().to_string();
    let (status, body) = app.call_raw(Method::GET, &format!("/toolbox/{id}/user-home-dir"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"dir": "/home/daytona"})));
    let (status, _) = app.call_raw(Method::GET, "/toolbox/tb/work-dir", None).await;
    assert_eq!(status, StatusCode::OK, "names work as ids");
    let (status, _) = app.call_raw_as(OTHER_KEY, Method::GET, &format!("/toolbox/{id}/work-dir"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organization's sandbox does not exist for it");
    let (status, _) = app.call_raw_as("wrong", Method::GET, &format!("/toolbox/{id}/work-dir"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.call_raw(Method::GET, "/toolbox/nope/work-dir", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.call(Method::POST, &format!("/sandbox/{id}/stop"), None).await;
    let (status, body) = toolbox(&app, &id, "/process/execute", json!({"command": "true"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_keep_state_take_input_and_keep_logs() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/process/session");
    assert_eq!(app.call_raw(Method::POST, &base, Some(json!({"sessionId": "s"}))).await.0, StatusCode::CREATED);
    assert_eq!(app.call_raw(Method::POST, &base, Some(json!({"sessionId": "s"}))).await.0, StatusCode::CONFLICT);
    let exec = |command: &str, run_async: bool| json!({"command": command, "runAsync": run_async});
    let (status, _) =
        app.call_raw(Method::POST, &format!("{base}/s/exec"), Some(exec("cd /tmp; export X=1", false))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call_raw(Method::POST, &format!("{base}/s/exec"), Some(exec("echo $X $(pwd); echo e >&2; false", false)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["exitCode"].as_i64(), body["stdout"].as_str(), body["stderr"].as_str(), body["output"].as_str()),
        (Some(1), Some("1 /tmp\n"), Some("e\n"), Some("\u{1}\u{1}\u{1}1 /tmp\n\u{2}\u{2}\u{2}e\n"))
    );

    let (status, started) =
        app.call_raw(Method::POST, &format!("{base}/s/exec"), Some(exec("read v; echo got:$v", true))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let command = started["cmdId"].as_str().unwrap().to_string();
    let (status, running) = app.call_raw(Method::GET, &format!("{base}/s/command/{command}"), None).await;
    assert_eq!((status, running["exitCode"].clone()), (StatusCode::OK, json!(null)));
    let input = format!("{base}/s/command/{command}/input");
    assert_eq!(app.call_raw(Method::POST, &input, Some(json!({"data": "hi"}))).await.0, StatusCode::NO_CONTENT);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, state) = app.call_raw(Method::GET, &format!("{base}/s/command/{command}"), None).await;
        if state["exitCode"] == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the async command never finished: {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, logs) = app.call_raw(Method::GET, &format!("{base}/s/command/{command}/logs"), None).await;
    assert_eq!(logs["stdout"], "hi\ngot:hi\n", "input is echoed, then the output: {logs}");
    assert_eq!(app.call_raw(Method::POST, &input, Some(json!({"data": "late"}))).await.0, StatusCode::GONE);

    let (_, session) = app.call_raw(Method::GET, &format!("{base}/s"), None).await;
    assert_eq!(session["commands"].as_array().unwrap().len(), 3);
    assert_eq!(app.call_raw(Method::GET, &format!("{base}/nope"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call_raw(Method::DELETE, &format!("{base}/s"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.call_raw(Method::GET, &format!("{base}/s"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn interpreter_contexts_are_listed_and_deleted() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/process/interpreter/context");
    let (status, context) = app.call_raw(Method::POST, &base, Some(json!({"cwd": "/tmp"}))).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(
        (context["cwd"].as_str(), context["language"].as_str(), context["active"].as_bool()),
        (Some("/tmp"), Some("python"), Some(true))
    );
    let context_id = context["id"].as_str().unwrap().to_string();
    let (_, list) = app.call_raw(Method::GET, &base, None).await;
    assert_eq!(list["contexts"].as_array().unwrap().len(), 1);
    assert_eq!(app.call_raw(Method::DELETE, &format!("{base}/default"), None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.call_raw(Method::DELETE, &format!("{base}/nope"), None).await.0, StatusCode::NOT_FOUND);
    let (status, body) = app.call_raw(Method::DELETE, &format!("{base}/{context_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_object(), "G18: a JSON object, not an empty body: {body}");
    let (_, list) = app.call_raw(Method::GET, &base, None).await;
    assert_eq!(list["contexts"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn git_uses_snake_case_bodies_and_daemon_error_codes() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/git");
    let (status, _) = app
        .call_raw(Method::POST, &format!("{base}/init"), Some(json!({"path": "repo", "initial_branch": "main"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.call_raw(Method::POST, &format!("/toolbox/{id}/process/execute"), Some(json!({"command": "echo x > repo/f"})))
        .await;
    let (_, st) = app.call_raw(Method::GET, &format!("{base}/status?path=repo"), None).await;
    assert_eq!(st["currentBranch"], "main");
    assert_eq!(st["fileStatus"][0], json!({"name": "f", "extra": "", "staging": "Untracked", "worktree": "Untracked"}));
    assert_eq!(
        app.call_raw(Method::POST, &format!("{base}/add"), Some(json!({"path": "repo", "files": ["f"]}))).await.0,
        StatusCode::OK
    );
    let (status, commit) = app
        .call_raw(
            Method::POST,
            &format!("{base}/commit"),
            Some(json!({"path": "repo", "message": "m", "author": "A", "email": "a@b", "allow_empty": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{commit}");
    assert_eq!(commit["hash"].as_str().unwrap().len(), 40);
    let (_, history) = app.call_raw(Method::GET, &format!("{base}/history?path=repo"), None).await;
    assert_eq!((history[0]["author"].as_str(), history[0]["message"].as_str()), (Some("A"), Some("m")));
    let (status, body) =
        app.call_raw(Method::POST, &format!("{base}/checkout"), Some(json!({"path": "repo", "branch": "nope"}))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("GIT_BRANCH_NOT_FOUND")), "{body}");
    let (status, body) = app.call_raw(Method::GET, &format!("{base}/status?path=/tmp"), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("GIT_REPO_NOT_FOUND")), "{body}");
    // DELETE with a JSON body (G16).
    app.call_raw(Method::POST, &format!("{base}/branches"), Some(json!({"path": "repo", "name": "b"}))).await;
    assert_eq!(
        app.call_raw(Method::DELETE, &format!("{base}/branches"), Some(json!({"path": "repo", "name": "b"}))).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, branches) = app.call_raw(Method::GET, &format!("{base}/branches?path=repo"), None).await;
    assert_eq!(branches, json!({"branches": ["main"]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_entrypoint_session_is_reserved_and_sessions_keep_their_creation_env() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, body) = app.call_raw(Method::GET, &format!("/toolbox/{id}/process/session/entrypoint"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"sessionId": "entrypoint", "commands": []})));
    let (status, body) =
        app.call_raw(Method::GET, &format!("/toolbox/{id}/process/session/entrypoint/logs"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"output": "", "stdout": "", "stderr": ""})));
    let (status, _) = toolbox(&app, &id, "/process/session", json!({"sessionId": "entrypoint"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = toolbox(&app, &id, "/process/session/entrypoint/exec", json!({"command": "true"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.call_raw(Method::DELETE, &format!("/toolbox/{id}/process/session/entrypoint"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, listed) = app.call_raw(Method::GET, &format!("/toolbox/{id}/process/session"), None).await;
    assert_eq!(listed, json!([]), "the entrypoint session is not listed");

    // A session keeps the environment it was created with, like a shell started then.
    let (status, _) = toolbox(&app, &id, "/process/session", json!({"sessionId": "early"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = toolbox(&app, &id, "/env", json!({"set": {"LATE": "1"}})).await;
    assert_eq!(status, StatusCode::OK);
    toolbox(&app, &id, "/process/session", json!({"sessionId": "late"})).await;
    let echo = json!({"command": "echo ${LATE:-none}"});
    let (_, early) = toolbox(&app, &id, "/process/session/early/exec", echo.clone()).await;
    let (_, late) = toolbox(&app, &id, "/process/session/late/exec", echo).await;
    assert_eq!((early["stdout"].clone(), late["stdout"].clone()), (json!("none\n"), json!("1\n")));
}

#[tokio::test(flavor = "multi_thread")]
async fn git_extras_refuse_bad_input_with_400s() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let (status, _) = toolbox(&app, &id, "/git/init", json!({"path": "repo", "bare": false})).await;
    assert_eq!(status, StatusCode::CREATED);
    for (path, body) in [
        ("/git/reset", json!({"path": "repo", "mode": "sideways"})),
        ("/git/reset", json!({"path": "repo", "mode": "hard", "files": ["a"]})),
        ("/git/restore", json!({"path": "repo", "files": []})),
        ("/git/config", json!({"key": "user.name", "value": "x", "scope": "local"})),
        ("/git/config", json!({"key": "user.name", "value": "x", "scope": "planet"})),
        ("/git/credentials", json!({"username": "u", "password": "p\nhost=evil.example"})),
        ("/git/remotes", json!({"path": "repo", "name": "", "url": "/tmp/x"})),
    ] {
        let (status, body) = toolbox(&app, &id, path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let (status, body) = app
        .call_raw(Method::GET, &format!("/toolbox/{id}/git/config?key=sandbar.unset&path=repo&scope=local"), None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"value": null})));
    let (_, body) =
        toolbox(&app, &id, "/git/remotes", json!({"path": "repo", "name": "up", "url": "/tmp/up.git"})).await;
    assert_eq!(body, json!({}));
    let (status, body) =
        toolbox(&app, &id, "/git/remotes", json!({"path": "repo", "name": "up", "url": "/tmp/up.git"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spare_shell_is_never_stale_or_dead_when_used() {
    let app = App::new().await;
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let exec = |command: &str| json!({"command": command});
    let (_, body) = toolbox(&app, &id, "/process/execute", exec("echo first")).await;
    assert_eq!(body["result"], "first\n");
    // The spare now waits; kill it from inside (a cwd keeps this command off the spare).
    let (_, body) = toolbox(
        &app,
        &id,
        "/process/execute",
        json!({"command": "sleep 0.3; for p in $(pgrep -x bash); do [ $p != $$ ] && kill -9 $p; done; echo killed", "cwd": "/tmp"}),
    )
    .await;
    assert_eq!(body["result"], "killed\n");
    let (_, body) = toolbox(&app, &id, "/process/execute", exec("echo after; exit 3")).await;
    assert_eq!(
        (body["exitCode"].clone(), body["result"].clone()),
        (json!(3), json!("after\n")),
        "a dead spare is not used"
    );
    // An environment change reaches the very next exec, although a spare was waiting.
    toolbox(&app, &id, "/env", json!({"set": {"FRESH": "yes"}})).await;
    let (_, body) = toolbox(&app, &id, "/process/execute", exec("echo ${FRESH:-stale}")).await;
    assert_eq!(body["result"], "yes\n");
    // Many execs in a row each get their own shell: no state leaks between them.
    for i in 0..5 {
        let (_, body) = toolbox(&app, &id, "/process/execute", exec(&format!("echo ${{SEEN:-clean}}; SEEN={i}"))).await;
        assert_eq!(body["result"], "clean\n");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sessions_writing_at_once_keep_their_own_logs() {
    let app = std::sync::Arc::new(App::new().await);
    let id = app.create(json!({})).await["id"].as_str().unwrap().to_string();
    let base = format!("/toolbox/{id}/process/session");
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (app, base) = (std::sync::Arc::clone(&app), base.clone());
        tasks.push(tokio::spawn(async move {
            let session = format!("writer-{n}");
            let (status, _) = app.call_raw(Method::POST, &base, Some(json!({"sessionId": session}))).await;
            assert_eq!(status, StatusCode::CREATED);
            // Each session writes 2000 numbered lines to stdout and to stderr, all at once.
            let command = format!("for i in $(seq 1 2000); do echo {n}:$i; echo {n}:e$i >&2; done");
            let (status, body) =
                app.call_raw(Method::POST, &format!("{base}/{session}/exec"), Some(json!({"command": command}))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let expected_out: String = (1..=2000).map(|i| format!("{n}:{i}\n")).collect();
            let expected_err: String = (1..=2000).map(|i| format!("{n}:e{i}\n")).collect();
            assert_eq!(body["stdout"].as_str(), Some(expected_out.as_str()), "session {n} stdout");
            assert_eq!(body["stderr"].as_str(), Some(expected_err.as_str()), "session {n} stderr");
            assert_eq!(body["exitCode"], 0);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}
