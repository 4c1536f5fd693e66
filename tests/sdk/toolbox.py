"""Toolbox flows through the official Python SDK, unmodified: process.exec, process.code_run and
the info calls, against a real `sandbar serve`. Run with a venv's Python and DAYTONA_API_URL /
DAYTONA_API_KEY set. Each step prints `ok`/`FAIL` (the step runner is flow.py). Every response
the SDK receives is recorded below the SDK (toolbox_capture.py) and checked with spec_check.py:
toolbox responses against the generated toolbox client, control-plane ones against the generated
control-plane client (both those of the SDK in the running venv); the run then prints `N spec
violations in T toolbox responses and C control-plane responses` and one line per distinct violation. The last line is `N passed, M failed`; the exit status is 1 if a step
failed or a spec violation was recorded.
"""
import importlib.metadata
import sys
import time
from pathlib import Path

import asyncio

sys.dont_write_bytecode = True  # no __pycache__ in the repository for the local modules below
sys.path.insert(0, str(Path(__file__).resolve().parent))

import flow  # noqa: E402  (local modules, need the path above)
import toolbox_capture  # noqa: E402
from flow import expect  # noqa: E402

recorder = toolbox_capture.Recorder.from_env()
recorder.install()  # before the first Daytona client exists

from daytona import CodeRunParams, Daytona, CreateSandboxFromSnapshotParams, PtySize, SessionExecuteRequest

VERSION = importlib.metadata.version("daytona")
steps = flow.Steps(recorder)
step = steps.step


print(f"daytona {VERSION}: toolbox")
daytona = Daytona()
sandbox = daytona.create(CreateSandboxFromSnapshotParams(env_vars={"FROM_CREATE": "c"}, labels={"suite": "toolbox"}))
try:
    def exec_output():
        response = sandbox.process.exec("echo $FROM_CREATE $FROM_CALL; echo to-stderr >&2; exit 3", env={"FROM_CALL": "x"})
        return expect((response.exit_code, response.result), (3, "c x\nto-stderr\n"))

    def exec_cwd():
        response = sandbox.process.exec("pwd", cwd="/tmp")
        return expect(response.result.strip(), "/tmp")

    def exec_timeout():
        started = time.time()
        try:
            sandbox.process.exec("sleep 60", timeout=1)
        except Exception as error:  # the SDK raises on 408
            took = time.time() - started
            return None if "timed out" in str(error) and took < 30 else f"{error!r} after {took:.1f}s"
        return "no error for a timed-out command"

    def exec_background_child():
        response = sandbox.process.exec("sleep 60 & echo started", timeout=30)
        return expect(response.result, "started\n")

    def code_run():
        response = sandbox.process.code_run("import sys\nprint('sum', sum(range(10)))")
        return expect((response.exit_code, response.result), (0, "sum 45\n"))

    def code_run_chart():
        response = sandbox.process.code_run(
            "import matplotlib.pyplot as plt\n"
            "plt.plot([0, 1, 2], [0, 1, 4], label='squares'); plt.title('Growth'); plt.xlabel('x'); plt.show()\n"
            "plt.bar(['a', 'b'], [3, 5]); plt.show()\n"
            "print('plotted')")
        charts = response.artifacts.charts
        line, bar = charts
        return expect(
            (response.exit_code, response.result, [str(getattr(c.type, "value", c.type)) for c in charts], line.title,
             line.x_label, line.elements[0].label, line.elements[0].points, [(e.label, e.value) for e in bar.elements],
             all(c.png and len(c.png) > 1000 for c in charts)),
            (0, "plotted\n", ["line", "bar"], "Growth", "x", "squares", [[0.0, 0.0], [1.0, 1.0], [2.0, 4.0]],
             [("a", "3.0"), ("b", "5.0")], True))

    def code_run_typescript():
        ts = daytona.create(CreateSandboxFromSnapshotParams(language="typescript", labels={"suite": "toolbox"}))
        try:
            response = ts.process.code_run(
                "const total: number = [1, 2, 3].reduce((a: number, b: number) => a + b, 0);\n"
                "console.log('ts', total, process.argv.slice(1).join(','));",
                params=CodeRunParams(argv=["x", "y"]))
            broken = ts.process.code_run("const n: number = ;")
        finally:
            daytona.delete(ts)
        return expect((response.exit_code, response.result, broken.exit_code, "TS1109" in broken.result),
                      (0, "ts 6 x,y\n", 1, True))

    def artifacts_stdout():
        response = sandbox.process.code_run("print('hi')")
        return expect(response.artifacts.stdout if response.artifacts else None, "hi\n")

    def home_and_work_dir():
        home = sandbox.get_user_home_dir() if hasattr(sandbox, "get_user_home_dir") else sandbox.get_user_root_dir()
        return expect((home, sandbox.get_work_dir()), ("/home/daytona", "/home/daytona"))

    def upload_download():
        sandbox.fs.upload_file(b"hello files\n", "docs/a.txt")
        return expect(sandbox.fs.download_file("docs/a.txt"), b"hello files\n")

    def download_missing():
        try:
            sandbox.fs.download_file("docs/missing.txt")
        except Exception as error:
            return None if "not found" in str(error).lower() else repr(error)
        return "no error for a missing file"

    def list_and_info():
        names = [f.name for f in sandbox.fs.list_files("docs")]
        info = sandbox.fs.get_file_info("docs/a.txt")
        return expect((names, info.size, info.is_dir, info.mode), (["a.txt"], 12, False, "-rw-r--r--"))

    def folder_move_permissions_delete():
        sandbox.fs.create_folder("docs/sub", "755")
        sandbox.fs.move_files("docs/a.txt", "docs/sub/b.txt")
        sandbox.fs.set_file_permissions("docs/sub/b.txt", mode="600")
        mode = sandbox.fs.get_file_info("docs/sub/b.txt").permissions
        sandbox.fs.delete_file("docs", recursive=True)
        gone = sandbox.process.exec("test -e docs && echo present || echo gone").result.strip()
        return expect((mode, gone), ("0600", "gone"))

    def session_state_persists():
        sandbox.process.create_session("s1")
        sandbox.process.execute_session_command("s1", SessionExecuteRequest(command="cd /tmp && export FOO=bar"))
        response = sandbox.process.execute_session_command("s1", SessionExecuteRequest(command="pwd; echo $FOO; echo e >&2; exit 5"))
        return expect((response.exit_code, response.stdout, response.stderr), (5, "/tmp\nbar\n", "e\n"))

    def session_stdin_is_closed_for_sync_commands():
        response = sandbox.process.execute_session_command("s1", SessionExecuteRequest(command="cat; echo after"))
        return expect(response.stdout, "after\n")

    def session_async_follow_and_input():
        started = sandbox.process.execute_session_command(
            "s1", SessionExecuteRequest(command="read x; for i in 1 2; do echo $x$i; done", run_async=True)
        )
        sandbox.process.send_session_command_input("s1", started.cmd_id, "v")
        seen = []
        asyncio.run(sandbox.process.get_session_command_logs_async("s1", started.cmd_id, seen.append, seen.append))
        exit_code = sandbox.process.get_session_command("s1", started.cmd_id).exit_code
        return expect(("".join(seen), exit_code), ("v\nv1\nv2\n", 0))

    def session_delete():
        sandbox.process.delete_session("s1")
        try:
            sandbox.process.get_session("s1")
        except Exception as error:
            return None if "not found" in str(error).lower() else repr(error)
        return "session still there"

    def pty_round_trip():
        handle = sandbox.process.create_pty_session(id="term", pty_size=PtySize(cols=100, rows=30))
        handle.wait_for_connection()
        handle.send_input("echo pty-$((6*7)); tput cols\n")
        handle.resize(PtySize(cols=120, rows=40))
        handle.send_input("stty size; exit 3\n")
        seen = []
        result = handle.wait(on_data=seen.append, timeout=30)
        text = b"".join(seen).decode(errors="replace")
        checks = ("pty-42" in text, "40 120" in text, result.exit_code)
        return expect(checks, (True, True, 3))

    def interpreter_state_errors_and_timeout():
        interpreter = sandbox.code_interpreter
        first = interpreter.run_code("x = 41\nprint('hi')")
        second = interpreter.run_code("print(x + 1)")
        failed = interpreter.run_code("1/0")
        try:
            interpreter.run_code("import time\ntime.sleep(30)", timeout=1)
            timeout = "no error"
        except Exception as error:
            timeout = type(error).__name__
        after = interpreter.run_code("print(x)")
        got = (first.stdout, second.stdout, failed.error.name if failed.error else None, timeout, after.stdout)
        return expect(got, ("hi\n", "42\n", "ZeroDivisionError", "DaytonaTimeoutError", "41\n"))

    def interpreter_contexts():
        interpreter = sandbox.code_interpreter
        context = interpreter.create_context()
        isolated = interpreter.run_code("print('x' in globals())", context=context).stdout
        listed = [c.id for c in interpreter.list_contexts()]
        interpreter.delete_context(context)
        return expect((isolated, listed, [c.id for c in interpreter.list_contexts()]), ("False\n", [context.id], []))

    def git_local_round_trip():
        sandbox.process.exec(
            "git init -q -b main origin && cd origin && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m first"
        )
        sandbox.git.clone("/home/daytona/origin", "work")
        sandbox.fs.upload_file(b"hello\n", "work/a.txt")
        untracked = [(f.name, str(f.worktree)) for f in sandbox.git.status("work").file_status]
        sandbox.git.add("work", ["a.txt"])
        sha = sandbox.git.commit("work", "add a", "Ann", "ann@example.com").sha
        sandbox.git.create_branch("work", "feature")
        sandbox.git.checkout_branch("work", "feature")
        branch = sandbox.git.status("work").current_branch
        branches = sorted(sandbox.git.branches("work").branches)
        return expect((untracked[0][0], "Untracked" in untracked[0][1], len(sha), branch, branches),
                      ("a.txt", True, 40, "feature", ["feature", "main"]))

    def git_push_pull():
        sandbox.process.exec(
            "git init -q -b main seed && git -C seed -c user.name=a -c user.email=a@b commit -q --allow-empty -m first"
            " && git clone -q --bare seed hub.git && git clone -q hub.git pusher && git clone -q hub.git puller"
        )
        sandbox.fs.upload_file(b"shared\n", "pusher/shared.txt")
        sandbox.git.add("pusher", ["shared.txt"])
        sha = sandbox.git.commit("pusher", "add shared", "Ann", "ann@example.com").sha
        sandbox.git.push("pusher")
        sandbox.git.pull("puller")
        head = sandbox.process.exec("git -C puller rev-parse HEAD").result.strip()
        return expect((head, sandbox.fs.download_file("puller/shared.txt")), (sha, b"shared\n"))

    def git_errors():
        try:
            sandbox.git.status("/tmp")
        except Exception as error:
            return None if "not a git repository" in str(error) else repr(error)
        return "no error outside a repository"

    def fork_and_snapshot():
        sandbox.fs.upload_file(b"forked\n", "state.txt")
        fork = getattr(sandbox, "fork", None) or sandbox._experimental_fork
        fork_name = f"sdk-fork-{int(time.time() * 1000)}"
        copy = fork(name=fork_name)
        try:
            named = (copy.name, str(getattr(copy.state, "value", copy.state)), copy.id != sandbox.id)
            seen = copy.fs.download_file("state.txt")
            copy.fs.upload_file(b"changed\n", "state.txt")
            original = sandbox.fs.download_file("state.txt")
        finally:
            daytona.delete(copy)
        snapshot = getattr(sandbox, "create_snapshot", None) or sandbox._experimental_create_snapshot
        name = f"sdk-snap-{int(time.time() * 1000)}"
        snapshot(name)
        made = daytona.snapshot.get(name)
        from_snapshot = daytona.create(CreateSandboxFromSnapshotParams(snapshot=name))
        try:
            restored = from_snapshot.fs.download_file("state.txt")
        finally:
            daytona.delete(from_snapshot)
            daytona.snapshot.delete(made)
        return expect((named, seen, original, str(made.state), restored),
                      ((fork_name, "started", True), b"forked\n", b"forked\n", str(made.state), b"forked\n"))

    def server_state():
        # The server's state, not the local object's: with SDK 0.226 the Socket.IO events of an
        # operation can arrive after its answer and flip the local copy for a moment.
        state = daytona.get(sandbox.id).state
        return str(getattr(state, "value", state))

    def pause_and_start_keep_processes():
        sandbox.process.exec("echo in-memory > /tmp/paused-note;"
                             " setsid sleep 1000 > /dev/null 2>&1 < /dev/null & echo $! > /tmp/paused-pid")
        sandbox.pause()
        paused = server_state()
        sandbox.start()
        started = server_state()
        alive = sandbox.process.exec("cat /tmp/paused-note; kill -0 $(cat /tmp/paused-pid) && echo alive;"
                                     " kill $(cat /tmp/paused-pid)").result.strip()
        return expect((paused, started, alive), ("paused", "started", "in-memory\nalive"))

    def stop_archive_start():
        sandbox.fs.upload_file(b"kept across an archive\n", "archived.txt")
        sandbox.stop()
        sandbox.archive()
        archived = server_state()
        sandbox.start()
        started = server_state()
        return expect((archived, started, sandbox.fs.download_file("archived.txt")),
                      ("archived", "started", b"kept across an archive\n"))

    step("fork and snapshot of a sandbox", fork_and_snapshot)
    step("stop, archive and start again keep the files", stop_archive_start)
    step("pause and start keep running processes and memory", pause_and_start_keep_processes)
    step("git clone, status, add, commit, branches, checkout", git_local_round_trip)
    step("git push to a remote, pull from it", git_push_pull)
    step("git errors say what failed", git_errors)
    step("code interpreter: state, errors, timeout keeps the context", interpreter_state_errors_and_timeout)
    step("code interpreter: contexts are separate", interpreter_contexts)
    step("pty: output, input, resize and exit code", pty_round_trip)
    step("session keeps cwd and exports between commands", session_state_persists)
    step("session sync command sees stdin at EOF", session_stdin_is_closed_for_sync_commands)
    step("session async command: input and followed logs", session_async_follow_and_input)
    step("session delete", session_delete)
    step("fs upload and download round trip", upload_download)
    step("fs download of a missing file raises not found", download_missing)
    step("fs list_files and get_file_info", list_and_info)
    step("fs create_folder, move, permissions, delete", folder_move_permissions_delete)
    step("process.exec merges output and returns the exit code", exec_output)
    step("process.exec honours cwd", exec_cwd)
    step("process.exec timeout raises and kills", exec_timeout)
    step("process.exec returns while a background child runs", exec_background_child)
    step("process.code_run python", code_run)
    step("code_run artifacts.stdout", artifacts_stdout)
    step("code_run matplotlib charts come back as artifacts", code_run_chart)
    step("code_run typescript", code_run_typescript)
    step("user home and work dir", home_and_work_dir)
finally:
    recorder.step = "cleanup"
    daytona.delete(sandbox)

steps.finish()
