"""Wrapping a per-batch function of a run to count its calls or to stop the run part-way (the
interrupted-run tests of sample, design and scaffold)."""

from __future__ import annotations

from typing import Any, Callable, Optional


class CallCounter:
    """Calls ``fn`` and counts the calls in ``calls``; with ``die_after=n``, call n + 1 raises
    KeyboardInterrupt instead (as Ctrl-C during that batch would)."""

    def __init__(self, fn: Callable, die_after: Optional[int] = None) -> None:
        self.fn, self.die_after, self.calls = fn, die_after, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.die_after is not None and self.calls > self.die_after:
            raise KeyboardInterrupt
        return self.fn(*args, **kwargs)
