"""Capture an ASGI app's API calls: `MoesifMiddleware`, pure ASGI 3.

Wraps any ASGI app (FastAPI, Starlette, Litestar, Quart, Django's ASGI handler)
and imports none of them::

    from moesifapi.integrations.asgi import MoesifMiddleware

    app = MoesifMiddleware(app, identify_user=lambda req, resp: req.headers.get("x-user-id"))

Each HTTP exchange becomes one event, queued on the client (an `AsyncMoesifClient`
configured from the environment unless one is given). Bodies are read as the app
reads them and responses pass through chunk by chunk, as they are sent: streams (SSE,
large downloads) are never buffered. Governance rules are applied before the app is
called; a blocked request is answered by the rule and never reaches the app. At the
lifespan's shutdown the client is flushed (closed, if the middleware made it), even
when the app itself does not implement lifespan.

Nothing here breaks a request: a capture that fails is logged (logger ``moesifapi``)
and the exchange goes on uncaptured; the app's own exceptions pass through unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from .. import _wire
from .._async_client import AsyncMoesifClient
from ._capture import (
    BodyTap,
    Capture,
    CapturedRequest,
    CapturedResponse,
    Headers,
    blocked_answer,
    pick_headers,
    plain_view,
    settings_from,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._client import MoesifClient
    from .._governance import GovernanceDecision
    from ._capture import CaptureOptions, HeaderInput

__all__ = ["MoesifMiddleware"]

logger = logging.getLogger("moesifapi")

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


# The time now, in UTC: `datetime.now(timezone.utc)` with no Python frame of its own.
_now: Callable[[], datetime] = functools.partial(datetime.now, timezone.utc)


def _url(scope: Scope, host: str | None) -> str:
    """The request's full URL, from its scope and its Host header (`host`)."""
    scheme = scope.get("scheme") or "http"
    if not host:
        server = scope.get("server")
        if server:
            name, port = server[0], server[1]
            host = name if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{name}:{port}"
        else:
            host = "localhost"
    raw = scope.get("raw_path")
    if raw:
        path = raw.decode("latin-1").split("?", 1)[0]
    else:
        path = quote(scope.get("path") or "/", safe="/:@!$&'()*+,;=-._~")
    root = scope.get("root_path") or ""
    if root and path != root and not path.startswith(root + "/"):
        path = root + path  # ASGI servers differ on whether the path holds root_path
    query = scope.get("query_string") or b""
    if query:
        return f"{scheme}://{host}{path}?{query.decode('latin-1')}"
    return f"{scheme}://{host}{path}"


# The C speed-up's `_url` for the common exchange (None for the rest); `_url` itself
# without it.
_common_url: Callable[[Scope, str | None], str | None] = getattr(_wire._speedups, "asgi_url", _url)


def _raw_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers given as a mapping of str, encoded for ASGI; unencodable ones left out."""
    out = []
    for name, value in headers.items():
        try:
            out.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        except (UnicodeEncodeError, AttributeError):
            logger.warning("moesifapi: a governance header %r cannot be sent; left out", name)
    return out


# The request tap of an exchange that has had no body bytes: never fed, so always empty.
_NO_BODY = BodyTap(0)


# The C speed-up's base of `_Exchange`: its fields, `send` for messages of the common
# shapes (`_send_any` takes the rest) and `record` for the common exchange
# (`_record_now` takes the rest).
if TYPE_CHECKING:
    _ExchangeBase = object
else:
    _ExchangeBase = getattr(_wire._speedups, "AsgiExchange", object)
_FIELDS = (
    "app_receive",
    "buffered",
    "disconnected",
    "extra_headers",
    "finished",
    "middleware",
    "plain",
    "recorded",
    "request_headers",
    "request_tap",
    "response_headers",
    "response_tap",
    "scope",
    "server_send",
    "started",
    "status",
    "tid",
    "trailers",
    "url",
)


class _Exchange(_ExchangeBase):
    """One HTTP exchange in progress: what the middleware has seen of it so far."""

    # Every field is the C base's where it is built.
    __slots__ = _FIELDS if _ExchangeBase is object else ()

    def _init_any(
        self, middleware: MoesifMiddleware, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """`__init__` (this, or the C base's for the common exchange, which hands this
        the rest)."""
        self.middleware = middleware
        self.scope = scope
        self.app_receive = receive
        self.server_send = send
        self.started = _now()
        capture = middleware.capture
        raw = scope.get("headers") or ()
        # A plain capture (no hook reads the views) keeps the headers as the server
        # gave them, for `record_plain` to write; it reads only the two it needs now.
        # The view is built only if governance asks for it (`request`).
        self.request_headers: Headers | None = None
        self.plain: HeaderInput | None = None
        picked = None
        if capture.plain:
            # A copy of the server's list: an app that adds to it changes no event.
            self.plain = raw if type(raw) is tuple else list(raw)
            if pick_headers is not None:
                picked = pick_headers(self.plain, middleware._picked)
        if picked is not None:
            host, given = picked[0], picked[1] if len(picked) > 1 else None
        else:
            headers: Mapping[str, str]
            if capture.plain:
                headers = capture.plain_headers(raw)[0]
            else:
                self.request_headers = headers = Headers.from_raw(raw)
            host = headers.get("host")
            given = None if middleware._tid_key is None else headers.get(middleware._tid_key)
        self.url = _common_url(scope, host) or _url(scope, host)
        self.request_tap = _NO_BODY  # until a body comes (`_fed`): most requests have none
        self.response_tap = BodyTap(middleware._limit)
        self.buffered: deque[Message] | None = None
        self.disconnected = False
        self.status: int | None = None
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.trailers = False
        self.finished = False
        self.recorded = False
        self.tid = capture.chosen_transaction_id(given)
        self.extra_headers: list[tuple[bytes, bytes]] = []
        tid_header = middleware._tid_header
        if tid_header is not None:
            self.extra_headers.append((tid_header, self.tid.encode("latin-1")))

    if _ExchangeBase is object:
        __init__ = _init_any

    # the views the capture gets

    def request(self) -> CapturedRequest:
        client = self.scope.get("client")
        headers = self.request_headers
        if headers is None:
            assert self.plain is not None
            capture = self.middleware.capture
            headers = self.request_headers = plain_view(capture.as_plain(self.plain))
        return CapturedRequest(
            method=self.scope.get("method") or "GET",
            url=self.url,
            headers=headers,
            body=self.request_tap.captured(),
            body_size=self.request_tap.size,
            client_address=client[0] if client else None,
        )

    def _record_any(self, status: int | None = None, blocked_by: str | None = None) -> None:
        """`record`: queue the event, once; never raises. (The C base's `record` does
        the common exchange itself and hands the rest to `_record_now`.)"""
        if self.recorded:
            return
        self.recorded = True
        self._record_now(self.status if status is None else status, blocked_by)

    if _ExchangeBase is object:
        record = _record_any

    def _record_now(self, code: int | None, blocked_by: str | None) -> None:
        try:
            ended = _now()
            plain = self.plain
            if plain is not None:
                client = self.scope.get("client")
                request_tap, response_tap = self.request_tap, self.response_tap
                queued = self.middleware.capture.record_plain(
                    self.scope.get("method") or "GET",
                    self.url,
                    client[0] if client else None,
                    plain,
                    b"" if request_tap is _NO_BODY else request_tap.captured(),
                    request_tap.size,
                    code,
                    None if code is None else self.response_headers,
                    response_tap.captured(),
                    response_tap.size,
                    self.started,
                    ended,
                    self.tid,
                    blocked_by,
                )
                if queued is not None:
                    return
        except Exception as error:
            self._record_failed(error)
            return
        self._record_views(code, ended, blocked_by)

    def _record_views(self, code: int | None, ended: datetime, blocked_by: str | None) -> None:
        """The event from the views, where `record_plain` leaves it to them."""
        try:
            response = None
            if code is not None:
                response = CapturedResponse(
                    status=code,
                    headers=Headers.from_raw(self.response_headers),
                    body=self.response_tap.captured(),
                    body_size=self.response_tap.size,
                )
            self.middleware.capture.record(
                self.request(),
                response,
                self.started,
                ended,
                transaction_id=self.tid,
                blocked_by=blocked_by,
            )
        except Exception as error:
            self._record_failed(error)

    def _record_failed(self, error: Exception) -> None:
        logger.error("moesifapi: could not capture %s", self.url, exc_info=error)

    # before the app

    async def read_ahead(self, limit: int) -> None:
        """Read the request body up to `limit` bytes before the app, to replay to it."""
        buffered: deque[Message] = deque()
        self.buffered = buffered
        while True:
            message = await self.app_receive()
            buffered.append(message)
            kind = message.get("type")
            if kind == "http.request":
                tap = self._fed(message.get("body") or b"")
                if not message.get("more_body", False) or tap.size >= limit:
                    return
            else:
                if kind == "http.disconnect":
                    self.disconnected = True
                return

    async def answer(self, decision: GovernanceDecision) -> None:
        """Answer a blocked request with the rule's response, without the app."""
        self.status, headers, body = blocked_answer(decision)
        self.response_headers = [*_raw_headers(dict(headers)), *self.extra_headers]
        try:
            await self.server_send(
                {
                    "type": "http.response.start",
                    "status": self.status,
                    "headers": self.response_headers,
                }
            )
            self.response_tap.feed(body)
            await self.server_send({"type": "http.response.body", "body": body})
        finally:
            self.record(blocked_by=decision.blocked_by)

    # the app's receive and send

    def _fed(self, body: bytes) -> BodyTap:
        """The request's tap, made with the first body bytes, `body` fed to it."""
        tap = self.request_tap
        if tap is _NO_BODY:
            tap = self.request_tap = BodyTap(self.middleware._limit)
        tap.feed(body)
        return tap

    async def receive(self) -> Message:
        buffered = self.buffered
        if buffered:
            return buffered.popleft()
        message = await self.app_receive()
        try:
            kind = message.get("type")
            if kind == "http.request":
                body = message.get("body")
                if body:
                    self._fed(body)
            elif kind == "http.disconnect":
                self.disconnected = True
        except Exception:
            logger.exception("moesifapi: could not read a request message of %s", self.url)
        return message

    def _send_any(self, message: Message) -> Awaitable[None]:
        """The app's `send` (this, or the C base's for the common messages, which hands
        this the rest): the message seen, then handed to the server's."""
        # Not a coroutine of its own: what the app awaits is the server's send.
        try:
            kind = message.get("type")
            if kind == "http.response.body":
                body = message.get("body")
                if body:
                    self.response_tap.feed(body)
                if not message.get("more_body", False) and not self.trailers:
                    self.finished = True
            elif kind == "http.response.start":
                message = self._started(message)
            elif kind == "http.response.trailers":
                if not message.get("more_trailers", False):
                    self.finished = True
            elif kind == "http.response.pathsend":
                self.finished = True
        except Exception:
            logger.exception("moesifapi: could not read a response message of %s", self.url)
        if self.finished and not self.recorded:
            # Recorded as the last message goes to the server: all of the exchange has
            # been seen, and the app awaits the server's own send, with no frame of ours.
            self.record()
        return self.server_send(message)

    if _ExchangeBase is object:
        send = _send_any

    def _report(self, error: Exception) -> None:
        """A response message the C base could not read (it goes on to the server)."""
        logger.error("moesifapi: could not read a response message of %s", self.url, exc_info=error)

    def _started(self, message: Message) -> Message:
        try:
            status = message["status"]
            self.status = status if type(status) is int else int(status)
            self.trailers = bool(message.get("trailers"))
            headers = list(message.get("headers") or ())
            if self.extra_headers:
                headers.extend(self.extra_headers)
                message = {**message, "headers": headers}
            self.response_headers = headers
        except Exception:
            logger.exception("moesifapi: could not read the response start of %s", self.url)
        return message


class MoesifMiddleware:
    """ASGI middleware that logs each HTTP exchange of `app` to Moesif as an event.

    `client` is a `MoesifClient` or an `AsyncMoesifClient`; by default the middleware
    makes an `AsyncMoesifClient` from the environment (``MOESIF_APPLICATION_ID``,
    ``MOESIF_BASE_URL``) and closes it at the lifespan's shutdown. A given client is
    flushed then, within its ``exit_timeout``, and left open. `options` are the capture
    settings (`moesifapi.integrations.CaptureSettings`); an unknown one raises
    `ValidationError` naming it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: MoesifClient | AsyncMoesifClient | None = None,
        **options: Unpack[CaptureOptions],
    ) -> None:
        self.app = app
        self.settings = settings_from(options)
        self._owns_client = client is None
        self.client: MoesifClient | AsyncMoesifClient = (
            AsyncMoesifClient() if client is None else client
        )
        self.capture = Capture(self.client, self.settings, "Incoming")
        settings = self.settings
        self._limit = settings.max_body_bytes if settings.log_body else 0
        name = settings.transaction_id_header
        self._tid_key = None if name is None else name.lower()
        self._tid_header = None if self._tid_key is None else self._tid_key.encode("latin-1")
        # The request headers an exchange reads before the app: Host, and the
        # transaction id's where there is one (`pick_headers`).
        self._picked = (b"host",) if self._tid_header is None else (b"host", self._tid_header)
        # What the C base's `__init__` needs of the middleware, for a plain capture: the
        # exchange's parts that do not change from one request to the next.
        chosen = self.capture.chosen_transaction_id
        plan = (_NO_BODY, self._picked, self._limit, self._tid_header, chosen, _url)
        self._exchange_plan = plan if self.capture.plain else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        # An HTTP exchange, here rather than in a coroutine of its own: one frame less
        # on every request.
        try:
            exchange = _Exchange(self, scope, receive, send)
        except Exception:
            logger.exception("moesifapi: could not capture a request; it goes on uncaptured")
            await self.app(scope, receive, send)
            return
        try:
            decision = await self._govern(exchange) if self.capture.governs() else None
        except Exception:
            logger.exception("moesifapi: governance failed; the request goes through")
            decision = None
        if decision is not None and decision.blocked:
            await exchange.answer(decision)
            return
        raised = False
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BaseException:
            raised = True
            raise
        finally:
            if not exchange.recorded:
                if exchange.status is None and (raised or not exchange.disconnected):
                    # Not started: the server answers 500 (the app did not answer).
                    exchange.record(status=500)
                else:
                    exchange.record()  # what was seen: a disconnect, or a failure midway

    async def _govern(self, exchange: _Exchange) -> GovernanceDecision | None:
        capture = self.capture
        if self._limit and capture.governs_by_body():
            await exchange.read_ahead(self.settings.max_body_bytes + 1)
        decision = capture.govern(exchange.request())
        if decision.headers and not decision.blocked:
            exchange.extra_headers.extend(_raw_headers(decision.headers))
        return decision

    # --- lifespan ---

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        received: list[str] = []
        replied: list[str] = []
        flushed = False

        async def flush() -> None:
            nonlocal flushed
            if not flushed:
                flushed = True
                await self._flush()

        async def lifespan_receive() -> Message:
            message = await receive()
            received.append(message.get("type", ""))
            return message

        async def lifespan_send(message: Message) -> None:
            kind = message.get("type", "")
            replied.append(kind)
            if kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await flush()  # after the app's own shutdown, before the server stops
            await send(message)

        try:
            await self.app(scope, lifespan_receive, lifespan_send)
        except Exception:
            if replied:  # the app speaks lifespan: its failure is its own
                if "lifespan.shutdown" in received:
                    await flush()
                raise
            logger.debug("moesifapi: the app does not handle lifespan; the middleware does")
        except BaseException:
            if "lifespan.shutdown" in received:
                await flush()
            raise
        else:
            if replied:
                if "lifespan.shutdown" in received:
                    await flush()
                return
        # The app does not implement lifespan: answer the server here, to flush at
        # shutdown (what a server does for such an app, plus the flush).
        if "lifespan.startup" not in received:
            await receive()
        await send({"type": "lifespan.startup.complete"})
        while True:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                await flush()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _flush(self) -> None:
        """Deliver what is queued within the client's exit_timeout; never raises."""
        client = self.client
        try:
            timeout = client._queue.core.settings.exit_timeout
            if isinstance(client, AsyncMoesifClient):
                if self._owns_client:
                    await client.aclose()
                else:
                    await client.flush(timeout)
            else:
                await asyncio.to_thread(client.flush, timeout)
        except Exception:
            logger.exception("moesifapi: could not flush the client at shutdown")
