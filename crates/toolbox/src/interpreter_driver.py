# Sandbar's code-interpreter driver: one long-lived Python process per interpreter context.
# It reads one JSON request per line on stdin ({"code": ..., "envs": {...}}), runs the code in the
# context's persistent globals, and writes JSON events, one per line, to its original stdout:
#   {"type": "stdout" | "stderr", "text": ...}
#   {"type": "error", "name": ..., "value": ..., "traceback": ...}
#   {"type": "control", "text": "completed" | "interrupted"}
# SIGINT (sent by the host on a timeout) interrupts the running code and keeps the context.
import json
import os
import sys
import traceback

_events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")


def _emit(event):
    _events.write(json.dumps(event) + "\n")
    _events.flush()


class _Stream:
    def __init__(self, name):
        self.name = name

    def write(self, text):
        if text:
            _emit({"type": self.name, "text": text})
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
            "name": type(_error).__name__,
            "value": str(_error),
            "traceback": "".join(traceback.format_exception(type(_error), _error, _error.__traceback__)),
        })
    finally:
        os.environ.clear()
        os.environ.update(_saved_env)
    _emit({"type": "control", "text": _status})
