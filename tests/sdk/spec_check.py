"""Checks observed HTTP exchanges against the generated OpenAPI clients of the pinned Daytona SDK.

Source of truth: the Apache-2.0 clients that the `daytona` package pins and installs beside itself,
`daytona_api_client` (control plane) and `daytona_toolbox_api_client` (toolbox daemon), in the
interpreter that runs this file. The suite's venvs (setup-python.sh) hold SDK 0.190.0 with clients
0.190.0 and SDK 0.226.1 with clients 0.226.1, so the 0.190.0 flows are checked against what 0.190.0
enforces and the 0.226.1 flows against 0.226.1; the TypeScript flows are checked through
`--check-file` by the 0.226.1 venv's python (run.sh). A missing client is an error, never a skip.

From each installed client this module reads:
* the operation index, from the source of its `api/*_api.py` (AST, nothing imported): every
  `_<op>_serialize` names the method and `resource_path` (e.g. GET `/sandbox/{sandboxIdOrName}`)
  and the `Accept` media types; the operation `<op>` has `_response_types_map`, the status codes the
  client knows and the type it deserializes each into (`'200': "Sandbox"`, `'201': None`, ...);
* the models (`models`, pydantic v2 with Strict types), by which a 2xx body is validated exactly as
  the client's `ApiClient.deserialize` would: `List[X]`, `Dict[str, X]`, a model through `from_dict`
  (every declared key is read with `obj.get`, so a missing key counts as null; null is refused in a
  non-Optional field; StrictInt refuses floats and booleans; datetimes must parse; enums must hold
  one of their values). The walk mirrors `from_dict` to name the failing key with its path
  (`body.items[0].disk`); its verdict is then compared with the real deserializer's on the same
  JSON: a failure the walk cannot name is reported as the client's own error, and a walk finding the
  client does not share is dropped, so the verdict is the client's.
* primitive response types (`str`, `int`, `float`, `bool`, also as `List[...]`/`Dict[str, ...]`
  items) are checked by JSON type, stricter than the client, whose `str(data)` would silently turn
  an object into its Python repr; `object` accepts any JSON; a `str` operation also accepts a
  `text/*` body (the client then returns the raw text).

A violation is recorded (never raised) when:
* the path matches no `resource_path` of the client, or the method has no operation there;
* a status other than 4xx is not one the client declares for the operation (it picks the type by
  exact status code, so 201 where 200 is declared hands the SDK None);
* a 2xx body fails the validation above, is empty or null where a model, list or dict is declared,
  or is not valid JSON;
* a JSON body comes with a non-JSON content type (when the caller passes the content type); the
  client only parses `application/json`, and hands `text/*` to the model as a string;
* a 4xx response has no JSON object with a string `message` (the SDK builds its error text from it;
  for every non-2xx status the client raises ApiException whatever model it declares, so error
  bodies are not validated by model).
Only the status is checked for WebSocket upgrades (101), for operations whose type is `bytes`,
`bytearray` or `file` or whose `Accept` list has no JSON type (multipart bulk download), and for
exchanges whose body the recorder could not capture (a stream the SDK consumes itself).

Rules beyond the clients (the SDKs build these requests themselves, outside the generated code):
* `TOOLBOX_EXTRA_OPS`: `GET /process/pty/create-connect?<size, cwd, ...>` is the WebSocket with which
  SDK 0.226.1 (`create_pty_session`) and TS 0.218.0 (`createPty`) create and attach a PTY in one
  round trip; the SDKs build its URL from the connect template, and no generated client lists it
  (it would otherwise match `GET /process/pty/{sessionId}`, which declares 200). Only 101 is declared.
* `TOOLBOX_WEBSOCKET_OPS`: `GET /process/session/{sessionId}/command/{commandId}/logs` and
  `GET /process/session/entrypoint/logs` declare only 200 in the clients, but both SDKs open them as
  WebSockets with `follow=true`: 101 is accepted there too.

`python spec_check.py` runs a self-test on hand-made exchanges against the installed clients.
`spec_check.py --check-file <exchanges.json>` checks exchanges recorded by another process
(ts/control_plane.mjs, ts/toolbox.mjs): see `check_file` for the format. `check_exchanges` does the
same for exchanges recorded in this process (toolbox_capture.py). `spec_check.py --check-setup`
prints the clients it would check with, or fails (exit 2) when one is not installed.
This file is above 600 lines because the self-test lives beside the rules it asserts.
"""

from __future__ import annotations

import ast
import datetime as _dt
import decimal
import enum
import importlib
import importlib.metadata
import importlib.util
import json
import re
import sys
import typing
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple
from urllib.parse import urlsplit

CLIENT_PACKAGES = {"daytona": "daytona_api_client", "toolbox": "daytona_toolbox_api_client"}

# Toolbox operations the SDKs call outside the generated client (see the module docstring).
TOOLBOX_EXTRA_OPS: dict[tuple[str, str], dict[str, str | None]] = {
    ("GET", "/process/pty/create-connect"): {"101": None},
}
# Toolbox operations both SDKs also open as WebSockets (follow=true); the clients declare only 200.
TOOLBOX_WEBSOCKET_OPS: set[tuple[str, str]] = {
    ("GET", "/process/session/{sessionId}/command/{commandId}/logs"),
    ("GET", "/process/session/entrypoint/logs"),
}

_BINARY_TYPES = ("bytes", "bytearray", "file")
_JSON_TYPE_OF = {"str": (str,), "int": (int,), "long": (int,), "float": (int, float), "bool": (bool,)}
_TYPE_NOUNS = {"str": "string", "int": "integer", "long": "integer", "float": "number", "bool": "boolean"}
# pydantic error types that mean "wrong JSON type", with what was expected.
_EXPECTED = {
    "int_type": "integer", "int_parsing": "integer", "int_from_float": "integer", "string_type": "string",
    "bool_type": "boolean", "bool_parsing": "boolean", "float_type": "number", "float_parsing": "number",
    "dict_type": "object", "list_type": "array", "model_type": "object", "model_attributes_type": "object",
}


class ClientMissing(RuntimeError):
    """A generated client this checker needs is not installed (or not readable) in this interpreter."""


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
class Operation:
    """One operation of a generated client: `types` is its `_response_types_map`, `accept` the media
    types its `_serialize` sends in `Accept` (empty when it sends none)."""
    name: str
    method: str
    template: str
    types: dict[str, str | None]
    accept: list[str] = field(default_factory=list)

    def response_type(self, status: int) -> tuple[bool, str | None]:
        """(declared, type) as the client's `response_deserialize` looks it up (exact, then `2XX`)."""
        for key in (str(status), f"{str(status)[0]}XX"):
            if key in self.types:
                return True, self.types[key]
        return False, None

    def status_only(self, response_type: str | None) -> bool:
        """Binary or multipart answers: the checker looks at their status only."""
        if response_type in _BINARY_TYPES:
            return True
        return bool(self.accept) and not any("json" in a.lower() or a == "*/*" for a in self.accept)


@dataclass
class _Template:
    template: str
    regex: re.Pattern[str]
    literal_segments: int
    operations: dict[str, Operation] = field(default_factory=dict)


class _Problem(NamedTuple):
    text: str
    from_model: bool  # found by the from_dict walk (dropped when the client's deserializer disagrees)


# ---- the generated clients ------------------------------------------------------------------------

def _literal_keyword(call: ast.Call, name: str) -> Any:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.literal_eval(kw.value)
    return None


def _read_operations(api_dir: Path) -> list[Operation]:
    """Every operation in the client's `api/*_api.py`, read from the source (nothing is imported)."""
    ops: list[Operation] = []
    for source in sorted(api_dir.glob("*_api.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            fns = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
            for name, fn in fns.items():
                op_name = name[1:-len("_serialize")]
                if not (name.startswith("_") and name.endswith("_serialize")) or op_name not in fns:
                    continue
                method = template = None
                accept: list[str] = []
                for node in ast.walk(fn):
                    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                        continue
                    if node.func.attr == "param_serialize":
                        method, template = _literal_keyword(node, "method"), _literal_keyword(node, "resource_path")
                    elif node.func.attr == "select_header_accept" and node.args:
                        accept = [str(a) for a in ast.literal_eval(node.args[0])]
                types = None
                for node in ast.walk(fns[op_name]):
                    if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                            and node.target.id == "_response_types_map" and node.value is not None):
                        types = ast.literal_eval(node.value)
                        break
                if isinstance(method, str) and isinstance(template, str) and isinstance(types, dict):
                    ops.append(Operation(op_name, method.upper(), template, {str(k): v for k, v in types.items()},
                                         accept))
    return ops


class GeneratedClient:
    """One installed generated client: its operations, its models and its own deserializer."""

    def __init__(self, package: str):
        try:
            found = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            found = None
        if found is None or not found.origin:
            raise ClientMissing(
                f"spec_check.py: the generated client `{package}` is not installed for {sys.executable}; "
                "run tests/sdk/setup-python.sh <cache dir> and use one of its venvs "
                "(e.g. <cache dir>/venv-daytona-0.226.1/bin/python)")
        self.package = package
        self.root = Path(found.origin).parent
        try:
            self.version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            self.version = "unknown"
        self.operations = _read_operations(self.root / "api")
        if not self.operations:
            raise ClientMissing(f"spec_check.py: found no operations in {self.root / 'api'} (is `{package}` a "
                                "generated OpenAPI client?)")
        self.models = importlib.import_module(f"{package}.models")
        self._api_client: Any = None

    def describe(self) -> str:
        return f"{self.package} {self.version} ({self.root})"

    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", self.version)[:3])

    def model(self, name: str) -> Any:
        return getattr(self.models, name, None)

    def deserialize(self, value: Any, response_type: str) -> None:
        """Runs the client's own `ApiClient.deserialize` on `value` as a JSON body; raises what it raises."""
        if self._api_client is None:
            self._api_client = importlib.import_module(self.package).ApiClient()
        self._api_client.deserialize(json.dumps(value), response_type, "application/json")


_CLIENTS: dict[str, GeneratedClient] = {}


def load_client(kind: str) -> GeneratedClient:
    """The installed client for "daytona" (control plane) or "toolbox", loaded once per process."""
    if kind not in CLIENT_PACKAGES:
        raise ValueError(f"unknown client kind {kind!r} (expected one of {', '.join(CLIENT_PACKAGES)})")
    if kind not in _CLIENTS:
        _CLIENTS[kind] = GeneratedClient(CLIENT_PACKAGES[kind])
    return _CLIENTS[kind]


# ---- paths --------------------------------------------------------------------------------------

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


def _compile_templates(operations: Iterable[Operation]) -> list[_Template]:
    by_template: dict[str, _Template] = {}
    for op in operations:
        t = by_template.get(op.template)
        if t is None:
            segments = [s for s in op.template.strip("/").split("/") if s]
            parts = ["[^/]+" if re.fullmatch(r"\{[^/{}]+\}", s) else re.escape(s) for s in segments]
            literal = sum(1 for s in segments if not re.fullmatch(r"\{[^/{}]+\}", s))
            regex = re.compile("^/" + "/".join(parts) + "/?$") if parts else re.compile("^/?$")
            t = by_template[op.template] = _Template(op.template, regex, literal)
        have = t.operations.get(op.method)
        if have is None:
            t.operations[op.method] = op
        else:  # the same operation in two api files: the union of what they declare
            have.types = {**op.types, **have.types}
    out = list(by_template.values())
    # Most literal segments first, so /sandbox/paginated wins over /sandbox/{sandboxIdOrName}.
    out.sort(key=lambda t: (-t.literal_segments, t.template))
    return out


# ---- values -------------------------------------------------------------------------------------

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
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _unwrap(annotation: Any) -> Any:
    """Annotated[X, ...] -> X and Optional[X] -> X (a Union of several types stays a Union)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_optional(annotation: Any) -> bool:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "model_fields") and hasattr(annotation, "from_dict")


def _nested_model(annotation: Any) -> tuple[str, Any] | None:
    """("model" | "list" | "dict", model class) for the field shapes `from_dict` builds itself."""
    ann = _unwrap(annotation)
    if _is_model(ann):
        return "model", ann
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is list and args and _is_model(_unwrap(args[0])):
        return "list", _unwrap(args[0])
    if origin is dict and len(args) == 2 and _is_model(_unwrap(args[1])):
        return "dict", _unwrap(args[1])
    return None


def _render_loc(annotation: Any, rest: tuple[Any, ...]) -> str:
    """The part of a pydantic error location below a field, as `[0]`/`['key']` (union tags dropped)."""
    out = ""
    ann: Any = annotation
    for elem in rest:
        base = _unwrap(ann) if ann is not None else None
        origin = typing.get_origin(base)
        if origin is typing.Union:
            ann = None  # elem names the union member that failed
            continue
        args = typing.get_args(base)
        if origin is list:
            out += f"[{elem}]"
            ann = args[0] if args else None
        elif origin is dict:
            out += f"[{elem!r}]"
            ann = args[1] if len(args) == 2 else None
        elif isinstance(elem, int):
            out += f"[{elem}]"
            ann = None
    return out


# ---- the checker ----------------------------------------------------------------------------------

class SpecChecker:
    """Loads one installed client's operation index; `check` validates one exchange and appends to
    `violations`. `kind` is "daytona" (control plane, `daytona_api_client`) or "toolbox"
    (`daytona_toolbox_api_client`); the toolbox one adds the rules in the module docstring."""

    def __init__(self, kind: str = "daytona"):
        self.kind = kind
        self.client = load_client(kind)
        self.label = "toolbox " if kind == "toolbox" else ""
        self.violations: list[Violation] = []
        self.checked = 0
        operations = list(self.client.operations)
        if kind == "toolbox":
            operations = [Operation(o.name, o.method, o.template,
                                    {**o.types, "101": None} if (o.method, o.template) in TOOLBOX_WEBSOCKET_OPS
                                    else dict(o.types), list(o.accept)) for o in operations]
            have = {(o.method, o.template) for o in operations}
            for (method, template), types in TOOLBOX_EXTRA_OPS.items():
                if (method, template) not in have:
                    operations.append(Operation("sdk-built websocket", method, template, dict(types)))
        self._templates = _compile_templates(operations)

    @property
    def spec_path(self) -> str:
        """What the checks are made against (printed by the flows)."""
        return self.client.describe()

    def match(self, method: str, path: str) -> tuple[str | None, Operation | None]:
        """(template, operation) for a request; operation is None if no template has the method."""
        method = method.upper()
        first = None
        for t in self._templates:
            if t.regex.match(path):
                if method in t.operations:
                    return t.template, t.operations[method]
                first = first or t.template
        return first, None

    # ---- bodies ------------------------------------------------------------------------------

    def _check_model(self, cls: Any, obj: Any, where: str, out: list[_Problem]) -> None:
        """What `cls.from_dict(obj)` refuses, each with its path."""
        from pydantic import ValidationError

        name = cls.__name__
        if not isinstance(obj, dict):
            out.append(_Problem(f"{where}: expected an object ({name}), got {_describe(obj)}", True))
            return
        data: dict[str, Any] = {}
        keys: dict[str, str] = {}
        for fname, info in cls.model_fields.items():
            if fname == "additional_properties":
                continue
            key = info.serialization_alias or info.alias or fname
            keys[fname] = key
            value = obj.get(key)
            nested = _nested_model(info.annotation)
            if nested is None or value is None:
                data[fname] = value
                continue
            # Nested models are checked here, with their path, and stand in as unvalidated instances.
            shape, sub = nested
            sub_where = f"{where}.{key}"
            if shape == "model":
                self._check_model(sub, value, sub_where, out)
                data[fname] = sub.model_construct()
            elif shape == "list" and isinstance(value, list):
                for i, item in enumerate(value):
                    if item is not None:
                        self._check_model(sub, item, f"{sub_where}[{i}]", out)
                data[fname] = [None if item is None else sub.model_construct() for item in value]
            elif shape == "dict" and isinstance(value, dict):
                for k, item in value.items():
                    if item is not None:
                        self._check_model(sub, item, f"{sub_where}[{k!r}]", out)
                data[fname] = {k: None if item is None else sub.model_construct() for k, item in value.items()}
            else:
                out.append(_Problem(f"{sub_where}: {name}.{key} expected {'array' if shape == 'list' else 'object'}"
                                    f", got {_describe(value)}", True))
                data[fname] = [] if shape == "list" else {}
        try:
            cls.model_validate(data)
        except ValidationError as e:
            groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for err in e.errors():
                loc = err.get("loc") or ()
                fname = loc[0] if loc and loc[0] in keys else None
                if fname is None:
                    out.append(_Problem(f"{where}: {name}: {err.get('msg')}", True))
                    continue
                rest = _render_loc(cls.model_fields[fname].annotation, tuple(loc[1:]))
                groups.setdefault((fname, rest), []).append(err)
            for (fname, rest), errs in groups.items():
                out.append(_Problem(self._field_problem(name, keys[fname], rest, obj, errs, where), True))

    @staticmethod
    def _field_problem(model: str, key: str, rest: str, obj: dict[str, Any], errs: list[dict[str, Any]],
                       where: str) -> str:
        value = errs[0].get("input")
        sub = f"{where}.{key}{rest}"
        if not rest and value is None:
            if key not in obj:
                return f"{where}: {model} is missing required key '{key}'"
            return f"{sub}: {model}.{key} is null but the client's type is not Optional"
        types = [str(e.get("type", "")) for e in errs]
        if all(t in _EXPECTED for t in types):
            expected = "/".join(dict.fromkeys(_EXPECTED[t] for t in types))
            return f"{sub}: {model}.{key}{rest} expected {expected}, got {_describe(value)}"
        if any(t.startswith(("datetime", "date_")) for t in types):
            return f"{sub}: {model}.{key}{rest} is not an ISO 8601 date-time: {value!r:.60}"
        messages = "; ".join(dict.fromkeys(str(e.get("msg")) for e in errs))
        return f"{sub}: {model}.{key}{rest}: {messages} (got {_describe(value)})"

    def _check_type(self, type_name: str, value: Any, where: str, out: list[_Problem]) -> None:
        """`value` as the client's `__deserialize(value, type_name)` sees it."""
        if value is None:
            out.append(_Problem(f"{where}: is null but the client deserializes {type_name} from it", False))
            return
        m = re.fullmatch(r"List\[(.*)\]", type_name)
        if m:
            if not isinstance(value, list):
                out.append(_Problem(f"{where}: expected array ({type_name}), got {_describe(value)}", False))
                return
            for i, item in enumerate(value):
                self._check_type(m.group(1), item, f"{where}[{i}]", out)
            return
        m = re.fullmatch(r"Dict\[([^,]*), (.*)\]", type_name)
        if m:
            if not isinstance(value, dict):
                out.append(_Problem(f"{where}: expected object ({type_name}), got {_describe(value)}", False))
                return
            for k, item in value.items():
                self._check_type(m.group(2), item, f"{where}[{k!r}]", out)
            return
        if type_name == "object":
            return
        if type_name in _JSON_TYPE_OF:
            if not isinstance(value, _JSON_TYPE_OF[type_name]) or (isinstance(value, bool) and type_name != "bool"):
                out.append(_Problem(f"{where}: expected {_TYPE_NOUNS[type_name]}, got {_describe(value)}", False))
            return
        if type_name in ("date", "datetime", "UUID", "decimal"):
            parse = {"date": _dt.date.fromisoformat, "UUID": uuid.UUID, "decimal": decimal.Decimal,
                     "datetime": lambda s: _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))}[type_name]
            try:
                parse(value if isinstance(value, str) else str(value))
            except (ValueError, TypeError, ArithmeticError):
                out.append(_Problem(f"{where}: expected {type_name}, got {_describe(value)}", False))
            return
        cls = self.client.model(type_name)
        if isinstance(cls, type) and issubclass(cls, enum.Enum):
            try:
                cls(value)  # the generated enums' `_missing_` maps unknown values to a fallback member
            except ValueError:
                out.append(_Problem(f"{where}: {value!r:.60} is not a {type_name} value", False))
        elif _is_model(cls):
            self._check_model(cls, value, where, out)
        else:
            out.append(_Problem(f"{where}: the client names type {type_name!r}, which it does not define", False))

    def _check_json_body(self, type_name: str, body: Any) -> list[str]:
        """Walk findings, reconciled with the client's own deserializer (module docstring)."""
        problems: list[_Problem] = []
        self._check_type(type_name, body, "body", problems)
        try:
            self.client.deserialize(body, type_name)
        except Exception as e:  # whatever the client raises is its refusal of the body
            if not problems:
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                problems.append(_Problem(f"body: {self.client.package} cannot deserialize {type_name}: "
                                         f"{type(e).__name__}: {first:.200}", False))
        else:
            problems = [p for p in problems if not p.from_model]
        return [p.text for p in problems]

    # ---- exchanges ---------------------------------------------------------------------------

    def check(self, method: str, path: str, status: int, body: Any, context: str = "", *,
              content_type: str | None = None, body_captured: bool = True) -> list[Violation]:
        """Validates one exchange. `path` is relative to the API base (e.g. /sandbox/x) or, for the
        toolbox client, the daemon path (e.g. /files/info); a query is allowed.

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
        media = (content_type or "").split(";", 1)[0].strip().lower()

        def check_content_type(text_ok: bool = False) -> None:
            text = text_ok and media.startswith("text/")
            if content_type and body is not None and "json" not in media and not text:
                found.append(f"content-type {content_type!r} is not JSON (the generated clients only parse "
                             "application/json)")

        if template is None:
            found.append(f"path matches no path template of {self.client.package} {self.client.version}")
        elif status == 101:
            if op is None:
                found.append(f"{self.client.package} has no {method} operation on {template}")
            elif not op.response_type(101)[0]:
                found.append(f"status 101 (WebSocket upgrade) is not declared for {method} {template}")
        elif 400 <= status < 500:
            if body_captured:
                check_content_type()
                if not isinstance(body, dict) or not isinstance(body.get("message"), str):
                    found.append(f"error response must be a JSON object with a string 'message', got "
                                 f"{body!r:.120}")
        elif op is None:
            found.append(f"{self.client.package} has no {method} operation on {template}")
        else:
            declared, type_name = op.response_type(status)
            if not declared:
                found.append(f"status {status} is not declared for {method} {template} "
                             f"(declared: {', '.join(sorted(op.types)) or 'none'})")
            elif body_captured and 200 <= status < 300 and not op.status_only(type_name):
                as_text = type_name == "str" and media.startswith("text/")
                check_content_type(text_ok=type_name == "str")
                if type_name is None or as_text:
                    pass  # the client ignores the body, or returns the raw text
                elif isinstance(body, InvalidJson):
                    found.append(f"body is not valid JSON: {body.text[:120]!r}")
                elif body is None and type_name not in ("str", "object"):
                    found.append(f"body is empty but {self.client.package} deserializes {type_name} from it")
                elif body is not None:
                    found.extend(self._check_json_body(type_name, body))
        new = [Violation(method, path, status, p, context) for p in found]
        self.violations.extend(new)
        return new


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


def check_exchanges(data: dict[str, Any]) -> ExchangeReport:
    """Checks recorded exchanges (the `check_file` format, already loaded) against the clients.

    Without a `toolboxUrls` key every exchange must be under `apiUrl` (control plane only). With it
    (toolbox mode) an exchange under a toolbox base, i.e. one of `toolboxUrls` or a toolboxProxyUrl
    seen in a control-plane response, is checked against the toolbox client with its daemon path; one
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
    api = SpecChecker("daytona")
    toolbox = SpecChecker("toolbox") if toolbox_mode else None
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


def check_file(path: str) -> int:
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
    checked against the toolbox client: a base is `{toolboxProxyUrl}`, given in the list or seen in a
    control-plane response, and the request path is `{base}/{sandboxId}/<daemon path>`; ws:// and
    wss:// URLs count as http:// and https://. See `check_exchanges`.

    Prints `N spec violations in M control-plane responses` (toolbox mode: `N spec violations in
    T toolbox responses and C control-plane responses`), then one `violation ...` line per
    distinct problem. Returns 0 with no violation, 1 with violations, 2 when the file is unusable.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        report = check_exchanges(data)
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


def _snapshot(**over: Any) -> dict[str, Any]:
    dto = {"id": "s", "general": True, "name": "default", "state": "active", "cpu": 1, "gpu": 0, "mem": 1,
           "disk": 3, "size": None, "entrypoint": None, "errorReason": None, "lastUsedAt": None,
           "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"}
    dto.update(over)
    return dto


def _self_test() -> int:
    checker = SpecChecker("daytona")
    toolbox = SpecChecker("toolbox")
    print(f"checking against {checker.spec_path} and {toolbox.spec_path}")
    # Rules that differ between the pinned clients are asserted for the client installed here.
    api226 = checker.client.version_tuple() >= (0, 226)
    tb226 = toolbox.client.version_tuple() >= (0, 226)

    def only(cond: bool, expected: list[str], otherwise: list[str] | None = None) -> list[str]:
        return expected if cond else (otherwise or [])

    no_path = ["path matches no path template"]
    item = {k: v for k, v in _sandbox().items() if k not in ("env",)}
    Case = tuple[str, tuple[str, str, int, Any], list[str]]
    cases: list[Case] = [
        ("valid sandbox", ("POST", "/sandbox", 200, _sandbox()), []),
        ("missing kvm (required from 0.226)", ("GET", "/sandbox/sb", 200, _sandbox(kvm=_DROP)),
         only(api226, ["body: Sandbox is missing required key 'kvm'"])),
        ("float cpu (StrictInt from 0.226, a number before)", ("GET", "/sandbox/sb", 200, _sandbox(cpu=1.0)),
         only(api226, ["body.cpu: Sandbox.cpu expected integer, got float 1.0"])),
        ("bool memory", ("GET", "/sandbox/sb", 200, _sandbox(memory=True)),
         ["body.memory: Sandbox.memory expected", "got boolean True"]),
        ("null toolboxProxyUrl", ("GET", "/sandbox/sb", 200, _sandbox(toolboxProxyUrl=None)),
         ["body.toolboxProxyUrl: Sandbox.toolboxProxyUrl is null"]),
        ("createdAt not a string", ("GET", "/sandbox/sb", 200, _sandbox(createdAt=1700000000)),
         ["Sandbox.createdAt expected string"]),
        ("non-string label", ("GET", "/sandbox/sb", 200, _sandbox(labels={"a": 1})),
         ["body.labels['a']: Sandbox.labels['a'] expected string, got integer 1"]),
        # The generated enums map values they do not know (and null) to UNKNOWN_DEFAULT_OPEN_API (`_missing_`).
        ("unknown state: the enum's fallback", ("GET", "/sandbox/sb", 200, _sandbox(state="resting")), []),
        ("201 instead of 200", ("POST", "/sandbox", 201, _sandbox()),
         ["status 201 is not declared for POST /sandbox (declared: 200)"]),
        ("unknown path", ("GET", "/sandboxes/sb", 200, {}), no_path),
        ("unknown method", ("PATCH", "/sandbox/sb", 200, {}), ["no PATCH operation"]),
        ("404 with message", ("GET", "/sandbox/nope", 404, {"statusCode": 404, "message": "not found"}), []),
        ("404 without message", ("GET", "/sandbox/nope", 404, {"error": "Not Found"}), ["string 'message'"]),
        ("500 undeclared", ("GET", "/sandbox/x", 500, {"message": "boom"}), ["status 500 is not declared"]),
        ("list ok", ("GET", "/sandbox?labels=%7B%7D", 200, {"items": [{**item}], "nextCursor": None}), []),
        ("list item without networkBlockAll (required from 0.226)",
         ("GET", "/sandbox", 200, {"items": [{k: v for k, v in item.items() if k != "networkBlockAll"}],
                                   "nextCursor": None}),
         only(api226, ["items[0]: SandboxListItem is missing required key 'networkBlockAll'"])),
        ("list item float disk", ("GET", "/sandbox", 200, {"items": [{**item, "disk": 3.5}], "nextCursor": None}),
         only(api226, ["body.items[0].disk: SandboxListItem.disk expected integer"])),
        ("list item null", ("GET", "/sandbox", 200, {"items": [None], "nextCursor": None}),
         ["body.items[0]: ListSandboxesResponse.items[0] expected object, got null"]),
        ("list without nextCursor (Optional: from_dict reads it as null)", ("GET", "/sandbox", 200, {"items": []}), []),
        ("list without items", ("GET", "/sandbox", 200, {"nextCursor": None}),
         ["body: ListSandboxesResponse is missing required key 'items'"]),
        ("list as an array", ("GET", "/sandbox", 200, [item]), ["body: expected an object (ListSandboxesResponse)"]),
        ("snapshots float total (StrictInt from 0.226)",
         ("GET", "/snapshots", 200, {"items": [], "total": 1.0, "page": 1, "totalPages": 1}),
         only(api226, ["PaginatedSnapshots.total expected integer"])),
        ("snapshot ok", ("GET", "/snapshots/default", 200, _snapshot()), []),
        ("snapshot bad date", ("GET", "/snapshots/default", 200, _snapshot(createdAt="yesterday")),
         ["body.createdAt: SnapshotDto.createdAt is not an ISO 8601 date-time"]),
        ("volumes array item missing name", ("GET", "/volumes", 200, [{
            "id": "v", "state": "ready", "organizationId": "o", "createdAt": "x", "updatedAt": "y",
            "errorReason": None}]), ["body[0]: VolumeDto is missing required key 'name'"]),
        ("volume without state: the enum's fallback", ("GET", "/volumes/v", 200, {
            "id": "v", "name": "n", "organizationId": "o", "createdAt": "x", "updatedAt": "y",
            "errorReason": None}), []),
        ("volumes not an array", ("GET", "/volumes", 200, {"items": []}),
         ["body: expected array (List[VolumeDto]), got object"]),
        ("volume delete empty 200", ("DELETE", "/volumes/v", 200, None), []),
        ("sandbox empty 200", ("GET", "/sandbox/sb", 200, None), ["body is empty but daytona_api_client"]),
        ("labels ok", ("PUT", "/sandbox/sb/labels", 200, {"labels": {"a": "b"}}), []),
        ("autodelete -1", ("POST", "/sandbox/sb/autodelete/-1", 200, _sandbox()), []),
        ("not json", ("GET", "/sandbox/sb", 200, InvalidJson("<html>")), ["not valid JSON"]),
        ("signing key (str, 0.226)", ("GET", "/sandbox/sb/signing-key", 200, "k3y"), only(api226, [], no_path)),
        ("signing key object (str, 0.226)", ("POST", "/sandbox/sb/signing-key/rotate", 200, {"key": "k"}),
         only(api226, ["body: expected string, got object"], no_path)),
    ]
    toolbox_cases: list[Case] = [
        ("toolbox execute ok", ("POST", "/process/execute", 200, {"exitCode": 0, "result": "hi\n"}), []),
        ("toolbox execute float exitCode", ("POST", "/process/execute", 200, {"exitCode": 3.0, "result": ""}),
         ["body.exitCode: ExecuteResponse.exitCode expected integer, got float 3.0"]),
        ("toolbox execute without result", ("POST", "/process/execute", 200, {"exitCode": 0}),
         ["ExecuteResponse is missing required key 'result'"]),
        ("toolbox file info ok", ("GET", "/files/info?path=a.txt", 200, _file_info()), []),
        ("toolbox file info without modifiedAt (Optional from 0.226)",
         ("GET", "/files/info", 200, _file_info(modifiedAt=_DROP)),
         only(not tb226, ["FileInfo is missing required key 'modifiedAt'"])),
        ("toolbox file info without owner", ("GET", "/files/info", 200, _file_info(owner=_DROP)),
         ["body: FileInfo is missing required key 'owner'"]),
        ("toolbox list files item size string", ("GET", "/files?path=docs", 200, [_file_info(size="12")]),
         ["body[0].size: FileInfo.size expected integer"]),
        ("toolbox create session 200", ("POST", "/process/session", 200, None),
         ["status 200 is not declared for POST /process/session (declared: 201"]),
        ("toolbox session exec 202 ok", ("POST", "/process/session/s1/exec", 202, {"cmdId": "c1"}), []),
        ("toolbox session without commands", ("GET", "/process/session/s1", 200, {"sessionId": "s1"}),
         ["Session is missing required key 'commands'"]),
        ("toolbox session command without id", ("GET", "/process/session/s1", 200,
                                                 {"sessionId": "s1", "commands": [{"command": "ls"}]}),
         ["body.commands[0]: Command is missing required key 'id'"]),
        ("toolbox sessions with a null item", ("GET", "/process/session", 200, [None]),
         ["body[0]: is null but the client deserializes Session from it"]),
        ("toolbox entrypoint beats {sessionId}", ("GET", "/process/session/entrypoint", 200,
                                                  {"sessionId": "entrypoint", "commands": []}), []),
        ("toolbox git status items", ("GET", "/git/status?path=w", 200, {"currentBranch": "main", "fileStatus": [
            {"name": "a", "staging": "Unmodified", "worktree": "Untracked"}]}),
         ["fileStatus[0]: FileStatus is missing required key 'extra'"]),
        ("toolbox git status unknown enum value: the enum's fallback", ("GET", "/git/status", 200, {
            "currentBranch": "main", "fileStatus": [{"name": "a", "staging": "Sideways", "worktree": "Untracked",
                                                     "extra": ""}]}), []),
        ("toolbox git status non-string enum value", ("GET", "/git/status", 200, {
            "currentBranch": "main", "fileStatus": [{"name": "a", "staging": 7, "worktree": "Untracked",
                                                     "extra": ""}]}), []),
        ("toolbox version ok", ("GET", "/version", 200, {"version": "v0.1"}), []),
        ("toolbox version number (Dict[str, str])", ("GET", "/version", 200, {"version": 1}),
         ["body['version']: expected string, got integer 1"]),
        ("toolbox 404 without message", ("GET", "/process/session/x", 404, {"error": "not found"}),
         ["string 'message'"]),
        ("toolbox 408 with message", ("POST", "/process/execute", 408, {"message": "timed out"}), []),
        ("toolbox 500 on git status (declared from 0.226)", ("GET", "/git/status", 500, {"message": "boom"}),
         only(not tb226, ["status 500 is not declared for GET /git/status"])),
        ("toolbox 500 undeclared", ("GET", "/files/info", 500, {"message": "boom"}),
         ["status 500 is not declared for GET /files/info"]),
        ("toolbox pty connect 101", ("GET", "/process/pty/term/connect", 101, None), []),
        ("toolbox logs follow 101 (rule)", ("GET", "/process/session/s/command/c/logs?follow=true", 101, None), []),
        ("toolbox entrypoint logs follow 101 (rule)", ("GET", "/process/session/entrypoint/logs", 101, None), []),
        ("toolbox pty create-connect 101 (rule)", ("GET", "/process/pty/create-connect?cols=80", 101, None), []),
        ("toolbox pty create-connect 200", ("GET", "/process/pty/create-connect", 200, {}),
         ["status 200 is not declared for GET /process/pty/create-connect (declared: 101)"]),
        ("toolbox pty info 200", ("GET", "/process/pty/term", 200, {"id": "term"}),
         ["PtySessionInfo is missing required key 'active'"]),
        ("toolbox 101 on a REST operation", ("GET", "/process/session", 101, None),
         ["status 101 (WebSocket upgrade) is not declared"]),
        ("toolbox multipart download: status only", ("POST", "/files/bulk-download", 200, InvalidJson("--b\r\n")), []),
        ("toolbox binary download: status only", ("GET", "/files/download?path=a", 200, InvalidJson("\x00\x01")), []),
        ("toolbox git init 201 (0.226)", ("POST", "/git/init", 201, None), only(tb226, [], no_path)),
        ("toolbox remotes item without url (0.226)", ("GET", "/git/remotes", 200, {"remotes": [{"name": "o"}]}),
         only(tb226, ["body.remotes[0]: GitRemote is missing required key 'url'"], no_path)),
        ("toolbox metrics float memTotal (0.226)", ("GET", "/system/metrics", 200, {"memTotal": 1.5e9}),
         only(tb226, ["SystemMetrics.memTotal expected integer"], no_path)),
        ("toolbox unknown daemon path", ("GET", "/files/nope", 200, {}), no_path),
    ]
    failures = 0
    total = 0

    def verdict(name: str, got: list[str], expected: list[str]) -> None:
        nonlocal failures, total
        total += 1
        ok = (not expected and not got) or (bool(expected) and all(any(e in g for g in got) for e in expected))
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {got or 'no violations'}")

    def run(check: SpecChecker, name: str, method: str, path: str, status: int, body: Any,
            expected: list[str], **kw: Any) -> None:
        verdict(name, [str(v) for v in check.check(method, path, status, body, context=name, **kw)], expected)

    for name, (method, path, status, body), expected in cases:
        run(checker, name, method, path, status, body, expected)
    for name, (method, path, status, body), expected in toolbox_cases:
        run(toolbox, name, method, path, status, body, expected)
    # Content types (passed by recorders that leave the check to spec_check) and uncaptured bodies.
    run(toolbox, "toolbox JSON body as text/plain", "GET", "/work-dir", 200, {"dir": "/home/daytona"},
        ["content-type 'text/plain' is not JSON"], content_type="text/plain")
    run(toolbox, "toolbox logs as text/plain (the client hands the text to its model)", "GET",
        "/process/session/s/command/c/logs", 200, InvalidJson("out"), ["not JSON", "not valid JSON"],
        content_type="text/plain; charset=utf-8")
    run(toolbox, "toolbox logs as JSON", "GET", "/process/session/s/command/c/logs", 200,
        {"output": "o", "stdout": "o", "stderr": ""}, [], content_type="application/json")
    run(toolbox, "toolbox uncaptured body: status only", "GET", "/work-dir", 200, None, [],
        content_type="application/json", body_captured=False)
    run(checker, "signing key as text/plain (0.226: the client returns the text)", "GET",
        "/sandbox/sb/signing-key", 200, InvalidJson("k3y"), only(api226, [], no_path), content_type="text/plain")
    # The walk's findings are reconciled with the client's own deserializer (module docstring).
    real = toolbox.client.deserialize
    try:
        def refuse(value: Any, response_type: str) -> None:
            raise ValueError("refused by the client")
        toolbox.client.deserialize = refuse  # type: ignore[method-assign]
        run(toolbox, "client refuses what the walk accepts", "POST", "/process/execute", 200,
            {"exitCode": 0, "result": ""}, ["cannot deserialize ExecuteResponse: ValueError: refused by the client"])
        toolbox.client.deserialize = lambda value, response_type: None  # type: ignore[method-assign]
        run(toolbox, "client accepts what the walk refuses: the client's verdict", "POST", "/process/execute", 200,
            {"exitCode": 3.0, "result": ""}, [])
        run(toolbox, "JSON type rules stay for primitive types", "GET", "/version", 200, {"version": 1},
            ["body['version']: expected string"])
    finally:
        toolbox.client.deserialize = real  # type: ignore[method-assign]
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
    report = check_exchanges(data)
    lines = report.lines()
    want = ["2 spec violations in 2 toolbox responses and 1 control-plane responses",
            "violation toolbox POST /process/execute -> 200: body.exitCode: ExecuteResponse.exitCode expected integer",
            "request is outside the API base http://127.0.0.1:3000/api and every toolboxProxyUrl seen"]
    missing = [w for w in want if not any(w in line for line in lines)]
    ok = not missing and len(report.violations) == 2
    total += 1
    failures += 0 if ok else 1
    print(f"{'ok  ' if ok else 'FAIL'} check_exchanges in toolbox mode: {lines}")
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0


def _main(argv: list[str]) -> int:
    usage = ("usage: spec_check.py --check-file <exchanges.json>\n"
             "       spec_check.py --check-setup   (prints the clients it checks with)\n"
             "       spec_check.py                 (self-test)")
    try:
        if argv[:1] == ["--check-file"] and len(argv) == 2:
            return check_file(argv[1])
        if argv == ["--check-setup"]:
            print(f"{load_client('daytona').describe()}; {load_client('toolbox').describe()}")
            return 0
        if not argv:
            return _self_test()
    except ClientMissing as e:
        print(e, file=sys.stderr)
        return 2
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
