"""Quicker GIL hand-offs while a big batch is encoded on one thread and gzipped on another.

CPython gives the GIL to a thread that asks for it only once the thread holding it has
run for the switch interval (5 ms by default) or lets go by itself. In a batch pipeline
(`_protocol.BatchPipeline`) the gzip thread asks each time zlib hands a run back, and
the encoding thread runs Python without a pause, so at 5 ms the gzip thread spent more
time waiting for the GIL than compressing, and the overlap saved next to nothing. For
as long as a pipeline runs, the interval is lowered to `SWITCH_INTERVAL` (never
raised), then put back. The interval is the whole process's; a shorter one only means threads take
turns more often.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SWITCH_INTERVAL", "quick_switches"]

# Measured on 2 cores with seed-shaped events at gzip level 1: at 5 ms the pipeline
# gained nothing over one thread; at 1 ms and below, the gzip kept pace with the encoding.
SWITCH_INTERVAL = 0.0005

_lock = threading.Lock()
_users = 0
_saved: float | None = None  # the interval before the first pipeline lowered it
_ours: float | None = None  # the interval as it reads once lowered


@contextmanager
def quick_switches() -> Iterator[None]:
    """Lower the switch interval for the block; pipelines may overlap, and the last one
    to end puts back the value from before the first, unless it was changed meanwhile."""
    global _users, _saved, _ours
    with _lock:
        if _users == 0:
            current = sys.getswitchinterval()
            if current > SWITCH_INTERVAL:
                sys.setswitchinterval(SWITCH_INTERVAL)
                _saved, _ours = current, sys.getswitchinterval()
            else:
                _saved = _ours = None
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                if sys.getswitchinterval() == _ours:  # else someone set a value of theirs
                    sys.setswitchinterval(_saved)
                _saved = _ours = None


def _reset_after_fork() -> None:
    """A child forked while a pipeline ran has no pipeline to end it: put the interval
    back there and start the count afresh, with a lock no thread of the parent holds."""
    global _lock, _users, _saved, _ours
    _lock = threading.Lock()
    if _users and _saved is not None and sys.getswitchinterval() == _ours:
        sys.setswitchinterval(_saved)
    _users = 0
    _saved = _ours = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
