#!/usr/bin/env bash
# Runs the SDK conformance suite against a real `sandbar serve`: sets up the SDK virtualenvs and
# the pinned TypeScript SDK, starts the server on a free loopback port with a throwaway data
# directory and key, runs the control-plane flows under each pinned Python SDK and then under the
# TypeScript SDK, then stops the server with SIGTERM and checks that it shut down cleanly.
# Usage: run.sh <path to the sandbar binary> <cache dir>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib/serve.sh
. "$here/../lib/serve.sh"
binary="$1"
cache="$2"

"$here/setup-python.sh" "$cache"
"$here/setup-node.sh" "$cache"

data="$(mktemp -d /tmp/sandbar-sdk-XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
key="sdk-test-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
log="$data/serve.log"
server=""
# A test host of this suite's own, in a network namespace behind a veth: the only destination
# a sandbox here ever connects to (an HTTP server on 198.18.231.2:8080), allowed by the operator
# flag because the host is directly connected to it.
test_ns="sbsdk-up$$"
test_link="tnsdk$$"
test_host=198.18.231.2
test_http=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "$test_http" ]; then kill "$test_http" 2>/dev/null || true; wait "$test_http" 2>/dev/null || true; fi
  ip link del "$test_link" 2>/dev/null || true
  ip netns del "$test_ns" 2>/dev/null || true
  # A server that died without its graceful shutdown leaves the data disk mounted.
  umount "$data/state/sandboxes" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

ip netns add "$test_ns"
ip link add "$test_link" type veth peer name eth0 netns "$test_ns"
ip addr add 198.18.231.1/30 dev "$test_link"
ip link set "$test_link" up
ip -n "$test_ns" addr add "$test_host/30" dev eth0
ip -n "$test_ns" link set eth0 up
ip -n "$test_ns" link set lo up
ip netns exec "$test_ns" python3 -m http.server 8080 --bind "$test_host" --directory "$data" >/dev/null 2>&1 &
test_http=$!

start_server() {
  # Disk limits enforced: sandbox files on a btrfs data disk (a sparse image, loop-mounted).
  # Sandboxes are networked (the default), but no test may reach past this machine: their
  # resolver forwards to a loopback port where nothing answers, and no flow connects out.
  SANDBAR_API_KEY="$key" "$binary" serve --listen "127.0.0.1:$port" --data-dir "$data/state" --disk-size 16G \
    --dns-upstream 127.0.0.1:9 --network-allow 198.18.231.0/30 >>"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do
    if curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$server" 2>/dev/null; then
      echo "sandbar serve exited before it became healthy; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "sandbar serve never became healthy" >&2
  cat "$log" >&2
  exit 1
}

# api METHOD PATH [JSON BODY] [python expression over `r` to print]: one API call, checked.
api() {
  local body="${3:-}"
  local out
  out="$(curl -sS -X "$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    ${body:+-d "$body"} -w '\n%{http_code}' "http://127.0.0.1:$port/api$2")"
  local code="${out##*$'\n'}"
  local json="${out%$'\n'*}"
  if [ "${code:0:1}" != 2 ]; then
    echo "$1 $2 -> $code: $json" >&2
    return 1
  fi
  if [ -n "${4:-}" ]; then
    python3 -c "import json, sys; r = json.loads(sys.argv[1]); print($4)" "$json"
  fi
}

start_server

status=0
for version in 0.190.0 0.226.1; do
  echo "== Python SDK $version: control plane"
  DAYTONA_API_URL="http://127.0.0.1:$port/api" DAYTONA_API_KEY="$key" \
    "$cache/venv-daytona-$version/bin/python" "$here/control_plane.py" || status=1
done
for version in 0.190.0 0.226.1; do
  echo "== Python SDK $version: toolbox"
  DAYTONA_API_URL="http://127.0.0.1:$port/api" DAYTONA_API_KEY="$key" \
    "$cache/venv-daytona-$version/bin/python" "$here/toolbox.py" || status=1
done
echo "== Python SDK 0.226.1: toolbox calls only 0.226 has"
DAYTONA_API_URL="http://127.0.0.1:$port/api" DAYTONA_API_KEY="$key" \
  "$cache/venv-daytona-0.226.1/bin/python" "$here/toolbox_v226.py" || status=1
echo "== Socket.IO events (python-socketio, as SDK 0.226.1 connects)"
DAYTONA_API_URL="http://127.0.0.1:$port/api" DAYTONA_API_KEY="$key" \
  "$cache/venv-daytona-0.226.1/bin/python" "$here/socketio_events.py" || status=1
ts_version="$(sed -n 's/^[[:space:]]*"@daytonaio\/sdk":[[:space:]]*"\([^"]*\)".*/\1/p' "$here/ts/package.json")"
echo "== TypeScript SDK $ts_version: control plane"
SANDBAR_NODE_DAYTONA="$cache/node-daytona" SANDBAR_SPEC_PYTHON="$cache/venv-daytona-0.226.1/bin/python" \
  DAYTONA_API_URL="http://127.0.0.1:$port/api" DAYTONA_API_KEY="$key" \
  node "$here/ts/control_plane.mjs" || status=1
echo "== TypeScript SDK $ts_version: toolbox"
SANDBAR_NODE_DAYTONA="$cache/node-daytona" SANDBAR_SPEC_PYTHON="$cache/venv-daytona-0.226.1/bin/python" \
  DAYTONA_API_URL="http://127.0.0.1:$port/api" DAYTONA_API_KEY="$key" \
  node "$here/ts/toolbox.mjs" || status=1

toolbox_exec() {
  curl -sS -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$2" \
    "http://127.0.0.1:$port/toolbox/$1/process/execute" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["result"].strip())'
}

echo "== kill -9 and restart"
# Nothing committed may be lost and states must match reality after a crash of the server; a
# sandbox that was running is re-adopted with its processes.
crash_status=0
volume_id="$(api POST /volumes '{"name":"crash-volume"}' 'r["id"]')" || crash_status=1
survivor="$(api POST /sandbox "{\"name\":\"crash-survivor\",\"labels\":{\"keep\":\"me\"},\"volumes\":[{\"volumeId\":\"$volume_id\",\"mountPath\":\"/home/daytona/v\"}]}" 'r["id"]')" || crash_status=1
toolbox_exec "$survivor" '{"command":"echo in-memory > /tmp/note; setsid sleep 1000 > /dev/null 2>&1 < /dev/null & echo $! > /tmp/sleeper"}' >/dev/null
kill -KILL "$server"
wait "$server" 2>/dev/null || true
start_server
state="$(api GET /sandbox/crash-survivor '' 'r["state"] + " " + r["labels"].get("keep", "?")')" || crash_status=1
[ "$state" = "started me" ] || { echo "after kill -9 the sandbox reads '$state', expected 'started me' (re-adopted)" >&2; crash_status=1; }
alive="$(toolbox_exec "$survivor" '{"command":"cat /tmp/note; kill -0 $(cat /tmp/sleeper) && echo sleeper-alive"}')"
[ "$alive" = "in-memory
sleeper-alive" ] || { echo "after re-adoption the sandbox shows '$alive', expected its tmpfs file and process" >&2; crash_status=1; }
api POST /sandbox/crash-survivor/stop >/dev/null || crash_status=1
api GET /volumes/by-name/crash-volume >/dev/null || crash_status=1
api GET /snapshots/default >/dev/null || crash_status=1
started="$(api POST /sandbox/crash-survivor/start '' 'r["state"]')" || crash_status=1
[ "$started" = "started" ] || { echo "restarted sandbox is '$started'" >&2; crash_status=1; }
api DELETE /sandbox/crash-survivor >/dev/null || crash_status=1
api DELETE "/volumes/$volume_id" >/dev/null || crash_status=1
if [ "$crash_status" = 0 ]; then echo "kill -9: running sandbox re-adopted with its processes; labels, volume and snapshot kept; stops and starts again"; else status=1; fi

echo "== network policy: live, and kept across kill -9"
# A connect from the sandbox to the suite's own test host, 5 s bound: prints connected or the
# error's name.
reach() {
  toolbox_exec "$1" "{\"command\":\"python3 -c \\\"import socket\\ntry:\\n  socket.create_connection(('$test_host', 8080), 5); print('connected')\\nexcept OSError as e:\\n  print(type(e).__name__)\\\"\"}"
}
net_status=0
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://$test_host:8080/" 2>/dev/null && break; sleep 0.1; done
walled="$(api POST /sandbox "{\"name\":\"net-walled\",\"networkAllowList\":\"$test_host/32\"}" 'r["id"]')" || net_status=1
[ "$(reach "$walled")" = connected ] || { echo "a sandbox allowed $test_host/32 cannot reach it: $(reach "$walled")" >&2; net_status=1; }
api POST "/sandbox/$walled/network-settings" '{"networkBlockAll":true}' >/dev/null || net_status=1
[ "$(reach "$walled")" = ConnectionRefusedError ] || { echo "blocked live, the sandbox still gets: $(reach "$walled")" >&2; net_status=1; }
kill -KILL "$server"
wait "$server" 2>/dev/null || true
start_server
fields="$(api GET /sandbox/net-walled '' 'r["state"], r["networkBlockAll"], r["networkAllowList"]')" || net_status=1
[ "$fields" = "started True None" ] || { echo "after kill -9 the sandbox reads $fields" >&2; net_status=1; }
[ "$(reach "$walled")" = ConnectionRefusedError ] || { echo "after kill -9 the block is gone: $(reach "$walled")" >&2; net_status=1; }
api POST "/sandbox/$walled/network-settings" '{"networkAllowList":"198.18.231.0/30"}' >/dev/null || net_status=1
[ "$(reach "$walled")" = connected ] || { echo "restored after kill -9, the sandbox gets: $(reach "$walled")" >&2; net_status=1; }
api POST "/sandbox/$walled/stop" >/dev/null || net_status=1
api POST "/sandbox/$walled/start" >/dev/null || net_status=1
[ "$(reach "$walled")" = connected ] || { echo "after stop/start the allowed host is refused: $(reach "$walled")" >&2; net_status=1; }
api DELETE "/sandbox/$walled" >/dev/null || net_status=1
if [ "$net_status" = 0 ]; then echo "network policy: allow list, live block, kept across kill -9 and stop/start, restored live"; else status=1; fi

echo "== kill -9 while an archive is half written"
archive_status=0
sid="$(api POST /sandbox '{"name":"crash-archive"}' 'r["id"]')" || archive_status=1
# Incompressible data makes the archive take long enough to be caught in the middle.
sum_before="$(toolbox_exec "$sid" '{"command":"head -c 300000000 /dev/urandom > ~/big && sha256sum ~/big"}')"
api POST /sandbox/crash-archive/stop >/dev/null || archive_status=1
partial="$data/state/sandboxes/$sid/upper.tar.zst.partial"
curl -sS -o /dev/null -X POST -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/sandbox/$sid/archive" &
archiver=$!
for _ in $(seq 1 3000); do [ -e "$partial" ] && break; sleep 0.01; done
if [ -e "$partial" ]; then kill -KILL "$server"; else echo "the archive never started" >&2; archive_status=1; kill -KILL "$server"; fi
wait "$server" 2>/dev/null || true
wait "$archiver" 2>/dev/null || true
start_server
state="$(api GET /sandbox/crash-archive '' 'r["state"]')" || archive_status=1
[ ! -e "$partial" ] || { echo "the half-written archive was left behind" >&2; archive_status=1; }
case "$state" in
  stopped|archived) ;;
  *) echo "after kill -9 mid-archive the sandbox is '$state', expected stopped (rolled back) or archived" >&2; archive_status=1 ;;
esac
api POST /sandbox/crash-archive/start >/dev/null || archive_status=1
sum_after="$(toolbox_exec "$sid" '{"command":"sha256sum ~/big"}')"
[ -n "$sum_before" ] && [ "$sum_before" = "$sum_after" ] || { echo "file changed: '$sum_before' vs '$sum_after'" >&2; archive_status=1; }
api POST /sandbox/crash-archive/stop >/dev/null || archive_status=1
archived="$(api POST /sandbox/crash-archive/archive '' 'r["state"]')" || archive_status=1
[ "$archived" = "archived" ] || { echo "archive after recovery gave '$archived'" >&2; archive_status=1; }
api DELETE /sandbox/crash-archive >/dev/null || archive_status=1
if [ "$archive_status" = 0 ]; then echo "kill -9 mid-archive: rolled back to '$state', 300 MB file intact, archives again"; else status=1; fi

# Leave one sandbox running so the shutdown path has something to stop.
api POST /sandbox '{"name":"left-running"}' >/dev/null
echo "== graceful shutdown"
stop_server_gracefully || status=1
if pgrep -f '^sandbar-init' >/dev/null && [ -n "$(find "$data/state/sandboxes" -name running.json 2>/dev/null)" ]; then
  echo "sandboxes still run after shutdown" >&2
  status=1
fi
if mountpoint -q "$data/state/sandboxes"; then
  echo "the data disk is still mounted after shutdown" >&2
  status=1
fi
if [ "$status" = 0 ]; then echo "shutdown: clean (running sandboxes stopped, files kept, data disk unmounted)"; fi
exit "$status"
