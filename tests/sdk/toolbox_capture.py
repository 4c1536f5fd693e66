"""Records every HTTP response the official Python SDK receives in the toolbox flows (toolbox.py,
toolbox_v226.py) and checks them with spec_check.py: toolbox responses against the generated toolbox
client (`daytona_toolbox_api_client`, daemon path = request path minus `{toolboxProxyUrl}/{sandboxId}`),
control-plane responses (creating, forking, snapshotting the sandboxes) against the generated
control-plane client (`daytona_api_client`), both as installed with the SDK in the running venv.

Nothing in the SDK is modified. The hooks (flow.hook) wrap, below the SDK, the three places its
sync client sends requests through:

* `daytona_api_client.rest.RESTClientObject.request`: the generated control-plane client;
* `daytona_toolbox_api_client.rest.RESTClientObject.request`: the generated toolbox client
  (process, sessions, git, file info/list/move, interpreter contexts, PTY REST calls, ...);
* `httpx.Client.send`: the SDK's shared httpx client, which carries file uploads and downloads
  (`/files/bulk-upload`, `/files/bulk-download`) and, through httpx_ws, every WebSocket upgrade
  (PTY connect, followed session/entrypoint logs, the code interpreter).

The REST wrappers read the body once (urllib3 caches it, so the generated code's own read() gets
the same bytes), exactly as control_plane.py's capture does. For a streamed httpx response the
body is read only when the status is >= 400 (httpx keeps it, so the SDK's later read or
iter_bytes() sees the same bytes); a 101 upgrade and a streamed 2xx body (a multipart download)
are recorded without a body, and spec_check checks only their status. Requests the flows send
themselves with urllib (signed URLs, without the SDK) are recorded with `record()` too.

SANDBAR_SDK_TRACE=1 prints every recorded exchange.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import flow
import spec_check


class Recorder:
    def __init__(self, api_url: str):
        self.api_url = api_url
        self.step = "setup"
        self.exchanges: list[dict[str, Any]] = []
        self.trace = os.environ.get("SANDBAR_SDK_TRACE") == "1"
        self.hooks: list[str] = []

    @classmethod
    def from_env(cls) -> "Recorder":
        api_url = os.environ.get("DAYTONA_API_URL", "")
        if not api_url or not os.environ.get("DAYTONA_API_KEY"):
            print("set DAYTONA_API_URL (e.g. http://127.0.0.1:3000/api) and DAYTONA_API_KEY", file=sys.stderr)
            sys.exit(2)
        return cls(api_url.rstrip("/"))

    # ---- hooks ---------------------------------------------------------------------------------

    def install(self) -> None:
        """Installs the hooks; call before the first Daytona client is built."""
        import daytona_api_client.rest as api_rest
        import daytona_toolbox_api_client.rest as toolbox_rest
        import httpx

        for name, module in (("daytona_api_client", api_rest), ("daytona_toolbox_api_client", toolbox_rest)):
            flow.hook(module.RESTClientObject, "request", self._rest_response)
            self.hooks.append(f"{name}.rest.RESTClientObject.request")
        flow.hook(httpx.Client, "send", self._httpx_response)
        self.hooks.append("httpx.Client.send")

    def _rest_response(self, response: Any, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        raw = response.read()
        headers = response.headers
        self.record(method, url, response.status, raw, headers.get("content-type") if headers else "")

    def _httpx_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        request = args[0] if args else kwargs.get("request")
        streamed = bool(kwargs.get("stream", False))
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        if not streamed:
            raw, captured = response.content, True
        elif status >= 400:
            raw, captured = response.read(), True
        else:
            raw, captured = None, False  # a WebSocket upgrade or a streamed (multipart) download
        self.record(request.method, str(request.url), status, raw, content_type, captured=captured)

    # ---- recording and checking ------------------------------------------------------------------

    def record(self, method: str, url: str, status: int, raw: bytes | None, content_type: str | None,
               captured: bool = True, via: str = "") -> None:
        """Records one exchange (in spec_check's --check-file format). `via` names a non-SDK sender."""
        text = None if raw is None else raw.decode("utf-8", errors="replace")
        step = f"{self.step} ({via})" if via else self.step
        self.exchanges.append({
            "step": step, "method": method.upper(), "url": str(url), "status": int(status),
            "contentType": content_type or "", "text": text if captured else None, "bodyCaptured": captured,
        })
        if self.trace:
            media = (content_type or "").lower()
            if not captured:
                shown = "<not captured>"
            elif raw and not any(t in media for t in ("json", "text/", "xml")):
                shown = f"<{len(raw)} bytes {content_type or 'without content type'}>"
            else:
                shown = (text or "")[:300]
            print(f"  .. {method.upper()} {url} -> {status} {shown}", flush=True)

    def report(self) -> spec_check.ExchangeReport:
        """Checks everything recorded; prints the summary line and one line per distinct violation."""
        self.step = "report"
        report = spec_check.check_exchanges({"apiUrl": self.api_url, "toolboxUrls": [], "exchanges": self.exchanges})
        for line in report.lines():
            print(line, flush=True)
        return report
