"""The hold gate: requests wait at it, unanswered, until a test releases them.

Threads wait on a condition; coroutines wait on futures that `open()` resolves from
whichever thread releases, so a held async request never blocks its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

__all__ = ["HoldGate"]


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class HoldGate:
    """Open by default. While closed, `wait` blocks; it opens on `open()` or when the
    hold's own time limit runs out, whichever comes first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._closed = False
        self._expires_at: float | None = None
        self._waiting = 0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def close(self, limit: float | None) -> None:
        """Start holding; `limit` seconds from now the gate opens by itself (None: never)."""
        if limit is not None and not limit >= 0:
            raise ValueError(f"hold timeout must be None or non-negative, got {limit!r}")
        with self._condition:
            self._closed = True
            self._expires_at = None if limit is None else time.monotonic() + limit

    def open(self) -> None:
        with self._condition:
            self._closed = False
            self._expires_at = None
            self._condition.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        for loop, future in waiters:
            # A closed loop raises RuntimeError: nobody is left there to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future)

    @property
    def waiting(self) -> int:
        """How many requests are held right now."""
        with self._condition:
            return self._waiting

    def _remaining(self) -> float | None:
        """Seconds until the gate opens by itself; 0 when open; None when never."""
        if not self._closed:
            return 0.0
        if self._expires_at is None:
            return None
        return max(self._expires_at - time.monotonic(), 0.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block while closed. False if the caller's `timeout` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            if self._remaining() == 0.0:
                return True
            self._waiting += 1
            self._condition.notify_all()
            try:
                while True:
                    remaining = self._remaining()
                    if remaining == 0.0:
                        return True
                    caller_left = None if deadline is None else deadline - time.monotonic()
                    if caller_left is not None and caller_left <= 0:
                        return False
                    budget = [t for t in (remaining, caller_left) if t is not None]
                    self._condition.wait(min(budget) if budget else None)
            finally:
                self._waiting -= 1
                self._condition.notify_all()

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Like `wait`, but suspends the coroutine instead of blocking the loop."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        with self._condition:
            if self._remaining() == 0.0:
                return True
            self._waiting += 1
            self._condition.notify_all()
        try:
            while True:
                caller_left = None if deadline is None else deadline - loop.time()
                with self._condition:
                    remaining = self._remaining()
                    if remaining == 0.0:
                        return True
                    if caller_left is not None and caller_left <= 0:
                        return False
                    future: asyncio.Future[None] = loop.create_future()
                    self._async_waiters.append((loop, future))
                budget = [t for t in (remaining, caller_left) if t is not None]
                try:
                    await asyncio.wait_for(future, min(budget) if budget else None)
                except asyncio.TimeoutError:
                    pass
                finally:
                    with self._condition:
                        if (loop, future) in self._async_waiters:
                            self._async_waiters.remove((loop, future))
        finally:
            with self._condition:
                self._waiting -= 1
                self._condition.notify_all()

    def wait_until_waiting(self, count: int, timeout: float | None) -> bool:
        """Block until at least `count` requests are held; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: self._waiting >= count, timeout)
