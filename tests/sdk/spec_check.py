"""Checks observed control-plane HTTP exchanges against Daytona's published OpenAPI spec.

The SDK conformance suite records every response the official SDK receives from `/api/...` and
feeds it to `SpecChecker.check`. A violation is recorded (never raised) when:

* the path does not match a path template of the spec, or the method has no operation there;
* a non-4xx status is not one the spec declares for that operation (the generated clients pick
  the response model by exact status code, so 201 where 200 is declared breaks them);
* a JSON response with a schema lacks a required key, has null in a required non-nullable key,
  or has a value of the wrong JSON type (integers must be JSON integers, not floats or booleans);
  arrays of objects are checked item by item, one level deep;
* a 4xx response has no JSON body with a string `message` (the SDK builds its error text from it).

The published spec is looser than what the SDKs enforce: it types resource counts as `number`
and does not list `kvm` (required by SDK 0.226.1) or `networkBlockAll` on list items. `OVERLAY`
adds those SDK-enforced rules (daytona-wire.md G2/G3, §3.1, §3.10) on top of the spec.

Needs only PyYAML. Run this file directly for a self-test on hand-made exchanges.
`spec_check.py --check-file <exchanges.json> [--spec <yaml>]` checks exchanges recorded by another
process (the TypeScript suite, ts/control_plane.mjs): see `check_file` for the file format.
"""

from __future__ import annotations

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

_JSON_TYPES = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


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


def default_spec_path() -> Path:
    """The spec beside the repository: <repo>/../shared/spec/daytona-openapi.yaml, or $SANDBAR_DAYTONA_SPEC."""
    env = os.environ.get(SPEC_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "spec" / "daytona-openapi.yaml"


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


class SpecChecker:
    """Loads the spec once; `check` validates one exchange and appends to `violations`."""

    def __init__(self, spec_path: str | os.PathLike[str] | None = None,
                 overlay: dict[str, dict[str, list[str]]] | None = None):
        path = Path(spec_path) if spec_path else default_spec_path()
        with open(path, encoding="utf-8") as f:
            self.spec: dict[str, Any] = yaml.safe_load(f)
        self.spec_path = path
        self.schemas: dict[str, Any] = self.spec.get("components", {}).get("schemas", {})
        self.overlay = OVERLAY if overlay is None else overlay
        self.violations: list[Violation] = []
        self.checked = 0
        self._templates = self._compile_paths(self.spec.get("paths", {}))

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
            ops = {m.upper(): op for m, op in (item or {}).items()
                   if m.lower() in ("get", "put", "post", "delete", "patch", "head", "options")}
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
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return ref.rsplit("/", 1)[1]
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
        """(declared JSON types, nullable) for OpenAPI 3.0 (`nullable`) and 3.1 (type lists)."""
        t = schema.get("type")
        nullable = bool(schema.get("nullable"))
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

    # ---- exchanges ---------------------------------------------------------------------------

    def check(self, method: str, path: str, status: int, body: Any, context: str = "") -> list[Violation]:
        """Validates one exchange. `path` is relative to the API base (e.g. /sandbox/x), query allowed.

        `body` is the parsed JSON (None for an empty body, InvalidJson for unparseable text).
        Returns the new violations, which are also appended to `self.violations`.
        """
        method = method.upper()
        path = path.split("?", 1)[0] or "/"
        found: list[str] = []
        template, op = self.match(method, path)
        self.checked += 1
        if template is None:
            found.append("path matches no path template in the spec")
        elif 400 <= status < 500:
            if not isinstance(body, dict) or not isinstance(body.get("message"), str):
                found.append(f"error response must be a JSON object with a string 'message', got "
                             f"{body!r:.120}")
        elif op is None:
            found.append(f"the spec has no {method} operation on {template}")
        else:
            responses = op.get("responses", {}) or {}
            declared = sorted(str(k) for k in responses)
            resp = responses.get(str(status))
            if resp is None:
                found.append(f"status {status} is not declared for {method} {template} "
                             f"(declared: {', '.join(declared) or 'none'})")
            else:
                content = (resp.get("content") or {})
                media = content.get("application/json") or next(
                    (v for k, v in content.items() if "json" in k), None)
                schema = (media or {}).get("schema")
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


def _is_datetime(value: str) -> bool:
    try:
        _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def group_violations(checker: SpecChecker) -> list[str]:
    """One line per distinct (method, path template, status, problem), with count and steps."""
    groups: dict[tuple[str, str, int, str], list[str]] = {}
    for v in checker.violations:
        template, _ = checker.match(v.method, v.path)
        problem = re.sub(r"\[\d+\]", "[i]", v.problem)  # items[0], items[1], ... are one problem
        key = (v.method, template or v.path, v.status, problem)
        groups.setdefault(key, []).append(v.context)
    lines = []
    for (method, path, status, problem), steps in groups.items():
        seen = list(dict.fromkeys(steps))
        lines.append(f"violation {method} {path} -> {status}: {problem} "
                     f"(x{len(steps)}; steps: {', '.join(seen)})")
    return lines


# ---- exchanges recorded elsewhere (--check-file) --------------------------------------------------

def check_file(path: str, spec_path: str | None = None) -> int:
    """Checks the exchanges in a JSON file written by another suite; prints the result.

    File format (UTF-8 JSON):

        {"apiUrl": "http://127.0.0.1:3000/api",
         "exchanges": [{"step": "create-default", "method": "POST",
                        "url": "http://127.0.0.1:3000/api/sandbox", "status": 200,
                        "contentType": "application/json; charset=utf-8",
                        "text": "<raw response body, or null/\"\" when empty>"}, ...]}

    The body is parsed here, from the raw text, so a float where an integer is required or a
    body that is not JSON is seen exactly as the server sent it. As in control_plane.py's capture,
    a URL outside `apiUrl` and a JSON body with a non-JSON content type are violations too.

    Prints `N spec violations in M control-plane responses`, then one `violation ...` line per
    distinct problem. Returns 0 with no violation, 1 with violations, 2 when the file is unusable.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        api_url = data["apiUrl"]
        exchanges = data["exchanges"]
        if not isinstance(api_url, str) or not isinstance(exchanges, list):
            raise TypeError("apiUrl must be a string and exchanges a list")
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"spec_check.py: cannot read exchanges from {path}: {e}", file=sys.stderr)
        return 2
    checker = SpecChecker(spec_path)
    for i, x in enumerate(exchanges):
        try:
            method = str(x["method"]).upper()
            url = str(x["url"])
            status = int(x["status"])
        except (KeyError, TypeError, ValueError) as e:
            print(f"spec_check.py: exchange {i} in {path} is malformed: {e}", file=sys.stderr)
            return 2
        step = str(x.get("step") or "")
        text = x.get("text")
        text = text if isinstance(text, str) else ""
        body: Any
        if not text.strip():
            body = None
        else:
            try:
                body = json.loads(text)
            except ValueError:
                body = InvalidJson(text)
        rel = api_relative_path(url, api_url)
        if rel is None:
            checker.violations.append(Violation(method, url, status,
                                                f"request is outside the API base {api_url}", step))
            continue
        content_type = x.get("contentType") or ""
        if body is not None and content_type and "json" not in str(content_type).lower():
            checker.violations.append(Violation(method, rel, status, f"content-type {content_type!r} is not JSON",
                                                step))
        checker.check(method, rel, status, body, context=step)
    print(f"{len(checker.violations)} spec violations in {len(exchanges)} control-plane responses", flush=True)
    for line in group_violations(checker):
        print(line, flush=True)
    return 1 if checker.violations else 0


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


def _self_test(argv: Iterable[str]) -> int:
    checker = SpecChecker(next(iter(argv), None))
    item = {k: v for k, v in _sandbox().items() if k not in ("env",)}
    cases: list[tuple[str, tuple[str, str, int, Any], list[str]]] = [
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
    ]
    failures = 0
    for name, (method, path, status, body), expected in cases:
        got = [str(v) for v in checker.check(method, path, status, body, context=name)]
        ok = (not expected and not got) or (expected and all(any(e in g for g in got) for e in expected))
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {got or 'no violations'}")
    print(f"{len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "--check-file":
        rest = argv[1:]
        spec = None
        if len(rest) == 3 and rest[1] == "--spec":
            spec = rest[2]
        elif len(rest) != 1:
            print("usage: spec_check.py --check-file <exchanges.json> [--spec <openapi.yaml>]\n"
                  "       spec_check.py [<openapi.yaml>]   (self-test)", file=sys.stderr)
            return 2
        return check_file(rest[0], spec)
    return _self_test(argv)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
