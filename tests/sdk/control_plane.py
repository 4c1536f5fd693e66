"""Control-plane conformance flows for the official, unmodified Daytona Python SDK.

Run with the python of one of the venvs made by setup-python.sh, against a running `sandbar serve`:

    DAYTONA_API_URL=http://127.0.0.1:3000/api DAYTONA_API_KEY=... <venv>/bin/python control_plane.py

Every control-plane response the SDK receives is captured below the SDK (the generated client's
`daytona_api_client.rest.RESTClientObject.request`; nothing in the SDK is modified) and validated
with spec_check.py against that generated client itself (its operations and models). Each flow
prints `ok <step>`, `FAIL <step>: <reason>` or `skip <step>: <reason>`; the last line is `N passed,
M failed`. Everything the run creates carries a per-run label and is deleted at the end, also on
failure. The exit status is non-zero when a step failed or a spec violation was recorded.

One file of about a thousand lines on purpose: it is one scenario, a table of steps that run in
order and hand objects to each other (`Ctx.state`), and it mirrors ts/control_plane.mjs step by
step; split, the order and the shared state would be spread over files.

Set SANDBAR_SDK_TRACE=1 to print every captured exchange.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import flow  # noqa: E402  (local modules, need the path above)
import spec_check  # noqa: E402

import daytona_api_client.rest as generated_rest  # noqa: E402
from daytona import (  # noqa: E402
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    CreateSnapshotParams,
    Daytona,
    DaytonaAuthenticationError,
    DaytonaConfig,
    DaytonaError,
    DaytonaNotFoundError,
    ListSandboxesQuery,
    Resources,
    Sandbox,
    SandboxListSortDirection,
    SandboxListSortField,
    SandboxState,
    VolumeMount,
)
from daytona_api_client.exceptions import ApiException  # noqa: E402

SDK_VERSION = importlib.metadata.version("daytona")  # daytona has no __version__ attribute
LANGUAGE_LABEL = "code-toolbox-language"
RUN_LABEL = "sandbar-suite-run"
VOLUME_GONE_STATES = ("pending_delete", "deleting", "deleted")

# Version differences, by feature detection (see daytona-wire.md §5).
HAS_SET_PUBLIC = hasattr(Sandbox, "set_public")  # 0.226.1
HAS_NETWORK_SETTINGS = hasattr(Sandbox, "update_network_settings")  # both pinned versions
HAS_PAUSE = hasattr(Sandbox, "pause")  # both pinned versions
DELETE_CAN_WAIT = "wait" in inspect.signature(Sandbox.delete).parameters  # 0.226.1
# An image reference the server cannot have: Sandbar builds no images yet and must say so (4xx).
IMAGE_REF = "python:3.12-slim"


class Skip(Exception):
    """Raised by a step that cannot be expressed with this SDK version."""


# ---- capture hook ------------------------------------------------------------------------------

@dataclass
class Exchange:
    step: str
    method: str
    url: str
    path: str | None
    status: int
    body: Any


class Capture:
    """Records every response of the generated control-plane client and checks it with spec_check.

    The hook wraps `RESTClientObject.request` of `daytona_api_client` (the sync control-plane
    client; the toolbox client is a separate package and is not touched). It reads the body once;
    urllib3 caches it, so the generated code's own `read()` gets the same bytes.
    """

    def __init__(self, api_url: str, checker: spec_check.SpecChecker):
        self.api_url = api_url
        self.checker = checker
        self.step = "setup"
        self.exchanges: list[Exchange] = []
        self.trace = os.environ.get("SANDBAR_SDK_TRACE") == "1"
        # Ids from successful POST /sandbox and POST /volumes responses, even ones the SDK then
        # failed to parse, so cleanup can find everything the server created.
        self.created: dict[str, set[str]] = {"/sandbox": set(), "/volumes": set()}

    def install(self) -> None:
        flow.hook(generated_rest.RESTClientObject, "request", self._response)

    def _response(self, response: Any, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        raw = response.read()
        self.record(method, url, response.status, raw, response.headers)

    def record(self, method: str, url: str, status: int, raw: bytes | None, headers: Any) -> None:
        method = method.upper()
        path = spec_check.api_relative_path(url, self.api_url)
        text = (raw or b"").decode("utf-8", errors="replace")
        body: Any
        if not text.strip():
            body = None
        else:
            try:
                body = json.loads(text)
            except ValueError:
                body = spec_check.InvalidJson(text)
        self.exchanges.append(Exchange(self.step, method, url, path, status, body))
        if method == "POST" and path in self.created and 200 <= status < 300 and isinstance(body, dict):
            if isinstance(body.get("id"), str):
                self.created[path].add(body["id"])
        if self.trace:
            print(f"  .. {method} {url} -> {status} {text[:300]}", flush=True)
        shown = path if path is not None else url
        if path is None:
            self.add_violation(method, shown, status, f"request is outside the API base {self.api_url}")
            return
        content_type = (headers.get("content-type") or "") if headers is not None else ""
        if body is not None and content_type and "json" not in content_type.lower():
            self.add_violation(method, path, status, f"content-type {content_type!r} is not JSON "
                               "(the generated client only parses application/json)")
        self.checker.check(method, path, status, body, context=self.step)

    def add_violation(self, method: str, path: str, status: int, problem: str) -> None:
        self.checker.violations.append(spec_check.Violation(method, path, status, problem, self.step))


# ---- helpers -----------------------------------------------------------------------------------

def expect(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def state_of(value: Any) -> str | None:
    """A SandboxState/SnapshotState/VolumeState (str enums) or plain string as a plain string."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def settled(sb, wanted: str, seconds: float = 3.0) -> str:
    """The SDK object's state once an operation's Socket.IO events have arrived: SDK 0.226 applies
    each event as it comes, possibly after the call returned, so a transitional state can show for
    a moment. Returns the state (the wanted one, or whatever it still is after `seconds`)."""
    deadline = time.time() + seconds
    while state_of(sb.state) != wanted and time.time() < deadline:
        time.sleep(0.02)
    return state_of(sb.state)


def status_of(error: BaseException) -> int | None:
    """HTTP status of a DaytonaError (status_code) or a raw generated ApiException (status)."""
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(error, "status", None)
    return status if isinstance(status, int) else None


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text[:400]}"


def expect_raises(fn: Callable[[], Any], classes: tuple[type[BaseException], ...], what: str,
                  status: int | None = None) -> BaseException:
    """Runs fn; it must raise one of `classes` (and carry HTTP `status` if given)."""
    try:
        result = fn()
    except classes as e:
        if status is not None and status_of(e) != status:
            raise AssertionError(f"{what}: raised {one_line(e)} with status {status_of(e)}, "
                                 f"expected {status}") from e
        return e
    except Exception as e:
        names = "/".join(c.__name__ for c in classes)
        raise AssertionError(f"{what}: expected {names}, got {one_line(e)}") from e
    raise AssertionError(f"{what}: expected an error, got {result!r:.200}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sandbox_basics(sb: Any, what: str) -> None:
    expect(settled(sb, "started") == "started", f"{what}: state {state_of(sb.state)!r}, expected 'started'")
    expect(sb.user == "daytona", f"{what}: user {sb.user!r}, expected 'daytona'")
    for key in ("cpu", "gpu", "memory", "disk"):
        value = getattr(sb, key)
        expect(is_int(value), f"{what}: {key} is {value!r} ({type(value).__name__}), expected an int")
    for key in ("cpu", "memory", "disk"):
        expect(getattr(sb, key) >= 1, f"{what}: {key} is {getattr(sb, key)}, expected >= 1")
    url = sb.toolbox_proxy_url
    expect(isinstance(url, str) and url, f"{what}: toolboxProxyUrl is empty")
    expect(url.startswith(("http://", "https://")), f"{what}: toolboxProxyUrl {url!r} is not an absolute URL")
    expect(not url.endswith("/"), f"{what}: toolboxProxyUrl {url!r} ends with '/'")
    expect((sb.labels or {}).get(LANGUAGE_LABEL) == "python",
           f"{what}: labels {sb.labels!r} lack {LANGUAGE_LABEL}=python")


def parse_time(text: Any) -> datetime:
    """A DTO timestamp (ISO 8601 string, e.g. `2026-01-02T03:04:05.678Z`) as an aware datetime."""
    expect(isinstance(text, str) and text, f"timestamp {text!r} is not a string")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def poll(fn: Callable[[], Any], done: Callable[[Any], bool], timeout: float, what: str) -> Any:
    """Calls fn until done(result) or timeout; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f}s (last: {result!r:.200})")
        time.sleep(0.5)


# ---- the suite ---------------------------------------------------------------------------------

@dataclass
class Suite:
    api_url: str
    api_key: str
    capture: Capture
    daytona: Daytona
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    results: dict[str, bool] = field(default_factory=dict)
    sandboxes: dict[str, Any] = field(default_factory=dict)  # every sandbox id this run created
    state: dict[str, Any] = field(default_factory=dict)  # objects shared between steps

    def name(self, suffix: str) -> str:
        return f"sdk-py-{self.run_id}-{suffix}"

    def labels(self, **extra: str) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, **extra}

    def track(self, sb: Any) -> Any:
        self.sandboxes[sb.id] = sb
        return sb

    def step(self, name: str, fn: Callable[[], None], needs: tuple[str, ...] = ()) -> None:
        missing = [n for n in needs if not self.results.get(n)]
        if missing:
            self._fail(name, f"not run: prerequisite {', '.join(missing)} did not pass")
            return
        self.capture.step = name
        try:
            fn()
        except Skip as s:
            self.skipped += 1
            self.results[name] = False
            print(f"skip {name}: {s}", flush=True)
        except Exception as e:  # a step failure must not stop the run
            self._fail(name, one_line(e))
        else:
            self.passed += 1
            self.results[name] = True
            print(f"ok {name}", flush=True)
        finally:
            self.capture.step = "between-steps"

    def _fail(self, name: str, reason: str) -> None:
        self.failed += 1
        self.results[name] = False
        print(f"FAIL {name}: {reason}", flush=True)

    # -- create ---------------------------------------------------------------------------------

    def create_default(self) -> None:
        sb = self.track(self.daytona.create())
        self.state["default"] = sb
        check_sandbox_basics(sb, "create()")
        expect(isinstance(sb.env, dict), f"create(): env is {sb.env!r}, expected an object")

    def create_with_params(self) -> None:
        env = {"SANDBAR_SUITE": "1", "GREETING": "hello world"}
        labels = self.labels(group="a")
        params = CreateSandboxFromSnapshotParams(
            name=self.name("params"), env_vars=env, labels=dict(labels), public=True,
            auto_stop_interval=30, auto_archive_interval=120, ephemeral=True,
        )
        sb = self.track(self.daytona.create(params))
        self.state["params"] = sb
        check_sandbox_basics(sb, "create(params)")
        expect(sb.name == self.name("params"), f"name {sb.name!r}, expected {self.name('params')!r}")
        for k, v in env.items():
            expect((sb.env or {}).get(k) == v, f"env {sb.env!r} lacks {k}={v!r}")
        want = {**labels, LANGUAGE_LABEL: "python"}
        expect(sb.labels == want, f"labels {sb.labels!r}, expected {want!r}")
        expect(sb.public is True, f"public {sb.public!r}, expected True (create(public=True))")
        expect(sb.auto_stop_interval == 30, f"autoStopInterval {sb.auto_stop_interval!r}, expected 30")
        expect(sb.auto_archive_interval == 120, f"autoArchiveInterval {sb.auto_archive_interval!r}, expected 120")
        expect(sb.auto_delete_interval == 0,
               f"autoDeleteInterval {sb.auto_delete_interval!r}, expected 0 (ephemeral=True)")

    def create_from_snapshot(self) -> None:
        params = CreateSandboxFromSnapshotParams(
            snapshot="default", name=self.name("snap"), labels=self.labels(group="b"))
        sb = self.track(self.daytona.create(params))
        self.state["snap"] = sb
        check_sandbox_basics(sb, "create(snapshot='default')")
        if sb.snapshot != "default":
            default = self.daytona.snapshot.get("default")
            expect(sb.snapshot == default.id,
                   f"snapshot {sb.snapshot!r}, expected 'default' or its id {default.id!r}")

    def create_unknown_snapshot(self) -> None:
        missing = f"no-such-snapshot-{self.run_id}"
        name = self.name("badsnap")
        params = CreateSandboxFromSnapshotParams(
            snapshot=missing, name=name, labels=self.labels(case="badsnap"))

        def attempt() -> Any:
            sb = self.daytona.create(params, timeout=30)
            self.track(sb)
            return sb

        err = expect_raises(attempt, (DaytonaError,), "create(snapshot=<unknown>)")
        status = status_of(err)
        expect(status is not None and 400 <= status < 500,
               f"create(snapshot=<unknown>) raised {one_line(err)} with status {status}, expected a 4xx")
        expect(missing in str(err), f"error message {str(err)!r} does not mention {missing!r}")
        self.expect_not_created("badsnap", name)

    def create_from_image(self) -> None:
        # Sandbar cannot pull or build images yet: an image reference is a clear 4xx naming it.
        name = self.name("image")
        params = CreateSandboxFromImageParams(image=IMAGE_REF, name=name, labels=self.labels(case="image"))

        def attempt() -> Any:
            sb = self.daytona.create(params, timeout=30)
            self.track(sb)
            return sb

        err = expect_raises(attempt, (DaytonaError,), f"create(image={IMAGE_REF!r})")
        status = status_of(err)
        expect(status is not None and 400 <= status < 500,
               f"create(image=...) raised {one_line(err)} with status {status}, expected a 4xx")
        expect(IMAGE_REF in str(err), f"error message {str(err)!r} does not name the image {IMAGE_REF!r}")
        self.expect_not_created("image", name)

    def expect_not_created(self, case: str, name: str) -> None:
        """After a refused create: no sandbox with that name or `case` label exists."""
        # Filter client-side too, so a broken server-side label filter is not reported here.
        leaked = [s.id for s in self.daytona.list(ListSandboxesQuery(labels=self.labels(case=case)))
                  if s.name == name or s.labels.get("case") == case]
        for sid in leaked:
            self.sandboxes.setdefault(sid, None)
        expect(not leaked, f"a sandbox was created anyway: {leaked}")
        expect_raises(lambda: self.daytona.get(name), (DaytonaNotFoundError,),
                      f"get({name!r}) after the failed create", status=404)

    # -- get / list -----------------------------------------------------------------------------

    def get_by_id(self) -> None:
        want = self.state["params"]
        got = self.daytona.get(want.id)
        expect(got.id == want.id, f"get(id).id {got.id!r}, expected {want.id!r}")
        expect(got.name == want.name, f"get(id).name {got.name!r}, expected {want.name!r}")
        check_sandbox_basics(got, "get(id)")
        expect((got.env or {}).get("GREETING") == "hello world", f"get(id).env {got.env!r} lost GREETING")
        expect(got.toolbox_proxy_url == want.toolbox_proxy_url,
               f"toolboxProxyUrl changed: {got.toolbox_proxy_url!r} vs {want.toolbox_proxy_url!r}")

    def get_by_name(self) -> None:
        want = self.state["params"]
        got = self.daytona.get(want.name)
        expect(got.id == want.id, f"get(name).id {got.id!r}, expected {want.id!r}")
        check_sandbox_basics(got, "get(name)")

    def list_by_labels(self) -> None:
        everything = {s.id for s in self.daytona.list(ListSandboxesQuery(labels=self.labels()))}
        want_all = {self.state["params"].id, self.state["snap"].id}
        expect(everything == want_all, f"list(labels=run) returned {sorted(everything)}, expected {sorted(want_all)}")
        group_a = [s for s in self.daytona.list(ListSandboxesQuery(labels=self.labels(group="a")))]
        ids = [s.id for s in group_a]
        expect(ids == [self.state["params"].id],
               f"list(labels=run+group=a) returned {ids}, expected [{self.state['params'].id}]")
        expect(group_a[0].labels.get(LANGUAGE_LABEL) == "python",
               f"list item labels {group_a[0].labels!r} lack {LANGUAGE_LABEL}")
        check_sandbox_basics(group_a[0], "list item")
        none = list(self.daytona.list(ListSandboxesQuery(labels={RUN_LABEL: f"{self.run_id}-nobody"})))
        expect(not none, f"list(labels=<unused>) returned {[s.id for s in none]}, expected nothing")

    def list_pages(self) -> None:
        before = len(self.capture.exchanges)
        paged = [s.id for s in self.daytona.list(ListSandboxesQuery(labels=self.labels(), limit=1))]
        want = {self.state["params"].id, self.state["snap"].id}
        expect(sorted(paged) == sorted(want), f"list(limit=1) yielded {paged}, expected each of {sorted(want)} once")
        pages = [x for x in self.capture.exchanges[before:] if x.method == "GET" and x.path == "/sandbox"]
        expect(len(pages) >= 2, f"list(limit=1) over 2 sandboxes fetched {len(pages)} page(s); "
               "expected nextCursor paging")
        for page in pages:
            items = page.body.get("items") if isinstance(page.body, dict) else None
            expect(isinstance(items, list) and len(items) <= 1,
                   f"a page with limit=1 returned {len(items) if isinstance(items, list) else items!r} items")
        last = pages[-1].body if isinstance(pages[-1].body, dict) else {}
        expect(not last.get("nextCursor"), f"last page still has nextCursor {last.get('nextCursor')!r}")

    def run_ids(self, **query: Any) -> list[str]:
        """Ids of this run's sandboxes that list() yields for `query` (in the order it yields them)."""
        return [s.id for s in self.daytona.list(ListSandboxesQuery(labels=self.labels(), **query))]

    def list_filters(self) -> None:
        params, snap = self.state["params"], self.state["snap"]
        both = sorted([params.id, snap.id])
        got = lambda **q: sorted(self.run_ids(**q))  # noqa: E731
        checks = {
            "states=[started]": (got(states=[SandboxState.STARTED]), both),
            "states=[stopped]": (got(states=[SandboxState.STOPPED]), []),
            "snapshots=[default]": (got(snapshots=["default"]), both),
            "snapshots=[<unknown>]": (got(snapshots=[f"nope-{self.run_id}"]), []),
            "name=<prefix of one name>": (got(name=self.name("par")), [params.id]),
            "id=<prefix of one id>": (got(id=snap.id[:13]), [snap.id]),
            "is_public=True": (got(is_public=True), [params.id]),
            "is_public=False": (got(is_public=False), [snap.id]),
            "min_cpu..max_cpu around both": (got(min_cpu=params.cpu, max_cpu=params.cpu), both),
            "min_cpu above both": (got(min_cpu=max(params.cpu, snap.cpu) + 1), []),
            "min_memory_gib above both": (got(min_memory_gib=max(params.memory, snap.memory) + 1), []),
            "min_disk_gib..max_disk_gib around both": (got(min_disk_gib=params.disk, max_disk_gib=params.disk), both),
            "is_recoverable=False": (got(is_recoverable=False), both),
        }
        wrong = {what: f"got {g}, expected {w}" for what, (g, w) in checks.items() if g != w}
        expect(not wrong, f"list(labels=run, ...) filters wrong: {wrong}")

    def list_sorted(self) -> None:
        params, snap = self.state["params"], self.state["snap"]  # created in this order; names ...-params < ...-snap
        asc, desc = SandboxListSortDirection.ASC, SandboxListSortDirection.DESC
        checks = {
            "sort=name order=asc": (self.run_ids(sort=SandboxListSortField.NAME, order=asc), [params.id, snap.id]),
            "sort=name order=desc": (self.run_ids(sort=SandboxListSortField.NAME, order=desc), [snap.id, params.id]),
            "sort=createdAt order=asc": (self.run_ids(sort=SandboxListSortField.CREATEDAT, order=asc),
                                         [params.id, snap.id]),
            "sort=createdAt order=desc": (self.run_ids(sort=SandboxListSortField.CREATEDAT, order=desc),
                                          [snap.id, params.id]),
            "sort=name order=desc limit=1 (one per cursor page)": (
                self.run_ids(sort=SandboxListSortField.NAME, order=desc, limit=1), [snap.id, params.id]),
        }
        wrong = {what: f"got {g}, expected {w}" for what, (g, w) in checks.items() if g != w}
        expect(not wrong, f"list(labels=run, sort=...) order wrong ({params.id} is ...-params, {snap.id} is "
               f"...-snap): {wrong}")

    def created_midpoint(self) -> datetime:
        """The instant halfway between the creation of the params and the snap sandbox."""
        first, second = parse_time(self.state["params"].created_at), parse_time(self.state["snap"].created_at)
        expect(second - first >= timedelta(milliseconds=2),
               f"createdAt {first.isoformat()} and {second.isoformat()} are too close to split")
        return first + (second - first) / 2

    def list_by_created_at(self) -> None:
        params, snap = self.state["params"], self.state["snap"]
        mid = self.created_midpoint()
        after, before = sorted(self.run_ids(created_at_after=mid)), sorted(self.run_ids(created_at_before=mid))
        expect((after, before) == ([snap.id], [params.id]),
               f"created_at_after/before={mid.isoformat()} returned {after} / {before}, expected [{snap.id}] / "
               f"[{params.id}]")

    def list_by_created_at_offset(self) -> None:
        # The same instant written with a +05:30 offset (the SDK sends e.g. 2026-01-02T08:34:05.678000+0530).
        params, snap = self.state["params"], self.state["snap"]
        mid = self.created_midpoint().astimezone(timezone(timedelta(hours=5, minutes=30)))
        after, before = sorted(self.run_ids(created_at_after=mid)), sorted(self.run_ids(created_at_before=mid))
        expect((after, before) == ([snap.id], [params.id]),
               f"created_at_after/before={mid.isoformat()} (UTC{mid.strftime('%z')}) returned {after} / {before}, "
               f"expected [{snap.id}] / [{params.id}] as for the same instant in UTC")

    def list_prefix_case_insensitive(self) -> None:
        # Daytona's spec: `id` and `name` filter by prefix, case-insensitively.
        params = self.state["params"]
        by_name = self.run_ids(name=self.name("par").upper())
        by_id = self.run_ids(id=params.id[:13].upper())
        expect((by_name, by_id) == ([params.id], [params.id]),
               f"list(name={self.name('par').upper()!r}) returned {by_name}, list(id={params.id[:13].upper()!r}) "
               f"returned {by_id}; expected [{params.id}] for both (prefix filters are case-insensitive)")

    def list_paginated_deprecated(self) -> None:
        # GET /sandbox/paginated: page numbers, as SDKs before the cursor list used. Only the generated
        # client of 0.190.0 still has it; it is the SDK's own client, reached through the Daytona object.
        fetch = getattr(self.daytona._sandbox_api, "list_sandboxes_paginated_deprecated", None)
        if fetch is None:
            raise Skip(f"the generated client of daytona {SDK_VERSION} has no list_sandboxes_paginated_deprecated")
        params, snap = self.state["params"], self.state["snap"]
        labels = json.dumps(self.labels())
        pages = [fetch(page=n, limit=1, labels=labels, sort="name", order="asc") for n in (1, 2, 3)]
        got = [([s.id for s in p.items], p.total, p.page, p.total_pages) for p in pages]
        want = [([params.id], 2, 1, 2), ([snap.id], 2, 2, 2), ([], 2, 3, 2)]
        expect(got == want, f"pages 1..3 (limit=1, sort=name asc) gave (ids, total, page, totalPages) {got}, "
               f"expected {want}")
        everything = fetch(labels=labels)
        expect(sorted(s.id for s in everything.items) == sorted([params.id, snap.id]) and everything.page == 1,
               f"without page/limit: {[s.id for s in everything.items]} page {everything.page}")

    # -- URLs and config the SDK reads through its generated client ----------------------------------

    def toolbox_proxy_url(self) -> None:
        # The SDK falls back to GET /sandbox/{id}/toolbox-proxy-url when a sandbox DTO lacks
        # toolboxProxyUrl; it is called here through the SDK's own generated client.
        sb = self.state["params"]
        got = self.daytona._sandbox_api.get_toolbox_proxy_url(sb.id).url
        expect(got == sb.toolbox_proxy_url, f"toolbox-proxy-url {got!r}, expected the DTO's {sb.toolbox_proxy_url!r}")
        by_name = self.daytona._sandbox_api.get_toolbox_proxy_url(sb.name).url
        expect(by_name == got, f"toolbox-proxy-url by name {by_name!r}, by id {got!r}")
        expect_raises(lambda: self.daytona._sandbox_api.get_toolbox_proxy_url(str(uuid.uuid4())), (ApiException,),
                      "toolbox-proxy-url of an unknown sandbox", status=404)

    def build_logs_url(self) -> None:
        # The SDK reads GET /sandbox/{id}/build-logs-url while an image builds and streams
        # `<url>?follow=true` with its own headers; done here through its generated client and then
        # exactly as the SDK fetches it.
        sb = self.state["params"]
        url = self.daytona._sandbox_api.get_build_logs_url(sb.id).url
        expect(isinstance(url, str) and url.startswith(("http://", "https://")), f"build-logs-url {url!r} is not absolute")
        expect("?" not in url, f"build-logs-url {url!r} has a query; the SDK appends '?follow=true' to it")
        headers = dict(self.daytona._sandbox_api.api_client.default_headers)
        headers.setdefault("Authorization", f"Bearer {self.api_key}")
        request = urllib.request.Request(url + "?follow=true", headers=headers)
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
            response.read()  # to its end: a sandbox without a build has a finished log
        expect(status == 200, f"GET {url}?follow=true -> {status}")
        expect(time.monotonic() - started < 20, "the build log of a sandbox without a build did not end")
        expect_raises(lambda: self.daytona._sandbox_api.get_build_logs_url(str(uuid.uuid4())), (ApiException,),
                      "build-logs-url of an unknown sandbox", status=404)

    def config(self) -> None:
        cfg = self.daytona._config_api.config_controller_get_config()
        expect(cfg.default_snapshot == "default", f"config defaultSnapshot {cfg.default_snapshot!r}, expected 'default'")
        want = self.state["params"].toolbox_proxy_url
        expect(cfg.proxy_toolbox_url == want, f"config proxyToolboxUrl {cfg.proxy_toolbox_url!r}, expected {want!r}")
        expect(is_int(cfg.max_auto_archive_interval) and cfg.max_auto_archive_interval > 0,
               f"config maxAutoArchiveInterval {cfg.max_auto_archive_interval!r}")
        expect(cfg.maintanance_mode is False, f"config maintananceMode {cfg.maintanance_mode!r}")
        # No Analytics API: the SDK's get_metrics must use the control plane's own telemetry.
        expect(cfg.analytics_api_url is None, f"config analyticsApiUrl {cfg.analytics_api_url!r}, expected none")
        resolve = getattr(self.daytona, "_get_analytics_api_url", None)  # 0.226.1: how the SDK itself reads /config
        if resolve is not None:
            expect(resolve() is None, "Daytona._get_analytics_api_url() is not None")

    # -- labels, intervals, public, network ------------------------------------------------------

    def set_labels(self) -> None:
        sb = self.state["default"]
        first = {LANGUAGE_LABEL: "python", RUN_LABEL: self.run_id, "stage": "relabelled", "extra": "x"}
        got = sb.set_labels(dict(first))
        expect(got == first, f"set_labels returned {got!r}, expected {first!r}")
        expect(sb.labels == first, f"sandbox.labels {sb.labels!r} after set_labels, expected {first!r}")
        second = {LANGUAGE_LABEL: "python", RUN_LABEL: self.run_id, "stage": "replaced"}
        got = sb.set_labels(dict(second))
        expect(got == second, f"set_labels (replace) returned {got!r}, expected {second!r}")
        fresh = self.daytona.get(sb.id)
        expect(fresh.labels == second, f"get().labels {fresh.labels!r} after set_labels, expected {second!r} "
               "(labels are replaced, not merged)")

    def autostop_interval(self) -> None:
        sb = self.state["default"]
        for value in (45, 0):
            sb.set_autostop_interval(value)
            expect(sb.auto_stop_interval == value, f"local autoStopInterval {sb.auto_stop_interval!r}")
            got = self.daytona.get(sb.id).auto_stop_interval
            expect(got == value, f"get().autoStopInterval {got!r} after set_autostop_interval({value})")

    def auto_archive_interval(self) -> None:
        sb = self.state["default"]
        sb.set_auto_archive_interval(90)
        got = self.daytona.get(sb.id).auto_archive_interval
        expect(got == 90, f"get().autoArchiveInterval {got!r} after set_auto_archive_interval(90)")
        sb.set_auto_archive_interval(0)  # 0 = the maximum interval; the server may store 0 or the maximum
        got = self.daytona.get(sb.id).auto_archive_interval
        expect(is_int(got) and got >= 0, f"get().autoArchiveInterval {got!r} after set_auto_archive_interval(0)")

    def auto_delete_interval(self) -> None:
        sb = self.state["default"]
        for value in (0, -1):  # 0 = delete on stop; end with -1 (disabled) so the stop step keeps it
            sb.set_auto_delete_interval(value)
            got = self.daytona.get(sb.id).auto_delete_interval
            expect(got == value, f"get().autoDeleteInterval {got!r} after set_auto_delete_interval({value})")

    def set_public(self) -> None:
        if not HAS_SET_PUBLIC:
            raise Skip(f"Sandbox.set_public does not exist in daytona {SDK_VERSION}")
        sb = self.state["default"]
        for value in (True, False):
            sb.set_public(value)
            got = self.daytona.get(sb.id).public
            expect(got is value, f"get().public {got!r} after set_public({value})")

    def network_settings(self) -> None:
        if not HAS_NETWORK_SETTINGS:
            raise Skip(f"Sandbox.update_network_settings does not exist in daytona {SDK_VERSION}")
        sb = self.state["default"]
        for value in (True, False):
            sb.update_network_settings(network_block_all=value)
            expect(sb.network_block_all is value, f"networkBlockAll {sb.network_block_all!r} in the response, "
                   f"expected {value}")
            got = self.daytona.get(sb.id).network_block_all
            expect(got is value, f"get().networkBlockAll {got!r} after update_network_settings({value})")
            if value:
                # Enforced at once on the running sandbox: its resolver answers nothing
                # (NXDOMAIN, EAI_NONAME) instead of asking upstream; no packet leaves the host.
                probe = ("python3 -c \"import socket\ntry:\n  socket.getaddrinfo('example.com', 80)\n"
                         "except socket.gaierror as e:\n  print(e.errno)\"")
                answer = sb.process.exec(probe, timeout=30).result.strip()
                expect(answer == str(socket.EAI_NONAME),
                       f"a blocked sandbox resolved example.com with {answer!r}, expected EAI_NONAME")
        err = expect_raises(lambda: sb.update_network_settings(network_allow_list="10.0.0.0/33"), (DaytonaError,),
                            "update_network_settings(network_allow_list='10.0.0.0/33')", status=400)
        expect("Prefix must be between 0 and 32" in str(err), f"message {str(err)!r}")
        sb.update_network_settings(network_allow_list="10.1.2.3/16, 192.0.2.0/24")
        got = self.daytona.get(sb.id)
        expect(got.network_allow_list == "10.1.2.3/16, 192.0.2.0/24" and got.network_block_all is False,
               f"allow list {got.network_allow_list!r} / block {got.network_block_all!r} after setting a list")
        sb.update_network_settings(network_allow_list="")
        expect(self.daytona.get(sb.id).network_allow_list is None, "an empty allow list clears it")

    def linked_sandbox(self) -> None:
        if "linked_sandbox" not in getattr(CreateSandboxFromSnapshotParams, "model_fields", {}):
            raise Skip(f"CreateSandboxFromSnapshotParams has no linked_sandbox in daytona {SDK_VERSION}")
        owner = self.track(self.daytona.create(CreateSandboxFromSnapshotParams(
            name=self.name("owner"), labels=self.labels())))
        follower = self.track(self.daytona.create(CreateSandboxFromSnapshotParams(
            name=self.name("follower"), labels=self.labels(), linked_sandbox=owner.name, ephemeral=True)))
        # The follower resolves its owner by name (the forwarder answers; nothing leaves the host).
        answer = follower.process.exec(f"getent hosts {owner.name}", timeout=30)
        expect(answer.exit_code == 0 and answer.result.strip() != "",
               f"the follower cannot resolve its owner {owner.name!r}: {answer.exit_code} {answer.result!r}")
        owner.delete()
        try:
            gone = self.daytona.get(follower.id)
            expect(state_of(gone.state) == "destroyed", f"the follower is {gone.state!r} after its owner's delete")
        except DaytonaError as e:
            expect(status_of(e) == 404, f"get(follower) after the owner's delete raised {one_line(e)}")

    def refresh_activity(self) -> None:
        sb = self.state["default"]
        before_text = self.daytona.get(sb.id).last_activity_at
        before = parse_time(before_text)
        time.sleep(0.05)  # timestamps have millisecond precision
        sb.refresh_activity()
        fresh = self.daytona.get(sb.id)
        after = parse_time(fresh.last_activity_at)
        expect(after > before, f"lastActivityAt {fresh.last_activity_at!r} after refresh_activity(), was {before_text!r}")
        expect(abs(datetime.now(timezone.utc) - after) < timedelta(minutes=5),
               f"lastActivityAt {fresh.last_activity_at!r} is not now")
        expect(state_of(fresh.state) == "started", f"state {state_of(fresh.state)!r} after refresh_activity()")
        # The list filter on it: the other sandboxes of the run were last active at creation.
        since = before.astimezone(timezone.utc)
        active = sorted(self.run_ids(last_activity_after=since))
        expect(sb.id in active and self.state["snap"].id not in active,
               f"list(last_activity_after={since.isoformat()}) returned {active}; expected {sb.id} and not "
               f"{self.state['snap'].id}")

    # -- lifecycle --------------------------------------------------------------------------------

    def stop(self) -> None:
        sb = self.state["default"]
        auto_delete = self.daytona.get(sb.id).auto_delete_interval
        expect(auto_delete != 0, "autoDeleteInterval is 0 (left by the auto-delete step); stopping would delete "
               "the sandbox instead")
        sb.stop()
        expect(settled(sb, "stopped") == "stopped", f"state {state_of(sb.state)!r} after stop(), expected 'stopped'")
        got = state_of(self.daytona.get(sb.id).state)
        expect(got == "stopped", f"get().state {got!r} after stop(), expected 'stopped'")

    def start(self) -> None:
        sb = self.state["default"]
        sb.start()
        expect(settled(sb, "started") == "started", f"state {state_of(sb.state)!r} after start(), expected 'started'")

    def refresh_data(self) -> None:
        sb = self.state["default"]
        sb.refresh_data()
        check_sandbox_basics(sb, "refresh_data()")
        if self.results.get("set-labels"):
            expect(sb.labels.get("stage") == "replaced", f"labels {sb.labels!r} after refresh_data()")

    def resize_hot(self) -> None:
        sb = self.state["default"]
        cur = self.daytona.get(sb.id)
        want = (cur.cpu + 1, cur.memory + 1, cur.disk)
        sb.resize(Resources(cpu=want[0], memory=want[1]))
        expect((settled(sb, "started"), sb.cpu, sb.memory, sb.disk) == ("started", *want),
               f"after resize(cpu={want[0]}, memory={want[1]}) of a running sandbox: state {state_of(sb.state)!r}, "
               f"cpu/memory/disk {sb.cpu}/{sb.memory}/{sb.disk}, expected started {want}")
        got = self.daytona.get(sb.id)
        expect((got.cpu, got.memory, got.disk) == want, f"get() cpu/memory/disk {got.cpu}/{got.memory}/{got.disk}, "
               f"expected {want}")

    def resize_hot_refusals(self) -> None:
        # A running sandbox may only grow cpu and memory: Daytona answers 400 to a disk change, to a
        # decrease and to an empty request (and the SDK documents these as DaytonaError).
        sb = self.state["default"]
        cur = self.daytona.get(sb.id)
        before = (cur.cpu, cur.memory, cur.disk)
        expect(cur.cpu >= 2 and cur.memory >= 2, f"cpu/memory {before} (resize-hot should have made them >= 2)")
        attempts = {
            "disk on a running sandbox": Resources(disk=cur.disk + 1),
            "cpu decrease while running": Resources(cpu=cur.cpu - 1),
            "memory decrease while running": Resources(memory=cur.memory - 1),
            "no fields": Resources(),
        }
        outcome = {}
        for what, resources in attempts.items():
            try:
                sb.resize(resources, timeout=30)
                got = self.daytona.get(sb.id)
                outcome[what] = f"accepted (now cpu/memory/disk {got.cpu}/{got.memory}/{got.disk})"
            except DaytonaError as e:
                outcome[what] = status_of(e)
        wrong = {what: o for what, o in outcome.items() if o != 400}
        after = self.daytona.get(sb.id)
        expect(not wrong, f"expected 400 for each; got {wrong}")
        expect((after.cpu, after.memory, after.disk) == before and state_of(after.state) == "started",
               f"refused resizes changed the sandbox: {state_of(after.state)} {(after.cpu, after.memory, after.disk)}, "
               f"was started {before}")

    def pause(self) -> None:
        if not HAS_PAUSE:
            raise Skip(f"Sandbox.pause does not exist in daytona {SDK_VERSION}")
        sb = self.state["default"]
        sb.pause()
        expect(settled(sb, "paused") == "paused", f"state {state_of(sb.state)!r} after pause(), expected 'paused'")
        got = state_of(self.daytona.get(sb.id).state)
        expect(got == "paused", f"get().state {got!r} after pause(), expected 'paused'")
        sb.start()  # resumes
        expect(settled(sb, "started") == "started", f"state {state_of(sb.state)!r} after start() of a paused sandbox")
        got = state_of(self.daytona.get(sb.id).state)
        expect(got == "started", f"get().state {got!r} after resuming, expected 'started'")

    def recover_healthy(self) -> None:
        # recover() is for a sandbox in `error`, which no SDK call can produce. On a healthy one Daytona
        # answers 400 ("must be in error state"); Sandbar treats it as a start (no-op when started).
        # Either way the sandbox must stay started and the SDK must return or raise cleanly.
        sb = self.state["default"]
        try:
            sb.recover(timeout=30)
            outcome = "returned"
        except DaytonaError as e:
            expect(status_of(e) == 400, f"recover() of a started sandbox raised {one_line(e)} with status "
                   f"{status_of(e)}; expected 400 or success")
            outcome = "raised 400"
        got = state_of(self.daytona.get(sb.id).state)
        expect(got == "started", f"get().state {got!r} after recover() {outcome}, expected 'started'")

    def stop_force(self) -> None:
        sb = self.state["default"]
        before = len(self.capture.exchanges)
        sb.stop(force=True)
        expect(settled(sb, "stopped") == "stopped", f"state {state_of(sb.state)!r} after stop(force=True)")
        got = state_of(self.daytona.get(sb.id).state)
        expect(got == "stopped", f"get().state {got!r} after stop(force=True), expected 'stopped'")
        sent = [x.url for x in self.capture.exchanges[before:] if x.method == "POST" and x.path == f"/sandbox/{sb.id}/stop"]
        expect(len(sent) == 1 and "force=true" in sent[0], f"stop(force=True) requests: {sent}; expected one with force=true")

    def resize_stopped(self) -> None:
        # Cold resize: disk grows, cpu and memory may also shrink; the sandbox then starts with them.
        sb = self.state["default"]
        cur = self.daytona.get(sb.id)
        expect(state_of(cur.state) == "stopped", f"state {state_of(cur.state)!r}, expected 'stopped'")
        want = (1, 1, cur.disk + 1)
        sb.resize(Resources(cpu=want[0], memory=want[1], disk=want[2]))
        expect((settled(sb, "stopped"), sb.cpu, sb.memory, sb.disk) == ("stopped", *want),
               f"after resize{want} of a stopped sandbox: {state_of(sb.state)} {(sb.cpu, sb.memory, sb.disk)}")
        sb.start()
        got = self.daytona.get(sb.id)
        expect((state_of(got.state), got.cpu, got.memory, got.disk) == ("started", *want),
               f"after start(): {state_of(got.state)} {(got.cpu, got.memory, got.disk)}, expected started {want}")

    def resize_disk_shrink(self) -> None:
        sb = self.state["default"]
        sb.stop()
        cur = self.daytona.get(sb.id)
        expect(cur.disk >= 2, f"disk {cur.disk} (resize-stopped should have grown it)")
        err = expect_raises(lambda: sb.resize(Resources(disk=cur.disk - 1), timeout=30), (DaytonaError,),
                            f"resize(disk={cur.disk - 1}) below {cur.disk}", status=400)
        expect("disk" in str(err).lower(), f"error {str(err)!r} does not say it is about the disk")
        got = self.daytona.get(sb.id)
        expect((state_of(got.state), got.disk) == ("stopped", cur.disk),
               f"after the refused shrink: {state_of(got.state)} disk {got.disk}, expected stopped {cur.disk}")

    def delete(self) -> None:
        sb = self.state["default"]
        sb.delete()
        self.sandboxes.pop(sb.id, None)

        def gone() -> bool:
            try:
                self.daytona.get(sb.id)
            except DaytonaNotFoundError:
                return True
            return False  # still resolves (e.g. 'destroying'); keep polling

        poll(gone, bool, 15, f"get({sb.id}) raising DaytonaNotFoundError after delete()")

    # -- snapshots --------------------------------------------------------------------------------

    def snapshot_list(self) -> None:
        page = self.daytona.snapshot.list()
        by_name = {s.name: s for s in page.items}
        expect("default" in by_name, f"snapshot.list() names {sorted(by_name)} lack 'default'")
        expect(state_of(by_name["default"].state) == "active",
               f"snapshot 'default' state {state_of(by_name['default'].state)!r}, expected 'active'")
        expect(is_int(page.total) and page.total >= len(page.items), f"total {page.total!r} for {len(page.items)} items")

    def snapshot_get(self) -> None:
        snap = self.daytona.snapshot.get("default")
        expect(snap.name == "default", f"snapshot.get('default').name {snap.name!r}")
        expect(state_of(snap.state) == "active", f"snapshot.get('default').state {state_of(snap.state)!r}")

    def snapshot_get_unknown(self) -> None:
        expect_raises(lambda: self.daytona.snapshot.get(f"nope-{self.run_id}"), (DaytonaNotFoundError,),
                      "snapshot.get(<unknown>)", status=404)

    def snapshot_list_pages(self) -> None:
        everything = self.daytona.snapshot.list(limit=200)
        total = everything.total
        expect(is_int(total) and total == len(everything.items) and total >= 1,
               f"snapshot.list(limit=200): total {total!r} for {len(everything.items)} items")
        first = self.daytona.snapshot.list(page=1, limit=1)
        expect((len(first.items), first.total, first.page, first.total_pages) == (1, total, 1, total),
               f"snapshot.list(page=1, limit=1): {len(first.items)} items, total {first.total}, page {first.page}, "
               f"totalPages {first.total_pages}; expected 1, {total}, 1, {total}")
        beyond = self.daytona.snapshot.list(page=total + 1, limit=1)
        expect((beyond.items, beyond.page) == ([], total + 1),
               f"snapshot.list(page={total + 1}, limit=1) gave {[s.name for s in beyond.items]} page {beyond.page}")
        names = [self.daytona.snapshot.list(page=n, limit=1).items[0].name for n in range(1, total + 1)]
        expect(sorted(names) == sorted(s.name for s in everything.items),
               f"pages of one give {names}, the full list {[s.name for s in everything.items]}")

    def snapshot_activate(self) -> None:
        # Every Sandbar snapshot is active. Daytona answers 400 to activating an active snapshot;
        # Sandbar returns it unchanged. Either way it must stay active.
        snap = self.daytona.snapshot.get("default")
        targets: list[Any] = [snap]
        if "str" in str(inspect.signature(self.daytona.snapshot.activate).parameters["snapshot"].annotation):
            targets.append("default")  # 0.226.1 also takes an id or name
        for target in targets:
            shown = "Snapshot" if target is snap else repr(target)
            try:
                got = self.daytona.snapshot.activate(target)
                expect((got.id, got.name, state_of(got.state)) == (snap.id, "default", "active"),
                       f"activate({shown}) returned {got.id}/{got.name}/{state_of(got.state)}")
            except DaytonaError as e:
                expect(status_of(e) == 400, f"activate({shown}) raised {one_line(e)}; expected 400 or the snapshot")
        after = self.daytona.snapshot.get("default")
        expect(state_of(after.state) == "active", f"snapshot 'default' is {state_of(after.state)!r} after activate")

    def snapshot_create_from_image(self) -> None:
        # Sandbar cannot pull or build images yet: creating a snapshot from one is a clear 4xx naming it.
        name = f"sdk-py-{self.run_id}-image-snap"
        err = expect_raises(lambda: self.daytona.snapshot.create(CreateSnapshotParams(name=name, image=IMAGE_REF)),
                            (DaytonaError, ApiException), f"snapshot.create(image={IMAGE_REF!r})")
        status = status_of(err)
        expect(status is not None and 400 <= status < 500,
               f"snapshot.create raised {one_line(err)} with status {status}, expected a 4xx")
        expect(IMAGE_REF in str(err), f"error message {str(err)!r} does not name the image {IMAGE_REF!r}")
        expect_raises(lambda: self.daytona.snapshot.get(name), (DaytonaNotFoundError,),
                      f"snapshot.get({name!r}) after the refused create", status=404)

    # -- volumes ----------------------------------------------------------------------------------

    def volume_create(self) -> None:
        name = f"vol-x-{self.run_id}"
        vol = self.daytona.volume.get(name, create=True)
        expect(vol.name == name, f"volume.get(create=True).name {vol.name!r}, expected {name!r}")
        vol = poll(lambda: self.daytona.volume.get(name), lambda v: state_of(v.state) in ("ready", "error"),
                   60, f"volume {name} ready")
        expect(state_of(vol.state) == "ready", f"volume state {state_of(vol.state)!r}, expected 'ready'")
        self.state["volume"] = vol

    def volume_create_explicit(self) -> None:
        name = f"vol-y-{self.run_id}"
        vol = self.daytona.volume.create(name)
        expect(vol.name == name and isinstance(vol.id, str) and vol.id, f"volume.create() returned {vol!r}")
        vol = poll(lambda: self.daytona.volume.get(name), lambda v: state_of(v.state) in ("ready", "error"),
                   60, f"volume {name} ready")
        expect(state_of(vol.state) == "ready", f"volume state {state_of(vol.state)!r}, expected 'ready'")
        listed = [v.name for v in self.daytona.volume.list() if v.id == vol.id]
        expect(listed == [name], f"volume.list() has {listed} for {vol.id}, expected [{name!r}]")
        self.daytona.volume.delete(vol)

        def gone() -> bool:
            try:
                v = self.daytona.volume.get(name)
            except Exception as e:
                return status_of(e) == 404
            return state_of(v.state) in VOLUME_GONE_STATES

        poll(gone, bool, 30, f"volume {name} deleted")

    def volume_list(self) -> None:
        vol = self.state["volume"]
        found = [v for v in self.daytona.volume.list() if v.id == vol.id]
        expect(len(found) == 1 and found[0].name == vol.name,
               f"volume.list() does not contain {vol.name} ({vol.id}) exactly once")

    def create_with_volume(self) -> None:
        vol = self.state["volume"]
        params = CreateSandboxFromSnapshotParams(
            name=self.name("vol"), labels=self.labels(case="volume"),
            volumes=[VolumeMount(volume_id=vol.id, mount_path="/home/daytona/vol")])
        sb = self.track(self.daytona.create(params))
        self.state["vol-sandbox"] = sb
        check_sandbox_basics(sb, "create(volumes=...)")
        mounts = self.daytona.get(sb.id).volumes or []
        expect(any(m.mount_path == "/home/daytona/vol" and m.volume_id in (vol.id, vol.name) for m in mounts),
               f"get().volumes {mounts!r} lack {vol.id} at /home/daytona/vol")

    def volume_delete_in_use(self) -> None:
        vol = self.state["volume"]
        # 0.190.0 VolumeService has no error interception: a raw generated ApiException (status 409)
        # escapes. 0.226.1 raises DaytonaConflictError. Both carry the status.
        expect_raises(lambda: self.daytona.volume.delete(vol), (DaytonaError, ApiException),
                      "volume.delete(<in use>)", status=409)

    def volume_delete(self) -> None:
        sb = self.state["vol-sandbox"]
        delete_sandbox(sb)
        self.sandboxes.pop(sb.id, None)
        vol = self.state["volume"]
        self.daytona.volume.delete(vol)

        def gone() -> bool:
            try:
                v = self.daytona.volume.get(vol.name)
            except Exception as e:
                return status_of(e) == 404
            return state_of(v.state) in VOLUME_GONE_STATES

        poll(gone, bool, 30, f"volume {vol.name} deleted")

    # -- bad input --------------------------------------------------------------------------------

    def get_unknown(self) -> None:
        expect_raises(lambda: self.daytona.get(str(uuid.uuid4())), (DaytonaNotFoundError,),
                      "get(<unknown id>)", status=404)

    def resources_with_snapshot(self) -> None:
        fields = getattr(CreateSandboxFromSnapshotParams, "model_fields", {})
        if "resources" not in fields:
            raise Skip("the SDK cannot express it: CreateSandboxFromSnapshotParams has no `resources`, and "
                       "CreateSandboxFromImageParams sends buildInfo instead of `snapshot` (daytona-wire.md §3.2)")
        raise AssertionError("CreateSandboxFromSnapshotParams gained `resources`; write this check")

    def wrong_api_key(self) -> None:
        bad = Daytona(DaytonaConfig(api_key=f"sandbar-suite-wrong-key-{self.run_id}", api_url=self.api_url))
        expect_raises(lambda: bad.get(str(uuid.uuid4())), (DaytonaAuthenticationError,),
                      "get() with a wrong API key", status=401)
        expect_raises(lambda: list(bad.list()), (DaytonaAuthenticationError,),
                      "list() with a wrong API key", status=401)

    # -- cleanup ----------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Deletes every sandbox and volume of this run: through the SDK, and over plain HTTP when
        the SDK cannot (e.g. the server's DTO fails the SDK's validation)."""
        problems = []
        ids = set(self.sandboxes) | self.capture.created["/sandbox"]
        try:
            # Checked client-side as well: never delete a sandbox of another run, even if the
            # server ignores the label filter.
            ids |= {s.id for s in self.daytona.list(ListSandboxesQuery(labels=self.labels()))
                    if (s.labels or {}).get(RUN_LABEL) == self.run_id}
        except Exception as e:
            print(f"note cleanup: list by run label failed ({one_line(e)}); using the captured ids", flush=True)
        for sid in sorted(ids):
            try:
                delete_sandbox(self.daytona.get(sid))
            except DaytonaNotFoundError:
                pass
            except Exception as e:
                status = self.raw_delete(f"/sandbox/{sid}")
                print(f"note cleanup: SDK could not delete sandbox {sid} ({one_line(e)}); "
                      f"plain DELETE -> {status}", flush=True)
                if status not in (200, 204, 404):
                    problems.append(f"sandbox {sid}: DELETE -> {status}")
        for vid in sorted(self.capture.created["/volumes"]):
            status, body = self.raw_request("GET", f"/volumes/{vid}")
            if status == 404 or (isinstance(body, dict) and body.get("state") in VOLUME_GONE_STATES):
                continue
            name = body.get("name") if isinstance(body, dict) else None
            if isinstance(name, str):
                try:
                    delete_volume_with_retry(self.daytona, name)
                    continue
                except Exception as e:
                    print(f"note cleanup: SDK could not delete volume {name} ({one_line(e)})", flush=True)
            status, _ = self.raw_request("DELETE", f"/volumes/{vid}", retry_conflict=30)
            print(f"note cleanup: plain DELETE /volumes/{vid} -> {status}", flush=True)
            if status not in (200, 204, 404):
                problems.append(f"volume {vid}: DELETE -> {status}")
        expect(not problems, "left behind: " + "; ".join(problems))

    def raw_delete(self, path: str) -> int | str:
        return self.raw_request("DELETE", path)[0]

    def raw_request(self, method: str, path: str, retry_conflict: float = 0) -> tuple[int | str, Any]:
        """{method} {api}{path} with the API key, outside the SDK (cleanup only): (status, JSON body)."""
        deadline = time.monotonic() + retry_conflict
        while True:
            req = urllib.request.Request(self.api_url + path, method=method,
                                         headers={"Authorization": f"Bearer {self.api_key}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    raw = resp.read()
                    try:
                        return resp.status, json.loads(raw) if raw.strip() else None
                    except ValueError:
                        return resp.status, None
            except urllib.error.HTTPError as e:
                if e.code != 409 or time.monotonic() > deadline:
                    return e.code, None
            except OSError as e:
                return f"transport error {e}", None
            time.sleep(1)


def delete_sandbox(sb: Any) -> None:
    """Deletes and, where the SDK version can, waits for 'destroyed' (so volumes are released)."""
    if DELETE_CAN_WAIT:
        sb.delete(wait=True)
    else:
        sb.delete()


def delete_volume_with_retry(client: Daytona, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            vol = client.volume.get(name)
        except Exception as e:
            if status_of(e) == 404:
                return
            raise
        if state_of(vol.state) in VOLUME_GONE_STATES:
            return
        try:
            client.volume.delete(vol)
            return
        except Exception as e:
            if status_of(e) != 409 or time.monotonic() > deadline:
                raise
        time.sleep(1)


def group_violations(checker: spec_check.SpecChecker) -> list[str]:
    """One line per distinct (method, path template, status, problem), with count and steps."""
    return spec_check.group_violations(checker)


def main() -> int:
    api_url = os.environ.get("DAYTONA_API_URL", "")
    api_key = os.environ.get("DAYTONA_API_KEY", "")
    if not api_url or not api_key:
        print("control_plane.py: set DAYTONA_API_URL (e.g. http://127.0.0.1:3000/api) and DAYTONA_API_KEY",
              file=sys.stderr)
        return 2
    if api_url.endswith("/"):
        print(f"control_plane.py: DAYTONA_API_URL {api_url!r} must not end with '/' (the SDK appends paths "
              "verbatim)", file=sys.stderr)
        return 2

    checker = spec_check.SpecChecker()
    capture = Capture(api_url, checker)
    capture.install()
    client = Daytona(DaytonaConfig(api_key=api_key, api_url=api_url))
    suite = Suite(api_url, api_key, capture, client)
    print(f"daytona {SDK_VERSION} against {api_url}, run {suite.run_id}, spec {checker.spec_path}", flush=True)

    s = suite.step
    try:
        s("create-default", suite.create_default)
        s("create-with-params", suite.create_with_params)
        s("create-from-snapshot", suite.create_from_snapshot)
        s("create-unknown-snapshot", suite.create_unknown_snapshot)
        s("create-from-image", suite.create_from_image)
        s("get-by-id", suite.get_by_id, needs=("create-with-params",))
        s("get-by-name", suite.get_by_name, needs=("create-with-params",))
        s("list-by-labels", suite.list_by_labels, needs=("create-with-params", "create-from-snapshot"))
        s("list-pages", suite.list_pages, needs=("create-with-params", "create-from-snapshot"))
        both = ("create-with-params", "create-from-snapshot")
        s("list-filters", suite.list_filters, needs=both)
        s("list-sorted", suite.list_sorted, needs=both)
        s("list-by-created-at", suite.list_by_created_at, needs=both)
        s("list-by-created-at-offset", suite.list_by_created_at_offset, needs=both)
        s("list-prefix-case-insensitive", suite.list_prefix_case_insensitive, needs=both)
        s("list-paginated-deprecated", suite.list_paginated_deprecated, needs=both)
        s("toolbox-proxy-url", suite.toolbox_proxy_url, needs=("create-with-params",))
        s("build-logs-url", suite.build_logs_url, needs=("create-with-params",))
        s("config", suite.config, needs=("create-with-params",))
        s("set-labels", suite.set_labels, needs=("create-default",))
        s("autostop-interval", suite.autostop_interval, needs=("create-default",))
        s("auto-archive-interval", suite.auto_archive_interval, needs=("create-default",))
        s("auto-delete-interval", suite.auto_delete_interval, needs=("create-default",))
        s("set-public", suite.set_public, needs=("create-default",))
        s("network-settings", suite.network_settings, needs=("create-default",))
        s("linked-sandbox", suite.linked_sandbox)
        s("refresh-activity", suite.refresh_activity, needs=("create-default", "set-labels", "create-from-snapshot"))
        s("stop", suite.stop, needs=("create-default",))
        s("start", suite.start, needs=("stop",))
        s("refresh-data", suite.refresh_data, needs=("start",))
        s("resize-hot", suite.resize_hot, needs=("start",))
        s("resize-hot-refusals", suite.resize_hot_refusals, needs=("resize-hot",))
        s("pause", suite.pause, needs=("start",))
        s("recover-healthy", suite.recover_healthy, needs=("start",))
        s("stop-force", suite.stop_force, needs=("start",))
        s("resize-stopped", suite.resize_stopped, needs=("stop-force",))
        s("resize-disk-shrink-refused", suite.resize_disk_shrink, needs=("resize-stopped",))
        s("delete", suite.delete, needs=("create-default",))
        s("snapshot-list", suite.snapshot_list)
        s("snapshot-list-pages", suite.snapshot_list_pages)
        s("snapshot-get", suite.snapshot_get)
        s("snapshot-get-unknown", suite.snapshot_get_unknown)
        s("snapshot-activate", suite.snapshot_activate)
        s("snapshot-create-from-image", suite.snapshot_create_from_image)
        s("volume-create", suite.volume_create)
        s("volume-create-explicit", suite.volume_create_explicit)
        s("volume-list", suite.volume_list, needs=("volume-create",))
        s("create-with-volume", suite.create_with_volume, needs=("volume-create",))
        s("volume-delete-in-use", suite.volume_delete_in_use, needs=("create-with-volume",))
        s("volume-delete", suite.volume_delete, needs=("create-with-volume",))
        s("get-unknown", suite.get_unknown)
        s("resources-with-snapshot", suite.resources_with_snapshot)
        s("wrong-api-key", suite.wrong_api_key)
    finally:
        s("cleanup", suite.cleanup)

    if not capture.exchanges:
        suite._fail("capture-hook", "no control-plane response was captured; the hook is not in the SDK's path")
    violations = checker.violations
    print(f"{len(violations)} spec violations in {len(capture.exchanges)} control-plane responses", flush=True)
    for line in group_violations(checker):
        print(line, flush=True)
    if suite.skipped:
        print(f"{suite.skipped} skipped", flush=True)
    print(f"{suite.passed} passed, {suite.failed} failed", flush=True)
    return 1 if suite.failed or violations else 0


if __name__ == "__main__":
    sys.exit(main())
