"""Capture a WSGI app's API calls: `MoesifMiddleware`, PEP 3333.

Wraps any WSGI app (Flask, Falcon, Bottle, Django's WSGI handler) and imports none
of them::

    from moesifapi.integrations.wsgi import MoesifMiddleware

    app.wsgi_app = MoesifMiddleware(app.wsgi_app)  # Flask
    application = MoesifMiddleware(get_wsgi_application())  # Django

Each request becomes one event, queued on the client (a `MoesifClient` configured
from the environment unless one is given) when the server closes the response. The
app reads exactly the bytes the client sent, and its answer passes through chunk by
chunk as it is produced: only the first `max_body_bytes` of each body are copied.
Governance rules are applied before the app is called; a blocked request is answered
by the rule and never reaches the app.

Under a forking server (gunicorn ``--preload``) the client may be made in the master:
each worker starts with an empty queue of its own and delivers its own events.
Nothing here breaks a request: a capture that fails is logged (logger ``moesifapi``)
and the request goes on uncaptured; the app's own exceptions pass through unchanged.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from .. import _wire
from .._client import MoesifClient
from .._masking import DEFAULT_MASK
from ._capture import (
    BodyTap,
    Capture,
    CapturedRequest,
    CapturedResponse,
    Headers,
    add_plain,
    blocked_answer,
    plain_view,
    settings_from,
)

# The C speed-up's reader of an environ's headers (`_Exchange`); None without it.
environ_pairs: (
    Callable[[object, object, str | None], tuple[list[tuple[str, str]], str | None] | None] | None
) = getattr(_wire._speedups, "environ_pairs", None)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

    from .._governance import GovernanceDecision
    from ._capture import CaptureOptions, HeaderInput, PlainHeaders

__all__ = ["MoesifMiddleware"]

logger = logging.getLogger("moesifapi")

HeaderList: TypeAlias = "list[tuple[str, str]]"


# The time now, in UTC: `datetime.now(timezone.utc)` with no Python frame of its own.
_now: Callable[[], datetime] = functools.partial(datetime.now, timezone.utc)


class MoesifMiddleware:
    """A WSGI app that serves `app` and logs each of its requests to Moesif.

    `client` is the `MoesifClient` whose queue delivers the events; without one the
    middleware makes its own from the environment (``MOESIF_APPLICATION_ID``) and
    `close()` closes it. The other keyword arguments are `CaptureSettings`' fields
    (hooks, masking, body limits, governance, ...), checked here.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        client: MoesifClient | None = None,
        **options: Unpack[CaptureOptions],
    ) -> None:
        settings = settings_from(options)
        self.app = app
        self._owns_client = client is None
        self.client = MoesifClient() if client is None else client
        self.settings = settings
        self.capture = Capture(self.client, settings, "Incoming")
        self._limit = settings.max_body_bytes if settings.log_body else 0
        # environ key -> `Capture.header_entry` of its header, `()` for a key that
        # is no header (`plain_request_headers`).
        self._environ_names: dict[str, tuple[str, str, bool] | tuple[()]] = {}

    def close(self) -> None:
        """Close the client if the middleware made it; a client it was given stays open."""
        if self._owns_client:
            self.client.close()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            exchange = _Exchange(self, environ, start_response)
        except Exception:
            logger.exception("moesifapi: could not capture a request; serving it uncaptured")
            return self.app(environ, start_response)
        return exchange.run(environ)


class _Exchange:
    """One request in progress: what the middleware has seen of it so far."""

    __slots__ = (
        "extra_headers",
        "method",
        "middleware",
        "peer",
        "plain",
        "recorded",
        "request_headers",
        "request_tap",
        "response_headers",
        "response_tap",
        "server_start_response",
        "server_write",
        "started",
        "status",
        "tid",
        "url",
    )

    def __init__(
        self, middleware: MoesifMiddleware, environ: WSGIEnvironment, start_response: StartResponse
    ) -> None:
        self.started = _now()
        self.middleware = middleware
        self.server_start_response = start_response
        capture = middleware.capture
        # A plain capture (no hook reads the views) keeps the headers as it writes
        # them; the view is built only if governance asks for it (`request`).
        # With the C speed-up they are the environ's header pairs, as `record_plain`
        # writes them (`environ_pairs`); the view is built only if governance asks
        # for it (`request`).
        self.request_headers: Headers | None = None
        self.plain: HeaderInput | None = None
        found = None
        if capture.plain and environ_pairs is not None:
            found = environ_pairs(environ, middleware._environ_names, capture._tid_key)
        if found is not None:
            self.plain, given = found
            self.tid = capture.chosen_transaction_id(given)
        else:
            headers: Mapping[str, str]
            if capture.plain:
                self.plain = plain = plain_request_headers(
                    capture, middleware._environ_names, environ
                )
                headers = plain[0]
            else:
                self.request_headers = headers = request_headers(environ)
            self.tid = capture.transaction_id(headers)
        self.url = _common_url(environ) or request_url(environ)
        self.method: str = environ.get("REQUEST_METHOD") or "GET"
        self.peer: str | None = environ.get("REMOTE_ADDR") or None
        limit = middleware._limit
        self.request_tap = BodyTap(limit)
        self.response_tap = BodyTap(limit)
        self.status: int | None = None
        self.response_headers: HeaderList = []
        self.server_write: Any = None
        self.recorded = False
        name = middleware.settings.transaction_id_header
        self.extra_headers: HeaderList = [] if name is None else [(name, self.tid)]

    # --- before the app ---

    def run(self, environ: WSGIEnvironment) -> Iterable[bytes]:
        middleware = self.middleware
        capture = middleware.capture
        stream = environ.get("wsgi.input")
        replayed = False
        try:
            governs = capture.governs()
            by_body = governs and stream is not None and capture.governs_by_body()
        except Exception:
            logger.exception("moesifapi: governance failed; the request goes through")
            governs = by_body = False
        if governs:
            prefix = b""
            if by_body:
                # A rule looks into the body: read (a bounded prefix of) it now, and
                # let the app read that prefix again, then the rest of the stream.
                limit = middleware.settings.max_body_bytes
                prefix, ended = read_prefix(stream, environ, limit + 1)
                size = max(len(prefix), content_length(environ) or 0)
                environ["wsgi.input"] = _ReplayInput(stream, self.request_tap, prefix, ended)
                replayed = True
                request = self.request(prefix[: middleware._limit], size)
            else:
                request = self.request(b"", 0)
            decision = capture.govern(request)
            if decision.blocked:
                if prefix:
                    self.request_tap.feed(prefix)
                return self.blocked(decision)
            if decision.headers:
                self.extra_headers[:0] = decision.headers.items()
        if stream is not None and not replayed:
            environ["wsgi.input"] = _TeeInput(stream, self.request_tap)
        try:
            result = middleware.app(environ, self.start_response)
        except BaseException:
            self.failed()
            raise
        if isinstance(result, (list, tuple)):
            return _SizedResponseBody(self, result)
        return _ResponseBody(self, result)

    def blocked(self, decision: GovernanceDecision) -> Iterable[bytes]:
        status, sent, body = blocked_answer(decision)
        sent.extend(self.extra_headers)
        self.server_start_response(status_line(status), sent)
        self.status = status
        self.response_headers = sent
        self.response_tap.feed(body)
        self.record(decision.blocked_by)
        return [body]

    # --- the app's answer ---

    def start_response(
        self, status: str, headers: HeaderList, exc_info: OptExcInfo | None = None
    ) -> Any:
        extra = self.extra_headers
        sent = [*headers, *extra] if extra else headers
        if exc_info is None:
            write = self.server_start_response(status, sent)
        else:
            # PEP 3333: the server re-raises exc_info if the headers have gone out.
            write = self.server_start_response(status, sent, exc_info)
        self.status = status_code(status)
        self.response_headers = sent
        self.server_write = write
        return self.write

    def write(self, data: bytes) -> object:
        """The `write()` callable PEP 3333 keeps for older apps, teed like the body."""
        self.response_tap.feed(data)
        return self.server_write(data)

    def failed(self) -> None:
        """The app raised before any of its body went out: the server answers 500."""
        self.status = 500
        self.response_headers = []
        self.record(None)

    # --- the event ---

    def request(self, body: bytes, size: int) -> CapturedRequest:
        headers = self.request_headers
        if headers is None:
            assert self.plain is not None
            plain = self.middleware.capture.as_plain(self.plain)
            headers = self.request_headers = plain_view(plain)
        return CapturedRequest(
            method=self.method,
            url=self.url,
            headers=headers,
            body=body,
            body_size=size,
            client_address=self.peer,
        )

    def record(self, blocked_by: str | None) -> None:
        if self.recorded:
            return
        self.recorded = True
        try:
            tap = self.request_tap
            response_tap = self.response_tap
            ended = _now()
            capture = self.middleware.capture
            plain = self.plain
            if plain is not None:
                queued = capture.record_plain(
                    self.method,
                    self.url,
                    self.peer,
                    plain,
                    tap.captured(),
                    tap.size,
                    self.status or 500,
                    self.response_headers,
                    response_tap.captured(),
                    response_tap.size,
                    self.started,
                    ended,
                    self.tid,
                    blocked_by,
                )
                if queued is not None:
                    return
            capture.record(
                self.request(tap.captured(), tap.size),
                CapturedResponse(
                    status=self.status or 500,
                    headers=Headers(self.response_headers),
                    body=response_tap.captured(),
                    body_size=response_tap.size,
                ),
                self.started,
                ended,
                transaction_id=self.tid,
                blocked_by=blocked_by,
            )
        except Exception:
            logger.exception("moesifapi: could not capture %s", self.url)


class _ResponseBody:
    """The app's iterable, passed through chunk by chunk and copied into the tap;
    `close()` closes the app's iterable (PEP 3333), then queues the event."""

    __slots__ = ("_exchange", "_feed", "_iterable", "_iterator")

    def __init__(self, exchange: _Exchange, iterable: Iterable[bytes]) -> None:
        self._exchange = exchange
        self._iterable = iterable
        self._iterator: Iterator[bytes] | None = None
        self._feed = exchange.response_tap.feed

    def __iter__(self) -> _ResponseBody:
        return self

    def __next__(self) -> bytes:
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = iter(self._iterable)
        try:
            chunk = next(iterator)
        except StopIteration:
            raise
        except BaseException:
            exchange = self._exchange
            if exchange.response_tap.size == 0:  # nothing sent: the server answers 500
                exchange.status = 500
                exchange.response_headers = []
            raise
        self._feed(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            self._exchange.record(None)


class _SizedResponseBody(_ResponseBody):
    """A list or tuple answer keeps its `len()`: servers set Content-Length from it."""

    __slots__ = ()

    def __len__(self) -> int:
        return len(self._iterable)  # type: ignore[arg-type]


# The C speed-up's twins of the two, where it is built: the same behaviour, with no
# Python frame per chunk and no StopIteration raised at the end.
if getattr(_wire._speedups, "WsgiBody", None) is not None:
    _ResponseBody = _wire._speedups.WsgiBody  # type: ignore[misc, assignment]
    _SizedResponseBody = _wire._speedups.WsgiSizedBody  # type: ignore[misc, assignment]


class _TeeInput:
    """``wsgi.input`` as the app reads it, each byte it reads copied into the tap."""

    __slots__ = ("_feed", "_stream")

    def __init__(self, stream: Any, tap: BodyTap) -> None:
        self._stream = stream
        self._feed = tap.feed

    def read(self, *size: int | None) -> bytes:
        data: bytes = self._stream.read(*size)
        self._feed(data)
        return data

    def readline(self, *size: int | None) -> bytes:
        line: bytes = self._stream.readline(*size)
        self._feed(line)
        return line

    def readlines(self, *hint: int | None) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*hint)
        feed = self._feed
        for line in lines:
            feed(line)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        feed = self._feed
        for line in self._stream:
            feed(line)
            yield line


class _ReplayInput(_TeeInput):
    """``wsgi.input`` after the middleware read a prefix of it: the prefix first, then
    the rest of the stream, unless reading the prefix showed there is no rest."""

    __slots__ = ("_buffer", "_ended", "_pos")

    def __init__(self, stream: Any, tap: BodyTap, buffer: bytes, ended: bool) -> None:
        super().__init__(stream, tap)
        self._buffer = buffer
        self._pos = 0
        self._ended = ended

    def read(self, *size: int | None) -> bytes:
        buffer, pos = self._buffer, self._pos
        if pos >= len(buffer):
            return b"" if self._ended else super().read(*size)
        want = size[0] if size else None
        if want is not None and want >= 0 and pos + want <= len(buffer):
            data = buffer[pos : pos + want]
            self._pos = pos + want
        else:
            data = buffer[pos:]
            self._pos = len(buffer)
            if not self._ended and (want is None or want < 0):
                data += self._stream.read()
            elif not self._ended and want is not None and want > len(data):
                data += self._stream.read(want - len(data))
        self._feed(data)
        return data

    def readline(self, *size: int | None) -> bytes:
        buffer, pos = self._buffer, self._pos
        if pos >= len(buffer):
            return b"" if self._ended else super().readline(*size)
        want = size[0] if size else None
        newline = buffer.find(b"\n", pos)
        end = len(buffer) if newline < 0 else newline + 1
        if want is not None and want >= 0:
            end = min(end, pos + want)
        data = buffer[pos:end]
        self._pos = end
        if newline < 0 and end == len(buffer) and not self._ended:
            if want is None or want < 0:
                data += self._stream.readline()
            elif want > len(data):
                data += self._stream.readline(want - len(data))
        self._feed(data)
        return data

    def readlines(self, *hint: int | None) -> list[bytes]:
        limit = hint[0] if hint and hint[0] is not None and hint[0] > 0 else None
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if limit is not None and total >= limit:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


# --- reading the environ ---


def content_length(environ: WSGIEnvironment) -> int | None:
    """CONTENT_LENGTH as an int, or None when absent or unreadable."""
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        length = int(raw)
    except ValueError:
        return None
    return length if length >= 0 else None


def read_prefix(stream: Any, environ: WSGIEnvironment, want: int) -> tuple[bytes, bool]:
    """Up to `want` bytes of the request body, never past CONTENT_LENGTH; and whether
    that was the whole body (so the stream must not be read again)."""
    length = content_length(environ)
    if length is not None:
        want = min(want, length)
    elif not environ.get("wsgi.input_terminated"):
        return b"", False  # PEP 3333: no CONTENT_LENGTH, no body to read ahead
    chunks: list[bytes] = []
    got = 0
    while got < want:
        chunk = stream.read(want - got)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks), length is not None and got >= length


@lru_cache(maxsize=512)
def _header_name(key: str) -> str:
    return key[5:].replace("_", "-").title()


def request_headers(environ: WSGIEnvironment) -> Headers:
    """The request's headers, from the HTTP_* keys and CONTENT_TYPE / CONTENT_LENGTH."""
    pairs = [
        (_header_name(key), value)
        for key, value in environ.items()
        if key[:5] == "HTTP_" and key not in _CGI_COPIES and isinstance(value, str)
    ]
    for cgi_key, http_key, name in _CGI_HEADERS:
        value = environ.get(cgi_key)
        if value or http_key in environ:
            pairs.append((name, value or environ[http_key]))
    return Headers(pairs)


def plain_request_headers(
    capture: Capture,
    names: dict[str, tuple[str, str, bool] | tuple[()]],
    environ: WSGIEnvironment,
) -> PlainHeaders:
    """`request_headers` as `PlainHeaders` for a plain capture; `names` remembers what
    each environ key is (`MoesifMiddleware._environ_names`)."""
    values: dict[str, str] = {}
    shown: dict[str, str] = {}
    for key, value in environ.items():
        entry = names.get(key)
        if entry is None:
            if len(names) > 4096:  # keys an attacker makes up must not grow it for ever
                names.clear()
            is_header = key[:5] == "HTTP_" and key not in _CGI_COPIES
            entry = names[key] = capture.header_entry(_header_name(key)) if is_header else ()
        if entry and isinstance(value, str):
            name, lowered, private = entry
            if lowered in values:
                add_plain(values, shown, entry, value)
            else:
                values[lowered] = value
                shown[name] = DEFAULT_MASK if private else value
    for cgi_key, http_key, name in _CGI_HEADERS:
        value = environ.get(cgi_key)
        if value or http_key in environ:
            add_plain(values, shown, capture.header_entry(name), value or environ[http_key])
    return values, shown


# The two headers PEP 3333 passes as CGI keys, each with its HTTP_ copy and its name.
_CGI_HEADERS = (
    ("CONTENT_TYPE", "HTTP_CONTENT_TYPE", "Content-Type"),
    ("CONTENT_LENGTH", "HTTP_CONTENT_LENGTH", "Content-Length"),
)


# Some servers pass these on as HTTP_ keys too; PEP 3333's are the CGI ones.
_CGI_COPIES = frozenset(http_key for _, http_key, _ in _CGI_HEADERS)


# What `quote` leaves as it is (its safe "/" and the characters it never quotes): a
# path of only these, as nearly every one is, is its own quoted form.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~/-]*")


def _quoted(text: str) -> str:
    if _UNQUOTED.fullmatch(text):
        return text
    # PEP 3333 hands paths over as latin-1 decoded bytes: quote those bytes.
    try:
        return quote(text.encode("latin-1"))
    except UnicodeEncodeError:
        return quote(text)


def request_url(environ: WSGIEnvironment) -> str:
    """The full URL, rebuilt as PEP 3333 says."""
    scheme = environ.get("wsgi.url_scheme") or "http"
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME") or "localhost"
        port = str(environ.get("SERVER_PORT") or "")
        if port and port != ("443" if scheme == "https" else "80"):
            host = f"{host}:{port}"
    script = environ.get("SCRIPT_NAME")
    path = _quoted(environ.get("PATH_INFO") or "")
    if script:
        path = _quoted(script) + path
    query = environ.get("QUERY_STRING")
    if query:
        return f"{scheme}://{host}{path or '/'}?{query}"
    return f"{scheme}://{host}{path or '/'}"


# The C speed-up's `request_url` for the common request (None for the rest);
# `request_url` itself without it.
_common_url: Callable[[WSGIEnvironment], str | None] = getattr(
    _wire._speedups, "wsgi_url", request_url
)


def status_code(status: str) -> int | None:
    """The code of a WSGI status line such as ``"200 OK"``."""
    try:
        return int(status[:3])
    except (TypeError, ValueError):
        return None


def status_line(status: int) -> str:
    """``"403 Forbidden"`` for 403: a WSGI status needs its reason phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
