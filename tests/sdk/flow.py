"""Shared pieces of the Python SDK flows in this folder.

* `Steps`: the step runner of toolbox.py, toolbox_v226.py and socketio_events.py. `step(name,
  check)` runs one check, which returns None when it passed or a detail string when it did not (an
  exception fails the step with its type and message); `check(name, ok, detail)` records an outcome
  the flow worked out itself. Each prints `ok NAME` or `FAIL NAME: detail`. With a recorder
  (toolbox_capture.Recorder) the recorder's current step follows the runner, and `finish()` first
  checks everything recorded against the specs (the summary line and one line per distinct
  violation) and fails `capture-hook` when no toolbox response was recorded. `finish()` then prints
  `N passed, M failed` and exits 0 when every step passed and no spec violation was recorded, else 1.
* `expect(actual, wanted)`: the detail of a check that compares one value with the wanted one.
* `hook(cls, name, after)`: wraps a method of an SDK class (below the SDK, nothing in it is
  modified) so that each response it returns is also handed to `after`; the capture hooks of
  toolbox_capture.py and control_plane.py are built on it.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, NoReturn


def expect(actual: Any, wanted: Any) -> str | None:
    return None if actual == wanted else f"got {actual!r}, wanted {wanted!r}"


class Steps:
    def __init__(self, recorder: Any = None):
        self.recorder = recorder
        self.results: list[bool] = []

    def check(self, name: str, ok: bool, detail: Any = "") -> None:
        self.results.append(ok)
        print(f"ok {name}" if ok else f"FAIL {name}: {detail}")

    def step(self, name: str, check: Callable[[], str | None]) -> None:
        self._at(name)
        try:
            detail = check()
            ok = detail is None
        except Exception as error:  # a failed step is reported; the run goes on
            ok, detail = False, f"{type(error).__name__}: {error}"
        self._at("between-steps")
        self.check(name, ok, detail)

    def _at(self, name: str) -> None:
        if self.recorder is not None:
            self.recorder.step = name

    def finish(self) -> NoReturn:
        violations = 0
        if self.recorder is not None:
            spec = self.recorder.report()
            violations = len(spec.violations)
            if not spec.toolbox_count:
                self.check("capture-hook", False, "no toolbox response was recorded; the hooks "
                           f"({', '.join(self.recorder.hooks)}) are not in the SDK's path")
        passed = sum(self.results)
        print(f"{passed} passed, {len(self.results) - passed} failed")
        sys.exit(0 if passed == len(self.results) and not violations else 1)


def hook(cls: Any, name: str, after: Callable[..., None]) -> None:
    """Replaces `cls.<name>` by a wrapper that calls the original, then `after(response, *args,
    **kwargs)` with what it returned and the arguments it got (without self), and returns the
    response. Installing it twice keeps one wrapper."""
    original = getattr(cls, name)
    if getattr(original, "_sandbar_capture", False):
        return

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, *args, **kwargs)
        after(response, *args, **kwargs)
        return response

    wrapper._sandbar_capture = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapper)
