"""Bounds on one exchange with the server: a cap on the answer's body, decompression
included, and a total deadline for the whole attempt, headers and body included.

httpx's timeouts bound each socket operation, so a server sending one byte every half
second never trips them, and it inflates a compressed body in full. The clients read
every answer through `BodyReader`, and `MoesifClient` clamps each socket operation to
what is left of the attempt's deadline (`clamp_to_deadline`); `AsyncMoesifClient`
cancels an attempt that outlasts it.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import httpx

from .exceptions import APIError

__all__ = ["BodyReader", "attempt_timed_out", "clamp_to_deadline", "deadline_of_this_attempt"]

# Enough of an error body to diagnose (what is kept is cut to MAX_ERROR_BODY_CHARS).
ERROR_BODY_READ_BYTES = 64 * 1024


class BodyReader:
    """Decodes an answer's body chunk by chunk, never holding more than `cap` bytes.

    A success (2xx) over the cap is an `APIError` naming it; any other answer is cut
    at `ERROR_BODY_READ_BYTES`, since only its first characters are kept anyway.
    """

    def __init__(self, response: httpx.Response, cap: int, what: str) -> None:
        self._what = what
        self._success = response.is_success
        self._cap = cap if self._success else min(cap, ERROR_BODY_READ_BYTES)
        self._parts: list[bytes] = []
        self._size = 0
        self.full = False
        coding = response.headers.get("Content-Encoding", "identity").strip().lower()
        self._decoder: Any
        if coding in ("", "identity"):
            self._decoder = None
        elif coding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._decoder = zlib.decompressobj()
        else:
            raise APIError(f"the answer to {what} has an unsupported encoding {coding!r}")

    def feed(self, raw: bytes) -> bool:
        """Take one raw chunk; True once no more is wanted (the cap is reached)."""
        if self._decoder is None:
            return self._keep(raw)
        pending = raw
        while pending:
            try:
                out = self._decoder.decompress(pending, self._cap + 1 - self._size)
            except zlib.error as error:
                raise APIError(f"the answer to {self._what} is not validly compressed") from error
            if self._keep(out):
                return True
            pending = self._decoder.unconsumed_tail
        return False

    def already_read(self, response: httpx.Response) -> httpx.Response:
        """An answer whose body a transport handed over in memory, decoded already
        (an in-process transport, a mock): only the cap applies."""
        self._decoder = None
        self._keep(response.content)
        return self.response(response)

    def response(self, original: httpx.Response) -> httpx.Response:
        """The answer again, its body decoded and in memory."""
        if self._decoder is not None and not self.full:
            with contextlib.suppress(zlib.error):
                self._keep(self._decoder.flush())
        headers = [
            (name, value)
            for name, value in original.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length")
        ]
        return httpx.Response(
            original.status_code,
            headers=headers,
            content=b"".join(self._parts),
            request=original.request,
            extensions={
                key: original.extensions[key]
                for key in ("http_version", "reason_phrase")
                if key in original.extensions
            },
        )

    def _keep(self, data: bytes) -> bool:
        if self._size + len(data) > self._cap:
            if self._success:
                raise APIError(f"the answer to {self._what} is over the {self._cap}-byte cap")
            data = data[: self._cap - self._size]
            self.full = True
        self._parts.append(data)
        self._size += len(data)
        return self.full


def attempt_timed_out(seconds: float) -> httpx.TimeoutException:
    """What an attempt that outlasted its total deadline is answered with."""
    return httpx.ReadTimeout(f"no complete answer within the {seconds:g} s an attempt may take")


# --- the sync client's total deadline, enforced on every socket operation ---

_deadline: ContextVar[float | None] = ContextVar("moesifapi_attempt_deadline", default=None)


@contextlib.contextmanager
def deadline_of_this_attempt(seconds: float) -> Iterator[float]:
    """While it runs, every socket operation of this thread ends by the deadline."""
    deadline = time.monotonic() + seconds
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def _clamped(timeout: float | None) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = max(deadline - time.monotonic(), 0.001)  # 0 would mean "don't block"
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """A network stream whose every read and write ends by the attempt's deadline."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout))  # type: ignore[no-any-return]

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _clamped(timeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend:
    """httpcore's network backend, its streams clamped to the attempt's deadline."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> _DeadlineStream:
        timeout = _clamped(timeout)
        return _DeadlineStream(
            self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> _DeadlineStream:
        return _DeadlineStream(
            self.inner.connect_unix_socket(path, _clamped(timeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def clamp_to_deadline(http: httpx.Client) -> bool:
    """Make the client's standard transports honour `deadline_of_this_attempt`.

    Outside an attempt the clamp changes nothing, so a caller's own client keeps
    working as before for its other requests. Returns False when no transport could
    be reached (a custom one): then the body is still bounded, between chunks.
    """
    transports = [_innermost(t) for t in (http._transport, *http._mounts.values())]
    clamped = False
    for transport in transports:
        if not isinstance(transport, httpx.HTTPTransport):
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            continue
        if not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
        clamped = True
    return clamped


def _innermost(transport: object) -> object:
    """The transport a wrapper (such as `integrations.httpx.MoesifTransport`, or any
    that keeps the one it wraps as ``_transport`` or ``transport``) hands requests to."""
    for _ in range(8):  # a few layers at most; a cycle must not hang the client
        if isinstance(transport, httpx.HTTPTransport):
            return transport
        inner = getattr(transport, "_transport", None) or getattr(transport, "transport", None)
        if not isinstance(inner, httpx.BaseTransport):
            return transport
        transport = inner
    return transport
