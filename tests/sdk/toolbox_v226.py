"""Toolbox flows that only the Python SDK 0.226.1 has, through the official SDK, unmodified, against a
real `sandbar serve`: `update_env`, `get_metrics_latest`, signed file URLs (`download_url`,
`upload_url`, `rotate_signing_key`, fetched with plain urllib and no auth header), the git extras
(init, reset, restore, remotes, config, config user, credentials, push/pull with branch/remote/
set_upstream, shallow clone) and the entrypoint session. Git remotes are local repositories inside
the sandbox (sandboxes only have loopback networking). Run with the 0.226.1 venv's Python and
DAYTONA_API_URL / DAYTONA_API_KEY set. Each step prints `ok`/`FAIL` (the step runner is flow.py).
Every response the SDK receives, and every response to the plain urllib requests of the signed-URL
steps, is recorded (toolbox_capture.py) and checked with spec_check.py against the generated toolbox
and control-plane clients of SDK 0.226.1; the run prints `N spec violations in T toolbox responses and C control-plane
responses` and one line per distinct violation. The last line is `N passed, M failed`; the exit
status is 1 if any step failed or a spec violation was recorded (2 if the SDK is not 0.226.1).
"""
import asyncio
import importlib.metadata
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the repository for the local modules below
sys.path.insert(0, str(Path(__file__).resolve().parent))

import flow  # noqa: E402  (local modules, need the path above)
import toolbox_capture  # noqa: E402
from flow import expect  # noqa: E402

from daytona import CreateSandboxFromSnapshotParams, Daytona, DaytonaError, SessionExecuteRequest

VERSION = importlib.metadata.version("daytona")
if VERSION != "0.226.1":
    print(f"daytona {VERSION}: toolbox_v226 needs daytona 0.226.1")
    sys.exit(2)

recorder = toolbox_capture.Recorder.from_env()
recorder.install()  # before the first Daytona client exists
steps = flow.Steps(recorder)
step = steps.step


# Commits made by setup commands carry their own identity, so they do not depend on the git config
# that the config steps change.
GIT = "git -c user.name=Setup -c user.email=setup@example.com"
HOME = "/home/daytona"

# Plain HTTP without the SDK: no Authorization header, and no proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, headers=None):
    """(status, body); the exchange is recorded and spec-checked like the SDK's own."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=60) as response:
            status, data, content_type = response.status, response.read(), response.headers.get("content-type")
    except urllib.error.HTTPError as error:
        status, data, content_type = error.code, error.read(), error.headers.get("content-type")
    recorder.record(method, url, status, data, content_type, via="urllib, no SDK")
    return status, data


def multipart(field, filename, data):
    boundary = f"sandbar-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def query_of(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def with_query(url, **changes):
    """The URL with some query values replaced (None removes the key), re-encoded like the SDK does."""
    parts = urllib.parse.urlsplit(url)
    query = query_of(url)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def with_path(url, old, new):
    parts = urllib.parse.urlsplit(url)
    if old not in parts.path:
        raise AssertionError(f"{old!r} not in {url!r}")
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.replace(old, new)))


def refused(status):
    return status in (401, 403)


print(f"daytona {VERSION}: toolbox 0.226.1 extras")
daytona = Daytona()
sandbox = daytona.create(CreateSandboxFromSnapshotParams(env_vars={"FROM_CREATE": "c"}, labels={"suite": "toolbox-v226"}))


def sh(command):
    """Runs a setup/inspection command in the sandbox; a non-zero exit fails the step with its output."""
    response = sandbox.process.exec(command)
    if response.exit_code != 0:
        raise AssertionError(f"`{command}` exited {response.exit_code}: {response.result!r}")
    return response.result


def out(command):
    return sh(command).strip()


try:
    # ---- snapshots of a sandbox ------------------------------------------------------------
    def snapshot_listed_by_source():
        name = f"sdk-v226-snap-{uuid.uuid4().hex[:8]}"
        sandbox.create_snapshot(name)
        try:
            mine = daytona.snapshot.list(source_sandbox_id=sandbox.id)
            other = daytona.snapshot.list(source_sandbox_id=str(uuid.uuid4()))
            made = daytona.snapshot.get(name)
            # The server's state, not the local object's: Socket.IO events of the operation may
            # still be arriving and flip the local copy for a moment.
            state = daytona.get(sandbox.id).state
            got = ([s.name for s in mine.items], mine.total, [s.name for s in other.items], other.total,
                   made.source_sandbox_id, str(getattr(state, "value", state)))
        finally:
            daytona.snapshot.delete(name)  # 0.226.1 takes an id or a name
        try:
            daytona.snapshot.get(name)
            gone = "still there"
        except DaytonaError as error:
            gone = error.status_code
        return expect((got, gone), (([name], 1, [], 0, sandbox.id, "started"), 404))

    # ---- update_env -------------------------------------------------------------------------
    def env_set_then_unset():
        probe = 'echo "${SANDBAR_V226:-<unset>}|${FROM_CREATE:-<unset>}"'
        before = sandbox.process.exec(probe).result
        sandbox.update_env({"SANDBAR_V226": "two words & $dollar"})
        after_set = sandbox.process.exec(probe).result
        sandbox.update_env({}, unset=["SANDBAR_V226", "FROM_CREATE"])
        after_unset = sandbox.process.exec(probe).result
        return expect(
            (before, after_set, after_unset),
            ("<unset>|c\n", "two words & $dollar|c\n", "<unset>|<unset>\n"),
        )

    def env_unset_applies_before_set():
        sandbox.update_env({"SANDBAR_ORDER": "first"})
        sandbox.update_env({"SANDBAR_ORDER": "kept"}, unset=["SANDBAR_ORDER"])
        seen = sandbox.process.exec('echo "${SANDBAR_ORDER:-<unset>}"').result
        sandbox.update_env({}, unset=["SANDBAR_ORDER"])
        gone = sandbox.process.exec('echo "${SANDBAR_ORDER:-<unset>}"').result
        return expect((seen, gone), ("kept\n", "<unset>\n"))

    def env_new_sessions_inherit_running_ones_do_not():
        sandbox.process.create_session("v226-before")
        sandbox.update_env({"SANDBAR_SESSION_ENV": "s-1"})
        sandbox.process.create_session("v226-after")
        command = SessionExecuteRequest(command='echo "${SANDBAR_SESSION_ENV:-<unset>}"')
        old = sandbox.process.execute_session_command("v226-before", command).stdout
        new = sandbox.process.execute_session_command("v226-after", command).stdout
        for session in ("v226-before", "v226-after"):
            sandbox.process.delete_session(session)
        sandbox.update_env({}, unset=["SANDBAR_SESSION_ENV"])
        return expect((old, new), ("<unset>\n", "s-1\n"))

    # ---- metrics ---------------------------------------------------------------------------
    def metrics_latest():
        metrics = sandbox.get_metrics_latest()
        age = abs((datetime.now(timezone.utc) - metrics.timestamp).total_seconds())
        checks = {
            "cpu_count >= 1": metrics.cpu_count >= 1,
            "0 <= cpu_used_pct <= 100": 0 <= metrics.cpu_used_pct <= 100,
            "mem_total > 0": metrics.mem_total > 0,
            "0 < mem_used <= mem_total": 0 < metrics.mem_used <= metrics.mem_total,
            "0 <= mem_cache <= mem_total": 0 <= metrics.mem_cache <= metrics.mem_total,
            "disk_total > 0": metrics.disk_total > 0,
            "0 < disk_used <= disk_total": 0 < metrics.disk_used <= metrics.disk_total,
            "timestamp within 5 min": age < 300,
        }
        bad = [name for name, ok in checks.items() if not ok]
        return None if not bad else f"{bad} in {metrics!r}"

    # ---- signed file URLs ------------------------------------------------------------------
    # A relative path with a space and a plus: the SDK form-encodes it (space -> '+', '+' -> '%2B'),
    # so the server must form-decode the query before checking the signature.
    SIGNED = "v226/signed/a b+c.bin"
    PAYLOAD = bytes(range(256)) * 64 + b"\x00end"

    def signed_upload_multipart_then_download():
        upload = sandbox.upload_url(SIGNED)
        status, body = http("POST", upload, *multipart("file", "not-the-destination.bin", PAYLOAD))
        if status != 200:
            return f"upload: {status} {body[:300]!r}"
        info = json.loads(body)
        stored = sandbox.fs.download_file(SIGNED)
        status, data = http("GET", sandbox.download_url(SIGNED))
        shape = all(isinstance(info.get(key), str) for key in ("name", "path", "type"))
        return expect((info.get("name"), shape, stored == PAYLOAD, status, data == PAYLOAD), ("a b+c.bin", True, True, 200, True))

    def signed_upload_raw_body_overwrites():
        replacement = b"raw body\n" * 3
        status, body = http("POST", sandbox.upload_url(SIGNED), replacement, {"Content-Type": "application/octet-stream"})
        if status != 200:
            return f"upload: {status} {body[:300]!r}"
        return expect(sandbox.fs.download_file(SIGNED), replacement)

    def signed_url_ttl_zero_never_expires():
        sandbox.fs.upload_file(b"forever\n", "v226/signed/forever.txt")
        url = sandbox.download_url("v226/signed/forever.txt", ttl_seconds=0)
        status, data = http("GET", url)
        return expect((query_of(url).get("expires"), status, data), ("0", 200, b"forever\n"))

    def signed_url_rejections():
        sandbox.fs.upload_file(b"guarded\n", "v226/signed/guarded.txt")
        sandbox.fs.upload_file(b"other\n", "v226/signed/other.txt")
        good = sandbox.download_url("v226/signed/guarded.txt")
        control = http("GET", good)
        if control != (200, b"guarded\n"):
            return f"the untouched URL itself fails: {control[0]} {control[1][:200]!r}"
        signature = query_of(good)["signature"]
        flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        upload = sandbox.upload_url("v226/signed/guarded.txt")
        attempts = {
            "tampered signature": http("GET", with_query(good, signature=flipped)),
            "signature without prefix": http("GET", with_query(good, signature=signature[3:])),
            "other path, same signature": http("GET", with_query(good, path="v226/signed/other.txt")),
            "no signature": http("GET", with_query(good, signature=None, expires=None)),
            "download signature used to upload": http(
                "POST", with_path(with_query(good), "/files/download", "/files/upload-v2"), *multipart("file", "x", b"pwned\n")
            ),
            "upload signature used to download": http("GET", with_path(upload, "/files/upload-v2", "/files/download")),
        }
        wrong = {name: status for name, (status, _) in attempts.items() if not refused(status)}
        untouched = sandbox.fs.download_file("v226/signed/guarded.txt")
        return None if not wrong and untouched == b"guarded\n" else f"accepted or odd status: {wrong}; file now {untouched!r}"

    def signed_url_expires():
        sandbox.fs.upload_file(b"short-lived\n", "v226/signed/short.txt")
        url = sandbox.download_url("v226/signed/short.txt", ttl_seconds=1)
        expires = int(query_of(url)["expires"])
        time.sleep(max(0.0, expires + 1.5 - time.time()))
        expired = http("GET", url)[0]
        extended = http("GET", with_query(url, expires=str(expires + 3600)))[0]
        fresh = http("GET", sandbox.download_url("v226/signed/short.txt", ttl_seconds=60))
        if (refused(expired), refused(extended), fresh) == (True, True, (200, b"short-lived\n")):
            return None
        return f"expired URL -> {expired}, expiry moved forward -> {extended}, fresh URL -> {fresh!r}"

    def rotate_signing_key_invalidates_old_urls():
        sandbox.fs.upload_file(b"rotating\n", "v226/signed/rotate.txt")
        old = sandbox.download_url("v226/signed/rotate.txt", ttl_seconds=0)
        before = http("GET", old)
        sandbox.rotate_signing_key()
        new = sandbox.download_url("v226/signed/rotate.txt", ttl_seconds=0)
        fresh_object = daytona.get(sandbox.id).download_url("v226/signed/rotate.txt", ttl_seconds=0)
        old_after = http("GET", old)[0]
        return expect(
            (before, refused(old_after), query_of(new)["signature"] != query_of(old)["signature"],
             http("GET", new), query_of(fresh_object)["signature"] == query_of(new)["signature"]),
            ((200, b"rotating\n"), True, True, (200, b"rotating\n"), True),
        )

    def signed_url_is_bound_to_its_sandbox():
        other = daytona.create(CreateSandboxFromSnapshotParams(labels={"suite": "toolbox-v226"}))
        try:
            for target in (sandbox, other):
                target.fs.upload_file(b"same path\n", "v226/signed/shared.txt")
            mine = sandbox.download_url("v226/signed/shared.txt")
            theirs = other.download_url("v226/signed/shared.txt")
            replayed = http("GET", with_path(mine, f"/{sandbox.id}/", f"/{other.id}/"))[0]
            return expect((refused(replayed), http("GET", theirs)), (True, (200, b"same path\n")))
        finally:
            daytona.delete(other)

    # ---- git -------------------------------------------------------------------------------
    def git_init():
        sandbox.git.init("v226/init", initial_branch="trunk")
        sandbox.git.init("v226/bare.git", bare=True)
        got = (
            out("git -C v226/init symbolic-ref HEAD"),
            out("test -d v226/init/.git && echo worktree"),
            out("git -C v226/bare.git rev-parse --is-bare-repository"),
            out("test -e v226/bare.git/.git && echo nested || echo flat"),
        )
        return expect(got, ("refs/heads/trunk", "worktree", "true", "flat"))

    def git_config_get_set():
        repo = "v226/config"
        sh(f"git init -q -b main {repo}")
        sandbox.git.set_config("sandbar.flavour", "salted caramel", scope="local", path=repo)
        sandbox.git.set_config("sandbar.globalkey", "g-1")  # scope defaults to global
        got = (
            sandbox.git.get_config("sandbar.flavour", scope="local", path=repo),
            out(f"git -C {repo} config --local --get sandbar.flavour"),
            sandbox.git.get_config("sandbar.globalkey"),
            out("git config --global --get sandbar.globalkey"),
            sandbox.git.get_config("sandbar.globalkey", scope="local", path=repo),
            sandbox.git.get_config("sandbar.flavour"),
            sandbox.git.get_config("sandbar.never-set"),
        )
        return expect(got, ("salted caramel", "salted caramel", "g-1", "g-1", None, None, None))

    def git_config_user():
        repo = "v226/ident-local"
        sh(f"git init -q -b main {repo} && git init -q -b main v226/ident-global")
        sandbox.git.configure_user("Ada Lovelace", "ada@example.com", scope="local", path=repo)
        sandbox.git.configure_user("Grace Hopper", "grace@example.com")  # scope defaults to global
        sh(f"git -C {repo} commit -q --allow-empty -m local && git -C v226/ident-global commit -q --allow-empty -m global")
        got = (
            sandbox.git.get_config("user.name", scope="local", path=repo),
            sandbox.git.get_config("user.email", scope="local", path=repo),
            sandbox.git.get_config("user.name"),
            sandbox.git.get_config("user.email"),
            out(f"git -C {repo} log -1 --format='%an <%ae>'"),
            out("git -C v226/ident-global log -1 --format='%an <%ae>'"),
        )
        return expect(got, (
            "Ada Lovelace", "ada@example.com", "Grace Hopper", "grace@example.com",
            "Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>",
        ))

    def git_credentials_are_stored_for_git():
        sandbox.git.dangerously_authenticate("sandbar-bot", "p@ss/w:rd 1", host="git.sandbar.test", protocol="https")
        sandbox.git.dangerously_authenticate("octo", "gh-token")  # host github.com, protocol https

        def fill(host):
            text = out(f"printf 'protocol=https\\nhost={host}\\n\\n' | GIT_TERMINAL_PROMPT=0 git credential fill")
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            return fields.get("username"), fields.get("password")

        return expect((fill("git.sandbar.test"), fill("github.com")), (("sandbar-bot", "p@ss/w:rd 1"), ("octo", "gh-token")))

    def git_reset_modes():
        repo = "v226/reset"
        sh(f"git init -q -b main {repo} && cd {repo} && echo one > a.txt && git add a.txt && {GIT} commit -q -m c1"
           f" && echo two > a.txt && git add a.txt && {GIT} commit -q -m c2")
        c1, c2 = out(f"git -C {repo} rev-parse HEAD~1"), out(f"git -C {repo} rev-parse HEAD")
        sandbox.git.reset(repo, mode="soft", target="HEAD~1")
        soft = (out(f"git -C {repo} rev-parse HEAD"), out(f"git -C {repo} diff --cached --name-only"),
                sandbox.fs.download_file(f"{repo}/a.txt"))
        sandbox.git.reset(repo)  # mixed, to HEAD
        mixed = (out(f"git -C {repo} diff --cached --name-only"), out(f"git -C {repo} diff --name-only"))
        sandbox.git.reset(repo, mode="hard", target=c2)
        hard = (out(f"git -C {repo} rev-parse HEAD"), sandbox.fs.download_file(f"{repo}/a.txt"),
                out(f"git -C {repo} status --porcelain"))
        sh(f"cd {repo} && echo b > b.txt && echo c > c.txt && git add b.txt c.txt")
        sandbox.git.reset(repo, files=["b.txt"])
        only = out(f"git -C {repo} diff --cached --name-only")
        return expect((soft, mixed, hard, only), (
            (c1, "a.txt", b"two\n"), ("", "a.txt"), (c2, b"two\n", ""), "c.txt",
        ))

    def git_restore_worktree_staged_source():
        repo = "v226/restore"
        sh(f"git init -q -b main {repo} && cd {repo} && echo v1 > a.txt && git add a.txt && {GIT} commit -q -m c1"
           f" && echo v2 > a.txt && git add a.txt && {GIT} commit -q -m c2")
        c1 = out(f"git -C {repo} rev-parse HEAD~1")
        sandbox.fs.upload_file(b"scribble\n", f"{repo}/a.txt")
        sandbox.git.restore(repo, ["a.txt"])  # worktree by default
        worktree = sandbox.fs.download_file(f"{repo}/a.txt")
        sandbox.fs.upload_file(b"staged\n", f"{repo}/a.txt")
        sh(f"git -C {repo} add a.txt")
        sandbox.git.restore(repo, ["a.txt"], staged=True)
        staged = (out(f"git -C {repo} diff --cached --name-only"), sandbox.fs.download_file(f"{repo}/a.txt"))
        sandbox.git.restore(repo, ["a.txt"], source=c1)
        source = (sandbox.fs.download_file(f"{repo}/a.txt"), sh(f"git -C {repo} status --porcelain"))
        return expect((worktree, staged, source), (b"v2\n", ("", b"staged\n"), (b"v1\n", " M a.txt\n")))

    def git_remotes():
        repo, hub = "v226/remotes", f"{HOME}/v226/remotes-hub.git"
        sh(f"git init -q --bare -b main {hub} && git init -q -b main {repo} && cd {repo}"
           f" && {GIT} commit -q --allow-empty -m first && git push -q {hub} main")
        head = out(f"git -C {repo} rev-parse HEAD")
        empty = sandbox.git.remotes(repo).remotes
        sandbox.git.remote_add(repo, "upstream", hub)
        listed = [(r.name, r.url) for r in sandbox.git.remotes(repo).remotes]
        found, missing = sandbox.git.remote_get(repo, "upstream"), sandbox.git.remote_get(repo, "nope")
        try:
            sandbox.git.remote_add(repo, "upstream", "/elsewhere.git")
            duplicate = "accepted"
        except DaytonaError:
            duplicate = "refused"
        kept = sandbox.git.remote_get(repo, "upstream")
        sandbox.git.remote_add(repo, "upstream", f"file://{hub}", overwrite=True)
        overwritten = sandbox.git.remote_get(repo, "upstream")
        sandbox.git.remote_add(repo, "mirror", hub, fetch=True)
        fetched = out(f"git -C {repo} rev-parse mirror/main")
        names = sorted(r.name for r in sandbox.git.remotes(repo).remotes)
        return expect(
            (empty, listed, found, missing, duplicate, kept, overwritten, fetched, names),
            ([], [("upstream", hub)], hub, None, "refused", hub, f"file://{hub}", head, ["mirror", "upstream"]),
        )

    def git_push_pull_branch_remote_upstream():
        hub, alice, bob = f"{HOME}/v226/hub.git", "v226/alice", "v226/bob"
        sh(f"git init -q --bare -b main {hub} && git init -q -b main {alice} && cd {alice}"
           f" && echo 1 > f && git add f && {GIT} commit -q -m a1 && git remote add hub {hub}")
        a1 = out(f"git -C {alice} rev-parse HEAD")
        sandbox.git.push(alice, remote="hub", branch="main", set_upstream=True)
        first = (out(f"git -C {hub} rev-parse main"), out(f"git -C {alice} rev-parse --abbrev-ref main@{{upstream}}"))
        # Push a branch that is not checked out, without set_upstream.
        sh(f"cd {alice} && git checkout -q -b feature && echo 2 > g && git add g && {GIT} commit -q -m f1 && git checkout -q main")
        f1 = out(f"git -C {alice} rev-parse feature")
        sandbox.git.push(alice, remote="hub", branch="feature")
        second = (out(f"git -C {hub} rev-parse feature"), out(f"git -C {hub} rev-parse main"),
                  sandbox.process.exec(f"git -C {alice} rev-parse --abbrev-ref feature@{{upstream}}").exit_code != 0)
        # Bob's clone has no upstream and no remote called origin, so pull must use remote/branch.
        sh(f"git clone -q {hub} {bob} && cd {bob} && git remote rename origin hub && git branch --unset-upstream")
        sh(f"cd {alice} && echo 3 > f && git add f && {GIT} commit -q -m a2")
        a2 = out(f"git -C {alice} rev-parse HEAD")
        sandbox.git.push(alice, remote="hub")  # the current branch
        sandbox.git.pull(bob, remote="hub", branch="main")
        third = (out(f"git -C {bob} rev-parse HEAD"), sandbox.fs.download_file(f"{bob}/f"))
        sh(f"git -C {bob} checkout -q -b topic {a1}")
        sandbox.git.pull(bob, remote="hub", branch="feature")
        fourth = out(f"git -C {bob} rev-parse HEAD")
        return expect((first, second, third, fourth), ((a1, "hub/main"), (f1, a1, True), (a2, b"3\n"), f1))

    def git_clone_depth():
        deep = f"{HOME}/v226/deep"
        sh(f"git init -q -b main {deep} && cd {deep} && for i in 1 2 3; do echo $i > n && git add n && {GIT} commit -q -m c$i; done")
        head = out(f"git -C {deep} rev-parse HEAD")
        sandbox.git.clone(f"file://{deep}", "v226/shallow", depth=1)
        sandbox.git.clone(f"file://{deep}", "v226/full")
        got = tuple(out(f"git -C v226/{name} {args}") for name in ("shallow", "full")
                    for args in ("rev-list --count HEAD", "rev-parse --is-shallow-repository", "rev-parse HEAD"))
        return expect(got, ("1", "true", head, "3", "false", head))

    # ---- entrypoint session ----------------------------------------------------------------
    def entrypoint_session_and_logs():
        session = sandbox.process.get_entrypoint_session()
        ids = sorted({command.id for command in session.commands})
        logs = sandbox.process.get_entrypoint_logs()
        listed = [s.session_id for s in sandbox.process.list_sessions()]
        return expect(
            (session.session_id, ids in ([], ["entrypoint_command"]),
             all(isinstance(text, str) for text in (logs.output, logs.stdout, logs.stderr)), "entrypoint" in listed),
            ("entrypoint", True, True, False),
        )

    def entrypoint_logs_follow():
        outcome, chunks = {}, []

        async def follow():
            try:
                await asyncio.wait_for(sandbox.process.get_entrypoint_logs_async(chunks.append, chunks.append), 5)
                outcome["state"] = "ended"
            except TimeoutError:
                outcome["state"] = "following"  # a long-running entrypoint keeps the stream open
            except Exception as error:
                outcome["error"] = f"{type(error).__name__}: {error}"

        # Its own thread: a stream left open must not hold up the rest of the run.
        threading.Thread(target=lambda: asyncio.run(follow()), daemon=True).start()
        deadline = time.time() + 30
        while not outcome and time.time() < deadline:
            time.sleep(0.1)
        if "error" in outcome:
            return outcome["error"]
        # The default image has no entrypoint: the stream is empty and closes 1000 at once.
        return expect((outcome.get("state"), chunks), ("ended", []))

    def entrypoint_session_is_reserved():
        attempts = {
            "create": lambda: sandbox.process.create_session("entrypoint"),
            "exec": lambda: sandbox.process.execute_session_command("entrypoint", SessionExecuteRequest(command="echo hi")),
            "delete": lambda: sandbox.process.delete_session("entrypoint"),
        }
        statuses = {}
        for name, call in attempts.items():
            try:
                call()
                statuses[name] = "accepted"
            except DaytonaError as error:
                statuses[name] = error.status_code
        still = sandbox.process.get_entrypoint_session().session_id
        return expect((statuses, still), ({"create": 400, "exec": 400, "delete": 400}, "entrypoint"))

    step("snapshot of the sandbox: list(source_sandbox_id), source_sandbox_id, delete by name", snapshot_listed_by_source)
    step("update_env sets, then unsets (also a create-time var), for new processes", env_set_then_unset)
    step("update_env applies unset before set", env_unset_applies_before_set)
    step("update_env reaches new sessions, not running ones", env_new_sessions_inherit_running_ones_do_not)
    step("get_metrics_latest values are sane", metrics_latest)
    step("signed upload (multipart `file`) and signed download, no auth header", signed_upload_multipart_then_download)
    step("signed upload with a raw body overwrites", signed_upload_raw_body_overwrites)
    step("signed URL with ttl 0 never expires", signed_url_ttl_zero_never_expires)
    step("signed URLs: tampering, other path, other method, no signature refused", signed_url_rejections)
    step("signed URL refused after it expires", signed_url_expires)
    step("rotate_signing_key invalidates old URLs; new key served", rotate_signing_key_invalidates_old_urls)
    step("signed URL does not open another sandbox", signed_url_is_bound_to_its_sandbox)
    step("git init with initial branch, and bare", git_init)
    step("git config set/get, local and global, unset is None", git_config_get_set)
    step("git configure_user, local and global", git_config_user)
    step("git dangerously_authenticate stores credentials git can fill", git_credentials_are_stored_for_git)
    step("git reset soft, mixed, hard, and with files", git_reset_modes)
    step("git restore worktree, staged, and from a source", git_restore_worktree_staged_source)
    step("git remotes: list, add, get, duplicate, overwrite, fetch", git_remotes)
    step("git push/pull with branch, remote and set_upstream", git_push_pull_branch_remote_upstream)
    step("git clone depth=1 from file:// keeps one commit", git_clone_depth)
    step("entrypoint session and its logs", entrypoint_session_and_logs)
    step("entrypoint logs follow over WebSocket", entrypoint_logs_follow)
    step("entrypoint session id is reserved", entrypoint_session_is_reserved)
finally:
    recorder.step = "cleanup"
    daytona.delete(sandbox)

steps.finish()
