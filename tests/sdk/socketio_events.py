"""Socket.IO gateway check: the `python-socketio` client that SDK 0.226.1 itself depends on
connects to `/api/socket.io/` the way the SDK does (websocket transport, key in the CONNECT
`auth` payload) and must receive `sandbox.created` and `sandbox.state.updated` events for its own
organization's sandboxes; a wrong key is refused at CONNECT. Run with the 0.226.1 venv's Python
and DAYTONA_API_URL / DAYTONA_API_KEY set; prints `N passed, M failed` last (the checks are
counted by flow.py).
"""
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import socketio

sys.dont_write_bytecode = True  # no __pycache__ in the repository for the local module below
sys.path.insert(0, str(Path(__file__).resolve().parent))

import flow  # noqa: E402  (local module, needs the path above)

api_url = os.environ["DAYTONA_API_URL"].rstrip("/")
key = os.environ["DAYTONA_API_KEY"]
parsed = urllib.parse.urlparse(api_url)
origin = f"{parsed.scheme}://{parsed.netloc}"
socket_path = parsed.path + "/socket.io/"
steps = flow.Steps()
check = steps.check


def api(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api_url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


events = []
client = socketio.Client()


@client.on("*")
def on_any(event, data):
    sandbox = data.get("sandbox", data)
    events.append((event, sandbox.get("id"), data.get("newState", sandbox.get("state"))))


try:
    client.connect(origin, socketio_path=socket_path, transports=["websocket"], auth={"token": key}, wait_timeout=10)
    check("connect with the API key", client.connected)
    sandbox = api("POST", "/sandbox", {"labels": {"test": "socketio"}})
    api("POST", f"/sandbox/{sandbox['id']}/stop")
    api("DELETE", f"/sandbox/{sandbox['id']}")
    deadline = time.time() + 10
    while time.time() < deadline and not any(e[2] == "destroyed" for e in events):
        time.sleep(0.05)
    mine = [(name, state) for name, sid, state in events if sid == sandbox["id"]]
    check("sandbox.created is pushed", ("sandbox.created", "creating") in mine, mine)
    wanted = ["started", "stopping", "stopped", "destroying", "destroyed"]
    seen = [state for name, state in mine if name == "sandbox.state.updated"]
    check("every state change is pushed in order", seen == wanted, f"saw {seen}, wanted {wanted}")
    client.disconnect()
except Exception as error:  # reported as a failure, the run goes on
    check("socket.io round trip", False, repr(error))

# A wrong key is refused at CONNECT: the server answers CONNECT_ERROR with its reason
# (python-socketio raises ConnectionError and hands the reason to the connect_error handler), so
# the client never holds a connection.
intruder = socketio.Client()
refusals = []
intruder.on("connect_error", lambda data: refusals.append(data))
try:
    intruder.connect(origin, socketio_path=socket_path, transports=["websocket"], auth={"token": "not-a-key"}, wait_timeout=5)
    check("a wrong key is refused at connect", False, f"connected (connected={intruder.connected})")
    intruder.disconnect()
except socketio.exceptions.ConnectionError as error:
    reasons = [r.get("message") if isinstance(r, dict) else r for r in refusals]
    check("a wrong key is refused at connect", not intruder.connected and "invalid API key" in reasons,
          f"{error!r}, reasons {reasons}")
steps.finish()
