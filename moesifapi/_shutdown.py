"""The opt-in SIGTERM hook: close every live client within its deadline, then let the
signal take its normal course. Nothing here runs unless `close_on_sigterm()` is called.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from . import _constants as c

__all__ = ["close_on_sigterm"]

logger = logging.getLogger("moesifapi")

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None
_installed: list[_Handler] = []  # the handler we replaced, once installed


def close_on_sigterm() -> None:
    """On SIGTERM, close every live client, each within its `exit_timeout`, then let
    the signal do what it would have done (by default, end the process).

    Without this, SIGTERM ends a Python process at once: no `atexit` hook runs and
    whatever is still queued is lost. Containers, systemd and most process managers
    stop a program with SIGTERM. Call it once, from the main thread, after your own
    signal handlers (if any) are in place; calling it again does nothing.

    >>> import moesifapi
    >>> moesifapi.close_on_sigterm()
    """
    if _installed:
        return
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("close_on_sigterm() must be called from the main thread")
    _installed.append(signal.signal(signal.SIGTERM, _on_sigterm))


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    logger.info("moesifapi: SIGTERM: closing every client before the signal takes effect")
    # The closing runs on threads of its own: the signal may have interrupted the main
    # thread inside one of our locks, and it must not wait on itself. It is bounded by
    # the longest `exit_timeout`, whatever happens.
    clients = _live_clients()
    closers = [threading.Thread(target=close, daemon=True) for close, _ in clients]
    for closer in closers:
        closer.start()
    longest = max((timeout for _, timeout in clients), default=0.0)
    for closer in closers:
        closer.join(longest + 2 * c.CLOSE_GRACE)
    previous = _installed[0]
    signal.signal(signal.SIGTERM, previous)
    if callable(previous):
        previous(signum, frame)
    elif previous in (signal.SIG_DFL, None):
        signal.raise_signal(signal.SIGTERM)  # the default action: the process ends


def _live_clients() -> list[tuple[Callable[[], None], float]]:
    """A close function and its timeout for every client with work left."""
    import sys

    found: list[tuple[Callable[[], None], float]] = []
    sync = sys.modules.get("moesifapi._client")
    if sync is not None:
        for client in list(sync._live_clients):
            found.append((client.close, client._queue.core.settings.exit_timeout))
    asynchronous = sys.modules.get("moesifapi._async_client")
    if asynchronous is not None:
        for aclient in list(asynchronous._live_clients):
            if aclient._queue.core.pending:
                timeout = aclient._queue.core.settings.exit_timeout
                found.append((aclient._close_on_a_loop_of_its_own, timeout))
    return found
