"""Work done in a forked child process, its result handed back through a pipe.

`moesif send` checks the parts of a large NDJSON input side by side (see
`_checking`); this is the process side of it: fork, run one function in the child,
pickle what it returns (or why it failed) back to the parent, and reap the child on
every path, Ctrl-C included. The child never returns into the caller's code: it ends
with `os._exit`, so the parent's atexit handlers and buffered output are not run or
written a second time.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ChildFailed", "Forked", "can_fork"]

T = TypeVar("T")

_READ_BYTES = 1024 * 1024


class ChildFailed(Exception):
    """The child did not hand back a result: it raised, crashed or was killed."""


def can_fork() -> bool:
    """Whether forking is safe here: the platform has `fork` and this process runs no
    thread but the main one (another could hold a lock the child would then wait for
    forever)."""
    return (
        hasattr(os, "fork")
        and threading.active_count() == 1
        and threading.current_thread() is threading.main_thread()
    )


class _SigintHeld:
    """Ctrl-C held back over the body: SIGINT only noted, then raised again on leaving
    (or, in a forked child, on `release_in_child`), under the handler that was there.

    Blocking the signal would not be enough: one that came just before may already be
    waiting for Python to run its handler, which could then raise in the child before
    it is inside the `try` that ends it with `os._exit`.
    """

    def __init__(self) -> None:
        self._previous: Any = None
        self._noted = False

    def _note(self, signum: int, frame: object) -> None:
        self._noted = True

    def __enter__(self) -> _SigintHeld:
        previous = signal.getsignal(signal.SIGINT)
        if previous is not None:  # None: a handler not set from Python, left alone
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release()

    def release_in_child(self) -> None:  # pragma: no cover - runs in the child
        self._release()

    def _release(self) -> None:
        if self._previous is None:
            return
        signal.signal(signal.SIGINT, self._previous)
        self._previous = None
        if self._noted:
            self._noted = False
            signal.raise_signal(signal.SIGINT)


class Forked(Generic[T]):
    """`work()` to run in a forked child (`start`); `result` waits for what it returned.

    Once `start` is called, call `result` or `stop` on every path, even if `start`
    raised (`stop` is safe to call again): either reaps the child.
    """

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self.pid: int | None = None
        self._pipe: int | None = None
        self._reaped = False

    def start(self) -> None:
        """Fork the child; OSError if it cannot be (it is then as if never started)."""
        read_end, write_end = os.pipe()
        try:
            with _SigintHeld() as held:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
                    _run_child(self._work, held, read_end, write_end)
                self.pid = pid
                self._pipe = read_end
                os.close(write_end)
        except BaseException:
            if self.pid is None:  # no child: an OSError (too many processes, no memory)
                os.close(read_end)
                os.close(write_end)
            raise

    def result(self) -> T:
        """What `work` returned; `ChildFailed` if it raised or the child died."""
        chunks = []
        assert self._pipe is not None, "result is read once, after start"
        while chunk := os.read(self._pipe, _READ_BYTES):
            chunks.append(chunk)
        os.close(self._pipe)
        self._pipe = None
        status = self._reap()
        data = b"".join(chunks)
        if status != 0 or not data:
            raise ChildFailed(f"the child process ended with status {status}")
        succeeded, value = pickle.loads(data)
        if not succeeded:
            raise ChildFailed(str(value))
        got: T = value
        return got

    def stop(self) -> None:
        """Kill the child unless it has been reaped, and reap it."""
        with _SigintHeld():
            if self._pipe is not None:
                os.close(self._pipe)
                self._pipe = None
            if self.pid is not None and not self._reaped:
                with contextlib.suppress(ProcessLookupError):  # reaped only here, but
                    os.kill(self.pid, signal.SIGKILL)
                self._reap()

    def _reap(self) -> int:
        assert self.pid is not None
        _, status = os.waitpid(self.pid, 0)
        self._reaped = True
        return os.waitstatus_to_exitcode(status)


def _run_child(
    work: Callable[[], object], held: _SigintHeld, read_end: int, write_end: int
) -> None:  # pragma: no cover - runs in the child
    status = 1
    try:
        os.close(read_end)
        try:
            held.release_in_child()  # a Ctrl-C held back raises here, inside the `try`
            outcome: tuple[bool, object] = (True, work())
        except BaseException as error:  # told to the parent, which decides
            outcome = (False, f"{type(error).__name__}: {error}")
        data = memoryview(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL))
        while data:
            data = data[os.write(write_end, data) :]
        status = 0
    except BaseException:  # the parent sees the status, and falls back
        status = 1
    finally:
        os._exit(status)
