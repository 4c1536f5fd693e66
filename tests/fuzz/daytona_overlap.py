"""Checks Sandbar's served OpenAPI document against Daytona's published specs where they overlap.

For every path and method both have (Sandbar's /api/X is the API spec's X, its
/toolbox/{sandboxId}X the toolbox spec's X), it compares: the path parameters (names, in order),
the success status codes, for each property Daytona's success response requires that Sandbar's
response schema also has the JSON type, and that Sandbar's request body has every property
Daytona's requires. Deliberate differences are in ALLOWED with a reason; an entry that no longer
matches a difference fails too, so the list stays true. A missing spec file fails.

Runs with the fuzz venv's python (PyYAML comes with schemathesis). Usage: daytona_overlap.py
<sandbar openapi.json> <directory of daytona-openapi.yaml and toolbox-swagger.yaml>.
"""

import json
import os
import re
import sys

import yaml

# (method, Daytona path, check, detail) -> why Sandbar differs on purpose. The detail of a property
# check is the property's name.
WEBSOCKET_LOGS = (
    "with ?follow=true the daemon upgrades to a WebSocket; its swagger leaves the 101 out, ours "
    "declares both answers"
)
ALLOWED = {
    ("GET", "/process/session/{sessionId}/command/{commandId}/logs", "status", "['101', '200'] vs Daytona's ['200']"):
        WEBSOCKET_LOGS,
    ("GET", "/process/session/entrypoint/logs", "status", "['101', '200'] vs Daytona's ['200']"): WEBSOCKET_LOGS,
}

COUNTS = {"properties": 0, "request": 0}
SUCCESS = re.compile(r"^(1\d\d|2\d\d)$")


def load(path):
    if not os.path.isfile(path):
        sys.exit(f"daytona_overlap.py: {path} is missing: SANDBAR_DAYTONA_SPEC_DIR must hold Daytona's published "
                 "specs (daytona-openapi.yaml, toolbox-swagger.yaml) for this check")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def normalize(path):
    return re.sub(r"\{[^}]*\}", "{}", path)


def params_of(path):
    return re.findall(r"\{([^}]*)\}", path)


class Spec:
    """One document, with $ref resolution for OpenAPI 3 (components) and Swagger 2 (definitions)."""

    def __init__(self, document):
        self.document = document

    def resolve(self, schema, depth=0):
        while isinstance(schema, dict) and "$ref" in schema and depth < 20:
            parts = schema["$ref"].lstrip("#/").split("/")
            target = self.document
            for part in parts:
                target = target[part]
            schema, depth = target, depth + 1
        return schema or {}

    def types(self, schema):
        """The JSON types a schema allows ('object' for $ref'd objects, all branches of oneOf/anyOf/allOf)."""
        schema = self.resolve(schema)
        found = set()
        for key in ("oneOf", "anyOf"):
            for branch in schema.get(key, []):
                found |= self.types(branch)
        for branch in schema.get("allOf", []):
            found |= self.types(branch)
        kind = schema.get("type")
        if isinstance(kind, list):
            found |= set(kind)
        elif kind:
            found.add(kind)
        elif "properties" in schema or "additionalProperties" in schema:
            found.add("object")
        elif "enum" in schema:
            found.add("string")
        if schema.get("nullable"):
            found.add("null")
        return found

    def object_of(self, schema):
        """(properties, required) of an object schema, or of an array's items."""
        schema = self.resolve(schema)
        if schema.get("type") == "array":
            schema = self.resolve(schema.get("items", {}))
        for branch in schema.get("allOf", []):
            props, required = self.object_of(branch)
            if props:
                return props, required
        return schema.get("properties", {}), schema.get("required", [])


def success_schema(response, swagger2):
    if swagger2:
        return response.get("schema")
    content = response.get("content", {})
    for mime in ("application/json", "*/*"):
        if mime in content:
            return content[mime].get("schema")
    return None


def request_schema(op, swagger2):
    if swagger2:
        for parameter in op.get("parameters", []):
            if parameter.get("in") == "body":
                return parameter.get("schema")
        return None
    return op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")


def compare(ours, theirs, prefix, swagger2, report):
    mine, other = Spec(ours), Spec(theirs)
    our_ops = {}
    for path, item in ours["paths"].items():
        if not path.startswith(prefix):
            continue
        for method, op in item.items():
            our_ops[(method.upper(), normalize(path[len(prefix):]))] = (path, op)
    matched = 0
    for path, item in theirs["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            key = (method.upper(), normalize(path))
            if key not in our_ops:
                continue
            matched += 1
            our_path, our_op = our_ops[key]
            where = (method.upper(), path)
            our_params = [p for p in params_of(our_path[len(prefix):])]
            if our_params != params_of(path):
                report(where, "path parameters", f"{our_params} vs Daytona's {params_of(path)}")
            their_codes = sorted(c for c in op.get("responses", {}) if SUCCESS.match(str(c)))
            our_codes = sorted(c for c in our_op.get("responses", {}) if SUCCESS.match(str(c)))
            if [str(c) for c in their_codes] != [str(c) for c in our_codes]:
                report(where, "status", f"{our_codes} vs Daytona's {their_codes}")
            for code in their_codes:
                their_schema = success_schema(op["responses"][code], swagger2)
                our_response = our_op.get("responses", {}).get(str(code))
                if their_schema is None or our_response is None:
                    continue
                our_schema = success_schema(our_response, False)
                if our_schema is None:
                    continue
                their_props, their_required = other.object_of(their_schema)
                our_props, _ = mine.object_of(our_schema)
                for name in their_required:
                    if name not in our_props or name not in their_props:
                        continue
                    COUNTS["properties"] += 1
                    want, have = other.types(their_props[name]), mine.types(our_props[name])
                    want.discard("null")
                    if want and not want <= have and not (want == {"number"} and "integer" in have):
                        report(where, f"response {code} property", f"{name}: {sorted(have)} vs Daytona's {sorted(want)}")
            their_body = request_schema(op, swagger2)
            if their_body is not None:
                our_body = our_op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                their_props, their_required = other.object_of(their_body)
                our_props = mine.object_of(our_body)[0] if our_body else {}
                for name in their_required:
                    COUNTS["request"] += 1
                    if name not in our_props:
                        report(where, "request property", f"{name} (required by Daytona) is not in our body")
    return matched


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: daytona_overlap.py <openapi.json> <spec dir>")
    with open(sys.argv[1], encoding="utf-8") as f:
        ours = json.load(f)
    api = load(os.path.join(sys.argv[2], "daytona-openapi.yaml"))
    toolbox = load(os.path.join(sys.argv[2], "toolbox-swagger.yaml"))
    differences, allowed_seen = [], set()

    def report(where, check, detail):
        key = (where[0], where[1], check, detail.split(":")[0] if "property" in check else detail)
        if key in ALLOWED:
            allowed_seen.add(key)
        else:
            differences.append(f"{where[0]} {where[1]}: {check}: {detail}")

    matched = compare(ours, api, "/api", False, report)
    matched += compare(ours, toolbox, "/toolbox/{sandboxId}", True, report)
    stale = [k for k in ALLOWED if k not in allowed_seen]
    for difference in differences:
        print(f"difference: {difference}", file=sys.stderr)
    for key in stale:
        print(f"allow-list entry matches no difference any more: {key}", file=sys.stderr)
    print(f"{matched} operations in both documents ({COUNTS['properties']} response properties and "
          f"{COUNTS['request']} required request properties compared); {len(allowed_seen)} allowed "
          f"differences, {len(differences)} others")
    sys.exit(1 if differences or stale else 0)


if __name__ == "__main__":
    main()
