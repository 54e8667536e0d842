"""Foreground servers' shutdown: run until Ctrl-C or SIGTERM, then clean up.

Both command-line servers (the sandbox and the Segment relay) stop the same way.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs; old handlers come back after."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_until_set(stop: threading.Event) -> None:
    # A timed wait keeps the main thread responsive to signals on every platform.
    while not stop.wait(0.5):
        pass
