# Sandbar's code-interpreter driver: one long-lived Python process per interpreter context.
# It reads one JSON request per line on stdin ({"code": ..., "envs": {...}}), runs the code in the
# context's persistent globals, and writes JSON events, one per line, to its original stdout:
#   {"type": "stdout" | "stderr", "text": ...}
#   {"type": "error", "name": ..., "value": ..., "traceback": ...}
#   {"type": "control", "text": "completed" | "interrupted"}
# SIGINT (sent by the host on a timeout) interrupts the running code and keeps the context.
# Every event line stays far below the host's 1 MiB line limit, even with every character
# JSON-escaped (12 bytes at most): output is cut into events of _PIECE characters, and an
# error's fields are shortened with a marker.
import json
import os
import sys
import traceback

_events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
_PIECE = 16384


def _head(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + "[sandbar: %d more characters cut]" % (len(text) - limit)


def _tail(text, limit):
    if len(text) <= limit:
        return text
    return "[sandbar: %d characters cut]" % (len(text) - limit) + text[-limit:]


def _emit(event):
    _events.write(json.dumps(event) + "\n")
    _events.flush()


class _Stream:
    def __init__(self, name):
        self.name = name

    def write(self, text):
        for start in range(0, len(text), _PIECE):
            _emit({"type": self.name, "text": text[start:start + _PIECE]})
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


sys.stdout = _Stream("stdout")
sys.stderr = _Stream("stderr")
_globals = {"__name__": "__main__", "__builtins__": __builtins__}
_emit({"type": "control", "text": "ready"})

for _line in sys.stdin:
    try:
        _request = json.loads(_line)
    except ValueError:
        continue
    _saved_env = dict(os.environ)
    os.environ.update({str(k): str(v) for k, v in (_request.get("envs") or {}).items()})
    _status = "completed"
    try:
        exec(compile(_request.get("code", ""), "<cell>", "exec"), _globals)
    except KeyboardInterrupt:
        _status = "interrupted"
    except BaseException as _error:  # SystemExit too: the context survives a stray exit()
        _emit({
            "type": "error",
            "name": _head(type(_error).__name__, 256),
            "value": _head(str(_error), _PIECE),
            "traceback": _tail("".join(traceback.format_exception(type(_error), _error, _error.__traceback__)), 2 * _PIECE),
        })
    finally:
        os.environ.clear()
        os.environ.update(_saved_env)
    _emit({"type": "control", "text": _status})
