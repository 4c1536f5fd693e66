# Shell helpers shared by the suites that run a real `sandbar serve` (tests/sdk, tests/fuzz).
# Source it; the caller keeps the server's pid in `server` and its log file in `log`.

# Stops the server with SIGTERM and checks it exits cleanly within 60 s; clears `server`.
# Returns 1 (after saying why, with the log's tail) when it did not.
stop_server_gracefully() {
  local ok=0 code
  kill -TERM "$server"
  if ! timeout 60 tail --pid="$server" -f /dev/null; then
    echo "sandbar serve did not exit within 60 s of SIGTERM" >&2
    ok=1
  fi
  wait "$server" && code=0 || code=$?
  server=""
  if [ "$code" != 0 ]; then
    echo "sandbar serve exited with $code after SIGTERM; its log:" >&2
    tail -20 "$log" >&2
    ok=1
  fi
  return "$ok"
}
