#!/usr/bin/env bash
# Fuzzes every route of Sandbar's own OpenAPI document with schemathesis against a real `sandbar
# serve` on a loopback port (throwaway data directory and key): no 5xx, no request slower than
# 30 s, no crash, the whole run bounded in time. First the served document is checked against
# Daytona's published specs where they overlap (daytona_overlap.py, when SANDBAR_DAYTONA_SPEC_DIR
# names them; CI always does). Afterwards the server must
# still answer, every sandbox the run made is deleted (also when it fails), and SIGTERM must stop
# the server cleanly. hooks.py points most requests at two prepared sandboxes, forces
# networkBlockAll on every sandbox and keeps git remotes local (nothing but loopback is reached).
# Usage: run.sh <path to the sandbar binary> <cache dir>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib/serve.sh
. "$here/../lib/serve.sh"
repo="$(cd "$here/../.." && pwd)"
binary="$1"
cache="$2"
version=4.32.5
venv="$cache/venv-schemathesis-$version"

# The pinned schemathesis in a cached venv, rebuilt only when missing or of another version.
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$version" ]; then
  echo "== $venv: installing schemathesis==$version"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi

data="$(mktemp -d /tmp/sandbar-fuzz-XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
key="fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
base="http://127.0.0.1:$port"
log="$data/serve.log"
server=""

# api METHOD PATH [JSON BODY] [python expression over `r` to print]: one checked API call.
api() {
  local body="${3:-}" out code json
  out="$(curl -sS --max-time 60 -X "$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    ${body:+-d "$body"} -w '\n%{http_code}' "$base/api$2")"
  code="${out##*$'\n'}"
  json="${out%$'\n'*}"
  if [ "${code:0:1}" != 2 ]; then
    echo "$1 $2 -> $code: $json" >&2
    return 1
  fi
  if [ -n "${4:-}" ]; then
    python3 -c "import json, sys; r = json.loads(sys.argv[1]); print($4)" "$json"
  fi
}

# Deletes every sandbox of the fuzz key's organization; prints how many it deleted.
delete_all_sandboxes() {
  local ids count=0
  ids="$(api GET '/sandbox?limit=200' '' '"\n".join(s["id"] for s in r["items"])')" || return 1
  for id in $ids; do
    api DELETE "/sandbox/$id" >/dev/null && count=$((count + 1))
  done
  echo "$count"
}

cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    delete_all_sandboxes >/dev/null 2>&1 || true
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  # A server that died without its graceful shutdown leaves the data disk mounted.
  umount "$data/state/sandboxes" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

# Sandboxes are networked (the default), but no test may reach past this machine: their
# resolver forwards to a loopback port where nothing answers, and no flow connects out.
SANDBAR_API_KEY="$key" "$binary" serve --listen "127.0.0.1:$port" --data-dir "$data/state" --disk-size 16G \
  --dns-upstream 127.0.0.1:9 >>"$log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
  if curl -fsS "$base/api/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "sandbar serve exited before it became healthy; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "$base/api/health" >/dev/null || { echo "sandbar serve never became healthy" >&2; cat "$log" >&2; exit 1; }

status=0
curl -fsS "$base/api-json" -o "$data/openapi.json"
# Daytona's published specs are data outside this repository: the check runs where
# SANDBAR_DAYTONA_SPEC_DIR names them (.ci/run always sets it, and fails without them).
if [ -n "${SANDBAR_DAYTONA_SPEC_DIR:-}" ]; then
  echo "== the served document against Daytona's published specs in $SANDBAR_DAYTONA_SPEC_DIR"
  "$venv/bin/python" "$here/daytona_overlap.py" "$data/openapi.json" "$SANDBAR_DAYTONA_SPEC_DIR" || status=1
else
  echo "== the served document against Daytona's published specs: NOT RUN (SANDBAR_DAYTONA_SPEC_DIR is not set;"
  echo "   point it at a directory with daytona-openapi.yaml and toolbox-swagger.yaml; CI sets it)"
fi

# The toolbox routes run in one started sandbox, the lifecycle routes on another; both have
# their network blocked.
toolbox_id="$(api POST /sandbox '{"name":"fuzz-toolbox","networkBlockAll":true}' 'r["id"]')"
lifecycle_id="$(api POST /sandbox '{"name":"fuzz-lifecycle","networkBlockAll":true}' 'r["id"]')"

echo "== schemathesis $version over $(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(sum(len(v) for v in d["paths"].values()))' "$data/openapi.json") operations"
started=$(date +%s)
# --max-time bounds the fuzzing (SANDBAR_FUZZ_SECONDS, default 200, so the whole script stays
# under 6 minutes); the outer timeout is the hard stop should a request hang past its own
# timeout. Two workers: this is a 2-core machine that also runs the server. The seed is fixed
# (SANDBAR_FUZZ_SEED to explore elsewhere) so a failure reproduces.
seconds="${SANDBAR_FUZZ_SECONDS:-200}"
# schemathesis keeps its example database in the working directory: the throwaway one.
cd "$data"
if ! PYTHONPATH="$here" SCHEMATHESIS_HOOKS=hooks SANDBAR_FUZZ_BASE="$base" SANDBAR_FUZZ_KEY="$key" \
  SANDBAR_FUZZ_TOOLBOX_ID="$toolbox_id" SANDBAR_FUZZ_LIFECYCLE_ID="$lifecycle_id" \
  SANDBAR_FUZZ_COUNT_FILE="$data/created" \
  timeout --kill-after 10 $((seconds + 60)) "$venv/bin/st" run "$data/openapi.json" --url "$base" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error --max-response-time 30 --request-timeout 30 \
  --phases examples,coverage,fuzzing --max-examples 25 --max-time "$seconds" --workers 2 \
  --seed "${SANDBAR_FUZZ_SEED:-19}" \
  --no-shrink --suppress-health-check all --warnings off \
  --report junit --report-dir "$data/report" >"$data/schemathesis.log" 2>&1; then
  echo "schemathesis found failures (or did not finish); its output:" >&2
  cat "$data/schemathesis.log" >&2
  status=1
else
  tail -25 "$data/schemathesis.log"
fi
cd "$repo"
echo "fuzzing took $(($(date +%s) - started)) s; the fuzzer created $(cat "$data/created" 2>/dev/null || echo '?') sandboxes (each deleted at once)"

echo "== the server after fuzzing"
if ! kill -0 "$server" 2>/dev/null; then
  echo "sandbar serve died during the fuzz run; its log:" >&2
  tail -50 "$log" >&2
  server=""
  exit 1
fi
api GET /health >/dev/null || status=1
api GET /sandbox >/dev/null || status=1
# A new sandbox still starts and runs a command.
check_id="$(api POST /sandbox '{"name":"fuzz-after","networkBlockAll":true}' 'r["id"]')" || status=1
answer="$(curl -sS --max-time 60 -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"command":"echo alive"}' "$base/toolbox/$check_id/process/execute" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["result"].strip())')" || true
[ "$answer" = alive ] || { echo "after fuzzing a new sandbox answers '$answer', expected 'alive'" >&2; status=1; }
deleted="$(delete_all_sandboxes)" || status=1
left="$(api GET /sandbox '' 'len(r["items"])')" || status=1
[ "$left" = 0 ] || { echo "$left sandboxes are left after deleting them all" >&2; status=1; }
echo "deleted ${deleted:-?} sandboxes; the server answers"

stop_server_gracefully || status=1
if [ "$status" = 0 ]; then echo "fuzz: no 5xx, no hang, no crash; clean shutdown"; fi
exit "$status"
