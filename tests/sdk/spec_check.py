"""Checks observed HTTP exchanges against Daytona's published specs: the control-plane OpenAPI 3 spec
(`daytona-openapi.yaml`) and the toolbox daemon's Swagger 2.0 spec (`toolbox-swagger.yaml`).

The SDK conformance suite records every response the official SDK receives and feeds it to
`SpecChecker.check`: control-plane responses (from `/api/...`) against the control-plane spec, and
toolbox responses (from `{toolboxProxyUrl}/{sandboxId}/<daemon path>`; the checked path is the daemon
path, e.g. `/files/info`) against the toolbox spec. A `SpecChecker` loads either format: OpenAPI 3
(`components/schemas`, `#/components/schemas/...` refs, responses under `content`) or Swagger 2.0
(`definitions`, `#/definitions/...` refs, `schema` on the response, media types in `produces`).
A violation is recorded (never raised) when:

* the path does not match a path template of the spec, or the method has no operation there;
* a non-4xx status is not one the spec declares for that operation (the generated clients pick
  the response model by exact status code, so 201 where 200 is declared breaks them);
* a JSON response with a schema lacks a required key, has null in a required non-nullable key,
  or has a value of the wrong JSON type (integers must be JSON integers, not floats or booleans);
  arrays of objects are checked item by item, one level deep;
* a JSON body comes with a non-JSON content type (when the caller passes the content type);
* a 4xx response has no JSON body with a string `message` (the SDK builds its error text from it).

Only the status is checked for WebSocket upgrades (101), for responses whose declared media types
are not JSON (multipart downloads, `application/octet-stream`, a `type: file` schema) and for
exchanges whose body the recorder could not capture (a stream the SDK consumes itself).

Overlays. The published specs are looser or stricter than what the pinned SDKs (Python 0.190.0 and
0.226.1, TypeScript 0.218.0) enforce; where they differ the SDK wins, through these rules:

Control plane (`OVERLAY`, `API_PATH_OVERLAY`):
* The spec types resource counts as `number` and does not list `kvm` (required by SDK 0.226.1) or
  `networkBlockAll` on list items. `OVERLAY` adds those SDK-enforced rules (daytona-wire.md G2/G3,
  §3.1, §3.10) on top of the spec.
* `GET /sandbox/{sandboxId}/signing-key` and `POST /sandbox/{sandboxId}/signing-key/rotate` are
  called by SDK 0.226.1 (`download_url`, `upload_url`, `rotate_signing_key`) but absent from the
  spec. Its generated client declares `200: str`, which it reads from a JSON string or from a
  `text/plain` body, so both are accepted.

Toolbox (`TOOLBOX_PATH_OVERLAY`, `TOOLBOX_DEFINITIONS`, `TOOLBOX_WEBSOCKET_OPS`,
`TOOLBOX_JSON_ONLY_OPS`, `TOOLBOX_SDK_5XX`). The published toolbox spec predates SDK 0.226.1:
* Operations SDK 0.226.1 (and TS 0.218.0) call but the spec lacks, with the status and model of the
  0.226.1 generated client (`daytona_toolbox_api_client`, `_response_types_map`): `POST /env` (200,
  object of strings), `GET /system/metrics` (200 `SystemMetrics`), `POST /files/upload-v2` (200
  `UploadedFile`), `GET /git/config` (200 `GitConfigResponse`), `POST /git/config`,
  `POST /git/config/user`, `POST /git/credentials`, `POST /git/reset`, `POST /git/restore` (200, no
  body), `POST /git/init` and `POST /git/remotes` (201, no body), `GET /git/remotes` (200
  `ListRemotesResponse`). The five models are defined as in 0.226.1 (required keys = its non-Optional
  fields, `StrictInt` = integer). Spec definitions are never replaced.
* `GET /process/pty/create-connect?<size, cwd, ...>` is the WebSocket with which SDK 0.226.1
  (`create_pty_session`) and TS 0.218.0 (`createPty`) create and attach a PTY in one round trip;
  the SDKs build its URL themselves from the connect template, and neither the spec nor a generated
  client lists it (it would otherwise match `GET /process/pty/{sessionId}`, which declares 200).
  Only 101 is declared for it.
* `GET /process/session/{sessionId}/command/{commandId}/logs` and
  `GET /process/session/entrypoint/logs` declare only 200, but their description says "Supports
  WebSocket streaming" and both SDKs open them as WebSockets with `follow=true`: 101 is accepted.
* The same two operations list `text/plain` beside JSON "for old SDKs"; the pinned SDKs need JSON
  (Python 0.226.1/0.190.0 build `SessionCommandLogsResponse` from the body and fail on a string), so
  only JSON is accepted there.
* SDK 0.226.1 declares `500: ErrorResponse` on most operations whose published entry lists only the
  success status; for those operations 500 counts as declared (`TOOLBOX_SDK_5XX`). 4xx statuses are
  not checked against declarations anyway (only for a JSON `message`).
The toolbox definitions themselves agree with both Python SDKs' models on required keys and integer
types (0.190.0 requires `FileInfo.modifiedAt` as the spec does), so no schema rule is added there.

Needs only PyYAML. Run this file directly for a self-test on hand-made exchanges.
`spec_check.py --check-file <exchanges.json> [--spec <yaml>] [--toolbox-spec <yaml>]` checks
exchanges recorded by another process (ts/control_plane.mjs, ts/toolbox.mjs): see `check_file` for
the file format. `check_exchanges` does the same for exchanges recorded in this process
(toolbox_capture.py).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import yaml

SPEC_ENV = "SANDBAR_DAYTONA_SPEC"
TOOLBOX_SPEC_ENV = "SANDBAR_TOOLBOX_SPEC"

# Rules the official SDKs enforce beyond the published spec. Keys are component schema names.
#   required: keys that must be present and non-null
#   integer:  keys whose value (when present and non-null) must be a JSON integer
#   string_map: keys whose value must be an object of string values (pydantic Dict[str, StrictStr])
OVERLAY: dict[str, dict[str, list[str]]] = {
    "Sandbox": {
        "required": ["kvm"],  # 0.226.1 StrictBool, no default
        "integer": [
            "cpu", "gpu", "memory", "disk",  # 0.226.1 StrictInt
            "autoStopInterval", "autoArchiveInterval", "autoDeleteInterval", "autoPauseInterval",
            "queueTimeout",
        ],
        "string_map": ["env", "labels"],
    },
    "SandboxListItem": {
        "required": ["networkBlockAll"],  # 0.226.1
        "integer": [
            "cpu", "gpu", "memory", "disk",
            "autoStopInterval", "autoArchiveInterval", "autoDeleteInterval", "autoPauseInterval",
            "queueTimeout",
        ],
        "string_map": ["labels"],
    },
    "PaginatedSnapshots": {"integer": ["total", "page", "totalPages"]},  # 0.226.1 StrictInt
    "SnapshotDto": {"integer": ["cpu", "gpu", "mem", "disk"]},
    "SandboxLabels": {"string_map": ["labels"]},
}

# Control-plane operations SDK 0.226.1 calls that the spec lacks (OpenAPI 3 form; see the docstring).
_SIGNING_KEY_RESPONSE = {
    "description": "the sandbox's URL signing key (SDK 0.226.1: 200 -> str)",
    "content": {
        "application/json": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}
API_PATH_OVERLAY: dict[str, dict[str, Any]] = {
    "/sandbox/{sandboxId}/signing-key": {"get": {"responses": {"200": _SIGNING_KEY_RESPONSE}}},
    "/sandbox/{sandboxId}/signing-key/rotate": {"post": {"responses": {"200": _SIGNING_KEY_RESPONSE}}},
}


def _sw_op(status: str, schema: dict[str, Any] | None = None, errors: Iterable[str] = ()) -> dict[str, Any]:
    """A Swagger 2.0 operation as SDK 0.226.1's generated toolbox client declares it."""
    ok: dict[str, Any] = {"description": "as declared by SDK 0.226.1"}
    if schema is not None:
        ok["schema"] = schema
    op: dict[str, Any] = {"responses": {status: ok}}
    for e in errors:
        op["responses"][e] = {"description": "ErrorResponse (SDK 0.226.1)"}
    if schema is not None:
        op["produces"] = ["application/json"]
    return op


def _def(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


# Toolbox operations SDK 0.226.1 calls that the published toolbox spec lacks (see the docstring).
TOOLBOX_PATH_OVERLAY: dict[str, dict[str, Any]] = {
    "/env": {"post": _sw_op("200", {"type": "object", "additionalProperties": {"type": "string"}},
                            ("400", "500"))},
    "/system/metrics": {"get": _sw_op("200", _def("SystemMetrics"))},
    "/files/upload-v2": {"post": _sw_op("200", _def("UploadedFile"), ("400",))},
    "/git/config": {"get": _sw_op("200", _def("GitConfigResponse")), "post": _sw_op("200")},
    "/git/config/user": {"post": _sw_op("200")},
    "/git/credentials": {"post": _sw_op("200")},
    "/git/init": {"post": _sw_op("201")},
    "/git/remotes": {"get": _sw_op("200", _def("ListRemotesResponse")), "post": _sw_op("201")},
    "/git/reset": {"post": _sw_op("200")},
    "/git/restore": {"post": _sw_op("200")},
    # Built by the SDKs themselves, in no generated client: a WebSocket that creates and connects a PTY.
    "/process/pty/create-connect": {"get": {"responses": {"101": {"description": "WebSocket"}}}},
}

_INT = {"type": "integer"}
_STR = {"type": "string"}
# Models of the operations above, as SDK 0.226.1 defines them (daytona_toolbox_api_client.models).
TOOLBOX_DEFINITIONS: dict[str, dict[str, Any]] = {
    "SystemMetrics": {"type": "object", "properties": {
        "cpuCount": _INT, "cpuUsedPct": {"type": "number"}, "diskFree": _INT, "diskTotal": _INT,
        "diskUsed": _INT, "memCache": _INT, "memTotal": _INT, "memUsed": _INT, "timestamp": _STR,
        "timestampUnix": _INT}},
    "UploadedFile": {"type": "object", "required": ["name", "path", "type"],
                     "properties": {"name": _STR, "path": _STR, "type": _STR}},
    "GitConfigResponse": {"type": "object", "properties": {"value": _STR}},
    "GitRemote": {"type": "object", "required": ["name", "url"], "properties": {"name": _STR, "url": _STR}},
    "ListRemotesResponse": {"type": "object", "required": ["remotes"], "properties": {
        "remotes": {"type": "array", "items": _def("GitRemote")}}},
}

# Operations both SDKs open as WebSockets (follow=true) although the spec declares only 200.
TOOLBOX_WEBSOCKET_OPS: dict[str, str] = {
    "/process/session/{sessionId}/command/{commandId}/logs": "get",
    "/process/session/entrypoint/logs": "get",
}
# Operations whose `text/plain` alternative is only for SDKs older than the pinned ones.
TOOLBOX_JSON_ONLY_OPS: dict[str, str] = dict(TOOLBOX_WEBSOCKET_OPS)

# Operations for which SDK 0.226.1's generated client declares 500 (ErrorResponse) and the spec does not.
TOOLBOX_SDK_5XX: dict[str, list[str]] = {
    "/files/bulk-download": ["post"],
    "/git/add": ["post"],
    "/git/branches": ["get", "post", "delete"],
    "/git/checkout": ["post"],
    "/git/clone": ["post"],
    "/git/commit": ["post"],
    "/git/history": ["get"],
    "/git/pull": ["post"],
    "/git/push": ["post"],
    "/git/status": ["get"],
    "/process/code-run": ["post"],
    "/process/interpreter/context": ["get"],
    "/process/interpreter/context/{id}": ["delete"],
    "/process/pty": ["get", "post"],
    "/process/pty/{sessionId}/resize": ["post"],
    "/process/session": ["get", "post"],
    "/process/session/entrypoint": ["get"],
    "/process/session/entrypoint/logs": ["get"],
    "/process/session/{sessionId}": ["get", "delete"],
    "/process/session/{sessionId}/command/{commandId}": ["get"],
    "/process/session/{sessionId}/command/{commandId}/input": ["post"],
    "/process/session/{sessionId}/command/{commandId}/logs": ["get"],
    "/process/session/{sessionId}/exec": ["post"],
}

_JSON_TYPES = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class InvalidJson:
    """Stands in for a response body that is not valid JSON (keeps the raw text for messages)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"InvalidJson({self.text[:80]!r})"


@dataclass
class Violation:
    method: str
    path: str
    status: int
    problem: str
    context: str = ""

    def __str__(self) -> str:
        where = f"[{self.context}] " if self.context else ""
        return f"{where}{self.method} {self.path} -> {self.status}: {self.problem}"


@dataclass
class _Template:
    template: str
    regex: re.Pattern[str]
    literal_segments: int
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)


def _spec_dir() -> Path:
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "spec"


def default_spec_path() -> Path:
    """The spec beside the repository: <repo>/../shared/spec/daytona-openapi.yaml, or $SANDBAR_DAYTONA_SPEC."""
    env = os.environ.get(SPEC_ENV)
    if env:
        return Path(env)
    return _spec_dir() / "daytona-openapi.yaml"


def default_toolbox_spec_path() -> Path:
    """<repo>/../shared/spec/toolbox-swagger.yaml, or $SANDBAR_TOOLBOX_SPEC."""
    env = os.environ.get(TOOLBOX_SPEC_ENV)
    if env:
        return Path(env)
    return _spec_dir() / "toolbox-swagger.yaml"


def api_relative_path(url: str, api_base: str) -> str | None:
    """Path of `url` relative to the API base (e.g. http://h:3000/api), without the query.

    Returns None when the URL is not under the base path.
    """
    path = urlsplit(url).path or "/"
    base = urlsplit(api_base).path.rstrip("/")
    if not base:
        return path
    if path == base:
        return "/"
    if path.startswith(base + "/"):
        return path[len(base):]
    return None


def _http_url(url: str) -> str:
    """ws:// and wss:// URLs (WebSocket upgrades) compared as the http(s) URLs they upgrade."""
    lower = url[:6].lower()
    if lower.startswith("wss://"):
        return "https://" + url[6:]
    if lower.startswith("ws://"):
        return "http://" + url[5:]
    return url


def toolbox_relative_path(url: str, toolbox_base: str) -> tuple[str, str] | None:
    """(sandbox id, daemon path) of `url` under `{toolboxProxyUrl}/{sandboxId}`, without the query.

    E.g. http://h/toolbox/7c0d.../files/info?path=a under http://h/toolbox -> ("7c0d...", "/files/info").
    Returns None when the URL is not under the base (scheme, host and path prefix) or names no sandbox.
    """
    u = urlsplit(_http_url(url))
    b = urlsplit(_http_url(toolbox_base))
    if (u.scheme.lower(), u.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        return None
    base = b.path.rstrip("/")
    path = u.path or "/"
    if base and not path.startswith(base + "/"):
        return None
    rest = path[len(base):].lstrip("/")
    sandbox, _, daemon = rest.partition("/")
    if not sandbox:
        return None
    return sandbox, "/" + daemon


def _merge_paths(paths: dict[str, Any], overlay: dict[str, dict[str, Any]]) -> None:
    """Adds overlay operations and response codes the spec lacks; never replaces what it has."""
    for template, ops in overlay.items():
        item = paths.setdefault(template, {})
        for method, op in ops.items():
            if method not in item:
                item[method] = copy.deepcopy(op)
                continue
            have = item[method].setdefault("responses", {})
            for code, resp in op.get("responses", {}).items():
                if code not in have and int(code) not in have:
                    have[code] = copy.deepcopy(resp)


class SpecChecker:
    """Loads the spec once; `check` validates one exchange and appends to `violations`.

    `kind` is "daytona" (control plane) or "toolbox"; by default a Swagger 2.0 document is the
    toolbox spec and anything else the control-plane spec. It picks the overlays (module docstring).
    """

    def __init__(self, spec_path: str | os.PathLike[str] | None = None,
                 overlay: dict[str, dict[str, list[str]]] | None = None, kind: str | None = None):
        path = Path(spec_path) if spec_path else default_spec_path()
        with open(path, encoding="utf-8") as f:
            self.spec: dict[str, Any] = yaml.safe_load(f)
        self.spec_path = path
        self.swagger2 = str(self.spec.get("swagger", "")).startswith("2")
        self.kind = kind or ("toolbox" if self.swagger2 else "daytona")
        self.label = "toolbox " if self.kind == "toolbox" else ""
        if self.swagger2:
            self.schemas: dict[str, Any] = dict(self.spec.get("definitions", {}) or {})
            self._ref_prefix = "#/definitions/"
        else:
            self.schemas = dict(self.spec.get("components", {}).get("schemas", {}) or {})
            self._ref_prefix = "#/components/schemas/"
        paths = copy.deepcopy(self.spec.get("paths", {}) or {})
        if self.kind == "toolbox":
            for name, schema in TOOLBOX_DEFINITIONS.items():
                self.schemas.setdefault(name, schema)
            _merge_paths(paths, TOOLBOX_PATH_OVERLAY)
            _merge_paths(paths, {t: {m: {"responses": {"101": {"description": "WebSocket (follow=true)"}}}}
                                 for t, m in TOOLBOX_WEBSOCKET_OPS.items()})
            _merge_paths(paths, {t: {m: {"responses": {"500": {"description": "ErrorResponse (SDK 0.226.1)"}}}
                                     for m in ms} for t, ms in TOOLBOX_SDK_5XX.items()})
            for t, m in TOOLBOX_JSON_ONLY_OPS.items():
                op = paths.get(t, {}).get(m)
                if op is not None:
                    op["produces"] = ["application/json"]
            default_overlay: dict[str, dict[str, list[str]]] = {}
        else:
            _merge_paths(paths, API_PATH_OVERLAY)
            default_overlay = OVERLAY
        self.overlay = default_overlay if overlay is None else overlay
        self.violations: list[Violation] = []
        self.checked = 0
        self._templates = self._compile_paths(paths)

    # ---- paths -------------------------------------------------------------------------------

    @staticmethod
    def _compile_paths(paths: dict[str, Any]) -> list[_Template]:
        out = []
        for template, item in paths.items():
            segments = template.strip("/").split("/") if template.strip("/") else []
            parts = []
            literal = 0
            for seg in segments:
                if re.fullmatch(r"\{[^/{}]+\}", seg):
                    parts.append("[^/]+")
                else:
                    literal += 1
                    parts.append(re.escape(seg))
            regex = re.compile("^/" + "/".join(parts) + "/?$") if parts else re.compile("^/?$")
            ops = {m.upper(): op for m, op in (item or {}).items() if m.lower() in _METHODS}
            out.append(_Template(template, regex, literal, ops))
        # Most literal segments first, so /sandbox/paginated wins over /sandbox/{sandboxIdOrName}.
        out.sort(key=lambda t: (-t.literal_segments, t.template))
        return out

    def match(self, method: str, path: str) -> tuple[str | None, dict[str, Any] | None]:
        """(template, operation) for a request; operation is None if no template has the method."""
        method = method.upper()
        first = None
        for t in self._templates:
            if t.regex.match(path):
                if method in t.operations:
                    return t.template, t.operations[method]
                first = first or t.template
        return first, None

    # ---- schemas -----------------------------------------------------------------------------

    def _ref_name(self, schema: dict[str, Any]) -> str | None:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(self._ref_prefix):
            return ref[len(self._ref_prefix):]
        return None

    def resolve(self, schema: Any) -> tuple[dict[str, Any], str | None]:
        """Follows $ref and merges allOf; returns (schema, component name or None)."""
        name = None
        seen = 0
        while isinstance(schema, dict) and seen < 20:
            seen += 1
            ref = self._ref_name(schema)
            if ref is not None:
                name = ref
                schema = self.schemas.get(ref, {})
                continue
            if "allOf" in schema:
                merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
                props: dict[str, Any] = {}
                required: list[str] = []
                for part in schema["allOf"]:
                    sub, sub_name = self.resolve(part)
                    name = name or sub_name
                    for k, v in sub.items():
                        if k == "properties":
                            props.update(v)
                        elif k == "required":
                            required.extend(v)
                        else:
                            merged.setdefault(k, v)
                if props:
                    merged["properties"] = {**props, **merged.get("properties", {})}
                if required:
                    merged["required"] = sorted(set(required) | set(merged.get("required", [])))
                return merged, name
            break
        return (schema if isinstance(schema, dict) else {}), name

    @staticmethod
    def _types(schema: dict[str, Any]) -> tuple[set[str], bool]:
        """(declared JSON types, nullable) for OpenAPI 3.0 (`nullable`), 3.1 (type lists) and
        Swagger 2.0 (`x-nullable`)."""
        t = schema.get("type")
        nullable = bool(schema.get("nullable")) or bool(schema.get("x-nullable"))
        if isinstance(t, list):
            types = {x for x in t if x != "null"}
            nullable = nullable or "null" in t
        elif isinstance(t, str):
            types = {t}
        else:
            types = set()
        return types, nullable

    @staticmethod
    def _type_ok(value: Any, types: set[str]) -> bool:
        if not types:
            return True
        for t in types:
            if t == "integer" and isinstance(value, int) and not isinstance(value, bool):
                return True
            if t == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
            if t in _JSON_TYPES and isinstance(value, _JSON_TYPES[t]):
                return True
        return False

    @staticmethod
    def _describe(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return f"boolean {value!r}"
        if isinstance(value, float):
            return f"float {value!r}"
        if isinstance(value, int):
            return f"integer {value!r}"
        if isinstance(value, str):
            return f"string {value[:40]!r}"
        return type(value).__name__

    def _check_value(self, schema: Any, value: Any, where: str, depth: int, out: list[str]) -> None:
        schema, name = self.resolve(schema)
        types, _ = self._types(schema)
        if not self._type_ok(value, types):
            out.append(f"{where}: expected {'/'.join(sorted(types))}, got {self._describe(value)}")
            return
        if isinstance(value, list):
            items = schema.get("items")
            if items is not None and depth <= 1:
                for i, item in enumerate(value):
                    self._check_value(items, item, f"{where}[{i}]", depth + 1, out)
            return
        if not isinstance(value, dict) or ("properties" not in schema and name not in self.overlay):
            return
        label = name or "object"
        over = self.overlay.get(name or "", {})
        props: dict[str, Any] = schema.get("properties", {}) or {}
        required = list(schema.get("required", []) or []) + [k for k in over.get("required", [])
                                                              if k not in (schema.get("required") or [])]
        for key in required:
            if key not in value:
                out.append(f"{where}: {label} is missing required key '{key}'")
                continue
            _, nullable = self._types(self.resolve(props.get(key, {}))[0])
            if value[key] is None and not nullable:
                out.append(f"{where}: {label}.{key} is null but required and not nullable")
        integers = set(over.get("integer", []))
        for key, val in value.items():
            if val is None:
                continue  # optional keys may be null; required ones were checked above
            sub = f"{where}.{key}" if where else key
            if key in integers and (not isinstance(val, int) or isinstance(val, bool)):
                out.append(f"{sub}: {label}.{key} must be a JSON integer, got {self._describe(val)}")
                continue
            if key in over.get("string_map", []):
                if not isinstance(val, dict) or not all(isinstance(v, str) for v in val.values()):
                    out.append(f"{sub}: {label}.{key} must be an object of strings, got {self._describe(val)}")
                    continue
            if key not in props:
                continue  # extra keys are allowed
            psch, _ = self.resolve(props[key])
            ptypes, _ = self._types(psch)
            if not self._type_ok(val, ptypes):
                out.append(f"{sub}: {label}.{key} expected {'/'.join(sorted(ptypes))}, "
                           f"got {self._describe(val)}")
                continue
            if psch.get("format") == "date-time" and isinstance(val, str) and not _is_datetime(val):
                out.append(f"{sub}: {label}.{key} is not an ISO 8601 date-time: {val!r}")
            if depth < 1 and isinstance(val, (list, dict)):
                self._check_value(props[key], val, sub, depth + 1, out)

    # ---- responses ---------------------------------------------------------------------------

    def _response_body(self, op: dict[str, Any], resp: dict[str, Any],
                       content_type: str | None) -> tuple[str, Any]:
        """How to check a declared response's body: ("json", schema), ("json", None) when the
        spec declares no body, or ("status-only", None) for non-JSON media (binary, multipart,
        text the SDK accepts)."""
        media = _media_type(content_type)
        if self.swagger2:
            schema = resp.get("schema")
            produces = [str(p).lower() for p in (op.get("produces") or self.spec.get("produces") or [])]
            if schema is None:
                return "json", None
            if produces and not any("json" in p for p in produces):
                return "status-only", None  # multipart/form-data, application/octet-stream
            if self.resolve(schema)[0].get("type") == "file":
                return "status-only", None
            if media and "json" not in media and media in produces:
                return "status-only", None
            return "json", schema
        content = resp.get("content") or {}
        json_media = content.get("application/json") or next(
            (v for k, v in content.items() if "json" in k), None)
        if json_media is None:
            return ("status-only", None) if content else ("json", None)
        if media and "json" not in media and media in {k.lower() for k in content}:
            return "status-only", None
        return "json", (json_media or {}).get("schema")

    # ---- exchanges ---------------------------------------------------------------------------

    def check(self, method: str, path: str, status: int, body: Any, context: str = "", *,
              content_type: str | None = None, body_captured: bool = True) -> list[Violation]:
        """Validates one exchange. `path` is relative to the API base (e.g. /sandbox/x) or, for the
        toolbox spec, the daemon path (e.g. /files/info); a query is allowed.

        `body` is the parsed JSON (None for an empty body, InvalidJson for unparseable text).
        `content_type`, when given, is checked to be JSON wherever a JSON body is checked (callers
        that check it themselves, like control_plane.py, leave it out). With `body_captured` False
        only the path, method and status are checked. Returns the new violations, which are also
        appended to `self.violations`.
        """
        method = method.upper()
        path = path.split("?", 1)[0] or "/"
        found: list[str] = []
        template, op = self.match(method, path)
        self.checked += 1

        def check_content_type() -> None:
            if content_type and body is not None and "json" not in content_type.lower():
                found.append(f"content-type {content_type!r} is not JSON (the generated clients only parse "
                             "application/json)")

        if template is None:
            found.append("path matches no path template in the spec")
        elif status == 101:
            if op is None:
                found.append(f"the spec has no {method} operation on {template}")
            elif "101" not in {str(k) for k in (op.get("responses") or {})}:
                found.append(f"status 101 (WebSocket upgrade) is not declared for {method} {template}")
        elif 400 <= status < 500:
            if body_captured:
                check_content_type()
                if not isinstance(body, dict) or not isinstance(body.get("message"), str):
                    found.append(f"error response must be a JSON object with a string 'message', got "
                                 f"{body!r:.120}")
        elif op is None:
            found.append(f"the spec has no {method} operation on {template}")
        else:
            responses = {str(k): v for k, v in (op.get("responses", {}) or {}).items()}
            declared = sorted(responses)
            resp = responses.get(str(status))
            if resp is None:
                found.append(f"status {status} is not declared for {method} {template} "
                             f"(declared: {', '.join(declared) or 'none'})")
            elif body_captured:
                how, schema = self._response_body(op, resp or {}, content_type)
                if how == "json":
                    check_content_type()
                if schema is not None:
                    if isinstance(body, InvalidJson):
                        found.append(f"body is not valid JSON: {body.text[:120]!r}")
                    elif body is None:
                        found.append("body is empty but the spec declares a JSON schema")
                    else:
                        problems: list[str] = []
                        self._check_value(schema, body, "body", 0, problems)
                        found.extend(problems)
        new = [Violation(method, path, status, p, context) for p in found]
        self.violations.extend(new)
        return new


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_datetime(value: str) -> bool:
    try:
        _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def group_violations(checker: SpecChecker) -> list[str]:
    """One line per distinct (method, path template, status, problem), with count and steps.

    Toolbox violations read `violation toolbox <METHOD> <daemon path template> -> ...`."""
    groups: dict[tuple[str, str, int, str], list[str]] = {}
    for v in checker.violations:
        template, _ = checker.match(v.method, v.path)
        problem = re.sub(r"\[\d+\]", "[i]", v.problem)  # items[0], items[1], ... are one problem
        key = (v.method, template or v.path, v.status, problem)
        groups.setdefault(key, []).append(v.context)
    lines = []
    for (method, path, status, problem), steps in groups.items():
        seen = list(dict.fromkeys(steps))
        lines.append(f"violation {checker.label}{method} {path} -> {status}: {problem} "
                     f"(x{len(steps)}; steps: {', '.join(seen)})")
    return lines


# ---- recorded exchanges (--check-file and in-process recorders) ---------------------------------

def parse_body(text: str | None) -> Any:
    """None for an empty body, the parsed JSON, or InvalidJson for text that is not JSON."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return InvalidJson(text)


def _toolbox_urls_in(path: str, body: Any) -> list[str]:
    """toolboxProxyUrl values in a control-plane body (a sandbox, a list/page of sandboxes, or the
    /sandbox/{id}/toolbox-proxy-url answer)."""
    found = []
    dtos = [body] + (body if isinstance(body, list) else []) + (
        body.get("items", []) if isinstance(body, dict) and isinstance(body.get("items"), list) else [])
    for dto in dtos:
        if isinstance(dto, dict) and isinstance(dto.get("toolboxProxyUrl"), str) and dto["toolboxProxyUrl"]:
            found.append(dto["toolboxProxyUrl"])
    if path.rstrip("/").endswith("/toolbox-proxy-url") and isinstance(body, dict) and isinstance(body.get("url"), str):
        found.append(body["url"])
    return found


@dataclass
class ExchangeReport:
    """Result of `check_exchanges`: the two checkers (their `violations`) and the counts."""
    api: SpecChecker
    toolbox: SpecChecker | None
    api_count: int = 0
    toolbox_count: int = 0
    toolbox_mode: bool = False

    @property
    def violations(self) -> list[Violation]:
        return self.api.violations + (self.toolbox.violations if self.toolbox else [])

    def summary(self) -> str:
        n = len(self.violations)
        if not self.toolbox_mode:
            return f"{n} spec violations in {self.api_count} control-plane responses"
        return (f"{n} spec violations in {self.toolbox_count} toolbox responses and "
                f"{self.api_count} control-plane responses")

    def lines(self) -> list[str]:
        """The summary line, then one `violation ...` line per distinct problem."""
        out = [self.summary()] + group_violations(self.api)
        if self.toolbox:
            out += group_violations(self.toolbox)
        return out


def check_exchanges(data: dict[str, Any], spec_path: str | None = None,
                    toolbox_spec_path: str | None = None) -> ExchangeReport:
    """Checks recorded exchanges (the `check_file` format, already loaded) against the specs.

    Without a `toolboxUrls` key every exchange must be under `apiUrl` (control plane only). With it
    (toolbox mode) an exchange under a toolbox base, i.e. one of `toolboxUrls` or a toolboxProxyUrl
    seen in a control-plane response, is checked against the toolbox spec with its daemon path; one
    under neither is a violation. Raises ValueError/KeyError/TypeError on a malformed document.
    """
    api_url = data["apiUrl"]
    exchanges = data["exchanges"]
    if not isinstance(api_url, str) or not isinstance(exchanges, list):
        raise TypeError("apiUrl must be a string and exchanges a list")
    toolbox_mode = "toolboxUrls" in data
    bases = [str(u) for u in (data.get("toolboxUrls") or [])]
    rows = []
    for i, x in enumerate(exchanges):
        try:
            method = str(x["method"]).upper()
            url = str(x["url"])
            status = int(x["status"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"exchange {i} is malformed: {e}") from e
        captured = x.get("bodyCaptured", True) is not False
        body = parse_body(x.get("text")) if captured else None
        rel = api_relative_path(url, api_url) if not url.lower().startswith(("ws://", "wss://")) else None
        rows.append((str(x.get("step") or ""), method, url, status, str(x.get("contentType") or ""), body,
                     captured, rel))
        if toolbox_mode and rel is not None and captured:
            bases.extend(_toolbox_urls_in(rel, body))
    bases = list(dict.fromkeys(b.rstrip("/") for b in bases if b))
    api = SpecChecker(spec_path, kind="daytona")
    toolbox = SpecChecker(toolbox_spec_path or default_toolbox_spec_path(), kind="toolbox") if toolbox_mode else None
    report = ExchangeReport(api, toolbox, toolbox_mode=toolbox_mode)
    for step, method, url, status, content_type, body, captured, rel in rows:
        # A toolbox base wins over the API base (a toolboxProxyUrl may itself lie under /api).
        daemon = next((p for p in (toolbox_relative_path(url, b) for b in bases) if p), None) if toolbox else None
        if daemon is not None and toolbox is not None:
            report.toolbox_count += 1
            toolbox.check(method, daemon[1], status, body, context=step, content_type=content_type,
                          body_captured=captured)
            continue
        if rel is not None:
            report.api_count += 1
            api.check(method, rel, status, body, context=step, content_type=content_type, body_captured=captured)
            continue
        where = f"the API base {api_url}" + (" and every toolboxProxyUrl seen" if toolbox_mode else "")
        api.violations.append(Violation(method, url, status, f"request is outside {where}", step))
    return report


def check_file(path: str, spec_path: str | None = None, toolbox_spec_path: str | None = None) -> int:
    """Checks the exchanges in a JSON file written by another suite; prints the result.

    File format (UTF-8 JSON):

        {"apiUrl": "http://127.0.0.1:3000/api",
         "toolboxUrls": ["http://127.0.0.1:3000/toolbox"],      (optional: toolbox mode)
         "exchanges": [{"step": "create-default", "method": "POST",
                        "url": "http://127.0.0.1:3000/api/sandbox", "status": 200,
                        "contentType": "application/json; charset=utf-8",
                        "text": "<raw response body, or null/\"\" when empty>",
                        "bodyCaptured": true}, ...]}

    The body is parsed here, from the raw text, so a float where an integer is required or a
    body that is not JSON is seen exactly as the server sent it. As in control_plane.py's capture,
    a URL outside `apiUrl` and a JSON body with a non-JSON content type are violations too.
    `bodyCaptured: false` (default true) marks a body the recorder could not see (a stream, a
    failed WebSocket handshake): only path, method and status are checked then.

    With `toolboxUrls` (toolbox mode; the list may be empty) exchanges under a toolbox base are
    checked against the toolbox spec: a base is `{toolboxProxyUrl}`, given in the list or seen in a
    control-plane response, and the request path is `{base}/{sandboxId}/<daemon path>`; ws:// and
    wss:// URLs count as http:// and https://. See `check_exchanges`.

    Prints `N spec violations in M control-plane responses` (toolbox mode: `N spec violations in
    T toolbox responses and C control-plane responses`), then one `violation ...` line per
    distinct problem. Returns 0 with no violation, 1 with violations, 2 when the file is unusable.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        report = check_exchanges(data, spec_path, toolbox_spec_path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"spec_check.py: cannot check exchanges from {path}: {e}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line, flush=True)
    return 1 if report.violations else 0


# ---- self-test ---------------------------------------------------------------------------------

def _sandbox(**over: Any) -> dict[str, Any]:
    dto = {
        "id": "7c0d9a5e-0000-4000-8000-000000000001", "organizationId": "org", "name": "sb",
        "snapshot": "default", "user": "daytona", "env": {}, "labels": {"code-toolbox-language": "python"},
        "public": False, "networkBlockAll": False, "target": "local", "cpu": 1, "gpu": 0, "memory": 1,
        "disk": 3, "state": "started", "toolboxProxyUrl": "http://127.0.0.1:3000/toolbox", "kvm": False,
        "createdAt": "2025-01-01T00:00:00.000Z", "autoStopInterval": 15, "errorReason": None,
    }
    dto.update(over)
    return {k: v for k, v in dto.items() if v is not _DROP}


_DROP = object()


def _file_info(**over: Any) -> dict[str, Any]:
    info = {"name": "a.txt", "isDir": False, "size": 12, "mode": "-rw-r--r--", "permissions": "0644",
            "owner": "daytona", "group": "daytona", "modTime": "2025-01-01 00:00:00 +0000 UTC",
            "modifiedAt": "2025-01-01T00:00:00Z"}
    info.update(over)
    return {k: v for k, v in info.items() if v is not _DROP}


def _self_test(argv: Iterable[str]) -> int:
    args = list(argv)
    checker = SpecChecker(args[0] if args else None)
    toolbox = SpecChecker(args[1] if len(args) > 1 else default_toolbox_spec_path())
    item = {k: v for k, v in _sandbox().items() if k not in ("env",)}
    Case = tuple[str, tuple[str, str, int, Any], list[str]]
    cases: list[Case] = [
        ("valid sandbox", ("POST", "/sandbox", 200, _sandbox()), []),
        ("missing kvm", ("GET", "/sandbox/sb", 200, _sandbox(kvm=_DROP)), ["missing required key 'kvm'"]),
        ("float cpu", ("GET", "/sandbox/sb", 200, _sandbox(cpu=1.0)), ["cpu must be a JSON integer"]),
        ("bool memory", ("GET", "/sandbox/sb", 200, _sandbox(memory=True)), ["memory must be a JSON integer"]),
        ("null toolboxProxyUrl", ("GET", "/sandbox/sb", 200, _sandbox(toolboxProxyUrl=None)),
         ["toolboxProxyUrl is null"]),
        ("createdAt not a string", ("GET", "/sandbox/sb", 200, _sandbox(createdAt=1700000000)),
         ["createdAt expected string"]),
        ("non-string label", ("GET", "/sandbox/sb", 200, _sandbox(labels={"a": 1})), ["labels must be an object"]),
        ("201 instead of 200", ("POST", "/sandbox", 201, _sandbox()), ["status 201 is not declared"]),
        ("unknown path", ("GET", "/sandboxes/sb", 200, {}), ["matches no path template"]),
        ("unknown method", ("PATCH", "/sandbox/sb", 200, {}), ["no PATCH operation"]),
        ("404 with message", ("GET", "/sandbox/nope", 404, {"statusCode": 404, "message": "not found"}), []),
        ("404 without message", ("GET", "/sandbox/nope", 404, {"error": "Not Found"}), ["string 'message'"]),
        ("500 undeclared", ("GET", "/sandbox/x", 500, {"message": "boom"}), ["status 500 is not declared"]),
        ("list ok", ("GET", "/sandbox?labels=%7B%7D", 200, {"items": [{**item}], "nextCursor": None}), []),
        ("list item without networkBlockAll",
         ("GET", "/sandbox", 200, {"items": [{k: v for k, v in item.items() if k != "networkBlockAll"}],
                                   "nextCursor": None}),
         ["items[0]: SandboxListItem is missing required key 'networkBlockAll'"]),
        ("list item float disk", ("GET", "/sandbox", 200, {"items": [{**item, "disk": 3.5}], "nextCursor": None}),
         ["items[0].disk: SandboxListItem.disk must be a JSON integer"]),
        ("list without nextCursor", ("GET", "/sandbox", 200, {"items": []}), ["missing required key 'nextCursor'"]),
        ("snapshots float total", ("GET", "/snapshots", 200, {"items": [], "total": 1.0, "page": 1, "totalPages": 1}),
         ["total must be a JSON integer"]),
        ("snapshot bad date", ("GET", "/snapshots/default", 200, {
            "id": "s", "general": True, "name": "default", "state": "active", "cpu": 1, "gpu": 0, "mem": 1,
            "disk": 3, "size": None, "entrypoint": None, "errorReason": None, "lastUsedAt": None,
            "createdAt": "yesterday", "updatedAt": "2025-01-01T00:00:00Z"}), ["not an ISO 8601 date-time"]),
        ("volumes array item missing state", ("GET", "/volumes", 200, [{
            "id": "v", "name": "n", "organizationId": "o", "createdAt": "x", "updatedAt": "y",
            "errorReason": None}]), ["body[0]: VolumeDto is missing required key 'state'"]),
        ("volume delete empty 200", ("DELETE", "/volumes/v", 200, None), []),
        ("labels ok", ("PUT", "/sandbox/sb/labels", 200, {"labels": {"a": "b"}}), []),
        ("autodelete -1", ("POST", "/sandbox/sb/autodelete/-1", 200, _sandbox()), []),
        ("not json", ("GET", "/sandbox/sb", 200, InvalidJson("<html>")), ["not valid JSON"]),
        ("signing key (overlay)", ("GET", "/sandbox/sb/signing-key", 200, "k3y"), []),
        ("signing key object", ("POST", "/sandbox/sb/signing-key/rotate", 200, {"key": "k"}), ["expected string"]),
    ]
    toolbox_cases: list[Case] = [
        ("toolbox execute ok", ("POST", "/process/execute", 200, {"exitCode": 0, "result": "hi\n"}), []),
        ("toolbox execute float exitCode", ("POST", "/process/execute", 200, {"exitCode": 3.0, "result": ""}),
         ["ExecuteResponse.exitCode expected integer, got float 3.0"]),
        ("toolbox execute without result", ("POST", "/process/execute", 200, {"exitCode": 0}),
         ["ExecuteResponse is missing required key 'result'"]),
        ("toolbox file info ok", ("GET", "/files/info?path=a.txt", 200, _file_info()), []),
        ("toolbox file info without modifiedAt", ("GET", "/files/info", 200, _file_info(modifiedAt=_DROP)),
         ["FileInfo is missing required key 'modifiedAt'"]),
        ("toolbox list files item size string", ("GET", "/files?path=docs", 200, [_file_info(size="12")]),
         ["body[0].size: FileInfo.size expected integer"]),
        ("toolbox create session 200", ("POST", "/process/session", 200, None),
         ["status 200 is not declared for POST /process/session (declared: 201, 500)"]),
        ("toolbox session exec 202 ok", ("POST", "/process/session/s1/exec", 202, {"cmdId": "c1"}), []),
        ("toolbox session without commands", ("GET", "/process/session/s1", 200, {"sessionId": "s1"}),
         ["Session is missing required key 'commands'"]),
        ("toolbox entrypoint beats {sessionId}", ("GET", "/process/session/entrypoint", 200,
                                                  {"sessionId": "entrypoint", "commands": []}), []),
        ("toolbox git status items", ("GET", "/git/status?path=w", 200, {"currentBranch": "main", "fileStatus": [
            {"name": "a", "staging": "Unmodified", "worktree": "Untracked"}]}),
         ["fileStatus[0]: FileStatus is missing required key 'extra'"]),
        ("toolbox 404 without message", ("GET", "/process/session/x", 404, {"error": "not found"}),
         ["string 'message'"]),
        ("toolbox 408 with message", ("POST", "/process/execute", 408, {"message": "timed out"}), []),
        ("toolbox 500 declared by SDK 0.226.1", ("GET", "/git/status", 500, {"message": "boom"}), []),
        ("toolbox 500 undeclared", ("GET", "/files/info", 500, {"message": "boom"}),
         ["status 500 is not declared for GET /files/info"]),
        ("toolbox pty connect 101", ("GET", "/process/pty/term/connect", 101, None), []),
        ("toolbox logs follow 101 (overlay)", ("GET", "/process/session/s/command/c/logs?follow=true", 101, None), []),
        ("toolbox pty create-connect 101 (overlay)", ("GET", "/process/pty/create-connect?cols=80", 101, None), []),
        ("toolbox pty info 200", ("GET", "/process/pty/term", 200, {"id": "term"}),
         ["PtySessionInfo is missing required key 'active'"]),
        ("toolbox 101 on a REST operation", ("GET", "/process/session", 101, None),
         ["status 101 (WebSocket upgrade) is not declared"]),
        ("toolbox multipart download: status only", ("POST", "/files/bulk-download", 200, InvalidJson("--b\r\n")), []),
        ("toolbox binary download: status only", ("GET", "/files/download?path=a", 200, InvalidJson("\x00\x01")), []),
        ("toolbox git init (overlay) 201", ("POST", "/git/init", 201, None), []),
        ("toolbox remotes (overlay) item without url", ("GET", "/git/remotes", 200, {"remotes": [{"name": "o"}]}),
         ["remotes[0]: GitRemote is missing required key 'url'"]),
        ("toolbox metrics (overlay) float memTotal", ("GET", "/system/metrics", 200, {"memTotal": 1.5e9}),
         ["SystemMetrics.memTotal expected integer"]),
        ("toolbox unknown daemon path", ("GET", "/files/nope", 200, {}), ["matches no path template"]),
    ]
    failures = 0

    def run(check: SpecChecker, name: str, method: str, path: str, status: int, body: Any,
            expected: list[str], **kw: Any) -> None:
        nonlocal failures
        got = [str(v) for v in check.check(method, path, status, body, context=name, **kw)]
        ok = (not expected and not got) or (bool(expected) and all(any(e in g for g in got) for e in expected))
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {got or 'no violations'}")

    for name, (method, path, status, body), expected in cases:
        run(checker, name, method, path, status, body, expected)
    for name, (method, path, status, body), expected in toolbox_cases:
        run(toolbox, name, method, path, status, body, expected)
    # Content types (passed by recorders that leave the check to spec_check) and uncaptured bodies.
    run(toolbox, "toolbox JSON body as text/plain", "GET", "/work-dir", 200, {"dir": "/home/daytona"},
        ["content-type 'text/plain' is not JSON"], content_type="text/plain")
    run(toolbox, "toolbox logs as text/plain (JSON only for pinned SDKs)", "GET",
        "/process/session/s/command/c/logs", 200, InvalidJson("out"), ["not JSON", "not valid JSON"],
        content_type="text/plain; charset=utf-8")
    run(toolbox, "toolbox uncaptured body: status only", "GET", "/work-dir", 200, None, [],
        content_type="application/json", body_captured=False)
    run(checker, "signing key as text/plain", "GET", "/sandbox/sb/signing-key", 200, InvalidJson("k3y"), [],
        content_type="text/plain")
    # check_exchanges: toolbox URLs are found from the sandbox DTO and the sandbox id is stripped.
    sid = "7c0d9a5e-0000-4000-8000-000000000001"
    data = {"apiUrl": "http://127.0.0.1:3000/api", "toolboxUrls": [], "exchanges": [
        {"step": "create", "method": "POST", "url": "http://127.0.0.1:3000/api/sandbox", "status": 200,
         "contentType": "application/json", "text": json.dumps(_sandbox())},
        {"step": "exec", "method": "POST", "url": f"http://127.0.0.1:3000/toolbox/{sid}/process/execute",
         "status": 200, "contentType": "application/json", "text": '{"exitCode": 1.0, "result": ""}'},
        {"step": "pty", "method": "GET", "url": f"ws://127.0.0.1:3000/toolbox/{sid}/process/pty/t/connect",
         "status": 101, "contentType": "", "text": None, "bodyCaptured": False},
        {"step": "elsewhere", "method": "GET", "url": "http://127.0.0.1:9/other", "status": 200,
         "contentType": "", "text": None},
    ]}
    report = check_exchanges(data, args[0] if args else None, args[1] if len(args) > 1 else None)
    lines = report.lines()
    want = ["2 spec violations in 2 toolbox responses and 1 control-plane responses",
            "violation toolbox POST /process/execute -> 200: body.exitCode: ExecuteResponse.exitCode expected integer",
            "request is outside the API base http://127.0.0.1:3000/api and every toolboxProxyUrl seen"]
    missing = [w for w in want if not any(w in line for line in lines)]
    ok = not missing and len(report.violations) == 2
    failures += 0 if ok else 1
    print(f"{'ok  ' if ok else 'FAIL'} check_exchanges in toolbox mode: {lines}")
    total = len(cases) + len(toolbox_cases) + 5
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "--check-file":
        rest = argv[1:]
        usage = ("usage: spec_check.py --check-file <exchanges.json> [--spec <openapi.yaml>] "
                 "[--toolbox-spec <swagger.yaml>]\n"
                 "       spec_check.py [<openapi.yaml> [<toolbox-swagger.yaml>]]   (self-test)")
        if not rest:
            print(usage, file=sys.stderr)
            return 2
        options = {"--spec": None, "--toolbox-spec": None}
        i = 1
        while i < len(rest):
            if rest[i] in options and i + 1 < len(rest):
                options[rest[i]] = rest[i + 1]
                i += 2
            else:
                print(usage, file=sys.stderr)
                return 2
        return check_file(rest[0], options["--spec"], options["--toolbox-spec"])
    return _self_test(argv)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
