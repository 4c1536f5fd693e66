"""Schemathesis hooks of the fuzz run (tests/fuzz/run.sh), applied to every generated request
right before it is sent:

* most toolbox requests go to the prepared running sandbox, most control-plane requests that
  name a sandbox to the prepared lifecycle sandbox (random ids alone would only ever see 404s);
* every sandbox the fuzzer creates or reconfigures has networkBlockAll forced on, and git remotes
  (clone URLs, added remotes, push/pull remote names, remote.*/url.* config keys) are kept to
  local paths, so nothing but loopback is ever contacted even once sandboxes get a network;
* every sandbox the fuzzer creates or forks is deleted as soon as the answer arrives, so at most
  one per worker lives besides the two prepared ones; after MAX_CREATED creations, create
  bodies name a snapshot that does not exist (still fuzzing the validation, creating nothing).
  The count is written to $SANDBAR_FUZZ_COUNT_FILE at exit.
"""

import atexit
import json
import os
import random

import requests
import schemathesis

BASE = os.environ["SANDBAR_FUZZ_BASE"]
KEY = os.environ["SANDBAR_FUZZ_KEY"]
TOOLBOX_ID = os.environ["SANDBAR_FUZZ_TOOLBOX_ID"]
LIFECYCLE_ID = os.environ["SANDBAR_FUZZ_LIFECYCLE_ID"]
KEEP = {TOOLBOX_ID, LIFECYCLE_ID}
LOCAL_REPO = "/tmp/fuzz-no-such-repo"
MAX_CREATED = 60
CREATED = {"count": 0}
# A generator of its own: hypothesis warns about (and resets) the global one inside tests.
RNG = random.Random(19)


@atexit.register
def _write_count():
    path = os.environ.get("SANDBAR_FUZZ_COUNT_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{CREATED['count']}\n")


def _set(body, key, value):
    if isinstance(body, dict):
        body[key] = value


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    method = case.operation.method.upper()
    params = case.path_parameters if isinstance(case.path_parameters, dict) else None
    if params is not None:
        if path.startswith("/toolbox/{sandboxId}") and RNG.random() < 0.9:
            params["sandboxId"] = TOOLBOX_ID
        elif path.startswith("/api/sandbox/") and RNG.random() < 0.8:
            for name in ("sandboxIdOrName", "sandboxId"):
                if name in params:
                    params[name] = LIFECYCLE_ID
    body = case.body
    if (method, path) == ("POST", "/api/sandbox"):
        _set(body, "networkBlockAll", True)
        if isinstance(body, dict):
            body.pop("networkAllowList", None)
            if CREATED["count"] >= MAX_CREATED:
                body["snapshot"] = "fuzz-no-such-snapshot"
    elif path.endswith("/fork") and CREATED["count"] >= MAX_CREATED and params is not None:
        params["sandboxIdOrName"] = "fuzz-no-such-sandbox"
    elif path.endswith("/network-settings"):
        _set(body, "networkBlockAll", True)
    elif path.endswith("/git/clone") or (method, path) == ("POST", "/toolbox/{sandboxId}/git/remotes"):
        _set(body, "url", LOCAL_REPO)
    elif path.endswith("/git/push") or path.endswith("/git/pull"):
        # A remote name git does not know is taken as a URL ("host:path" is ssh).
        if isinstance(body, dict) and body.get("remote") is not None:
            body["remote"] = "origin"
    elif (method, path) == ("POST", "/toolbox/{sandboxId}/git/config"):
        if isinstance(body, dict) and str(body.get("key", "")).lower().startswith(("remote.", "url.")):
            body["key"] = "fuzz.key"


@schemathesis.hook
def after_call(context, case, response):
    path = case.operation.path
    if case.operation.method.upper() != "POST" or response.status_code != 200:
        return
    if path not in ("/api/sandbox", "/api/sandbox/{sandboxIdOrName}/fork"):
        return
    try:
        created = json.loads(response.content).get("id")
    except (ValueError, AttributeError):
        return
    if created and created not in KEEP:
        CREATED["count"] += 1
        requests.delete(f"{BASE}/api/sandbox/{created}", headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
