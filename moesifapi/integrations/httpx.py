"""httpx transports that log the calls an app makes itself, as "Outgoing" events.

    from moesifapi import MoesifClient
    from moesifapi.integrations.httpx import MoesifTransport

    moesif = MoesifClient(application_id="...")
    http = httpx.Client(transport=MoesifTransport(client=moesif))

`MoesifTransport` wraps any `httpx.BaseTransport` (an `httpx.HTTPTransport` when none
is given), `AsyncMoesifTransport` any `httpx.AsyncBaseTransport`. Each exchange is
handed to the capture core (`moesifapi.integrations._capture`) and queued on the
client; both take the same settings as the middleware (`CaptureSettings`), though
governance does not apply to outgoing calls.

Bodies are teed as they pass, never read ahead: a request body is kept as it is sent,
a response body as the caller reads it (up to `max_body_bytes`, counted beyond). The
event is recorded when the response body has been read to its end or closed,
whichever comes first; a call that fails in the transport is recorded without a
response and its exception goes on unchanged. Calls to the client's own Moesif base
URL are passed through unlogged, so a client may send its own deliveries through an
httpx client that uses this transport.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx

from .._async_client import AsyncMoesifClient
from .._client import MoesifClient
from .._protocol import HEALTH_PATH
from ..exceptions import ValidationError
from ._capture import BodyTap, Capture, CapturedRequest, CapturedResponse, Headers, settings_from

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._capture import CaptureOptions

__all__ = ["AsyncMoesifTransport", "MoesifTransport"]

logger = logging.getLogger("moesifapi")

_UTC = timezone.utc
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme)


class _Outgoing:
    """What both transports share: the capture, and which URLs are Moesif's own."""

    __slots__ = ("capture", "limit", "moesif_origin", "moesif_path")

    def __init__(self, client: MoesifClient | AsyncMoesifClient, options: CaptureOptions) -> None:
        if not isinstance(client, (MoesifClient, AsyncMoesifClient)):
            raise ValidationError(
                f"must be a MoesifClient or an AsyncMoesifClient, got {type(client).__name__}",
                field="client",
            )
        settings = settings_from(options)
        self.capture = Capture(client, settings, "Outgoing")
        self.limit = settings.max_body_bytes if settings.log_body else 0
        base = httpx.URL(client._core.settings.base_url)
        self.moesif_origin = _origin(base)
        self.moesif_path = base.path.rstrip("/")

    def is_moesif(self, url: httpx.URL) -> bool:
        """Whether `url` is one of the client's own calls: under its base URL, or its
        health probe at that host's root."""
        if _origin(url) != self.moesif_origin:
            return False
        path, prefix = url.path, self.moesif_path
        return not prefix or path in (prefix, HEALTH_PATH) or path.startswith(prefix + "/")

    def begin(self, request: httpx.Request) -> _Exchange | None:
        """The exchange to record for `request`, or None to pass it through as it is."""
        try:
            if self.is_moesif(request.url):
                return None
            capture = self.capture
            transaction_id = capture.transaction_id(request.headers)
            name = capture.settings.transaction_id_header
            if name is not None and name not in request.headers:
                request.headers[name] = transaction_id
            return _Exchange(self, request, transaction_id)
        except Exception:
            logger.exception("moesifapi: could not capture %s %s", request.method, request.url)
            return None


class _Exchange:
    """One outgoing call under way: what has been seen of it so far."""

    __slots__ = (
        "capture",
        "ended",
        "limit",
        "recorded",
        "request",
        "request_headers",
        "request_tap",
        "response",
        "response_tap",
        "started",
        "transaction_id",
    )

    def __init__(self, outgoing: _Outgoing, request: httpx.Request, transaction_id: str) -> None:
        self.started = datetime.now(_UTC)
        self.capture = outgoing.capture
        self.limit = outgoing.limit
        self.request = request
        self.request_headers = request.headers.raw
        self.transaction_id = transaction_id
        self.request_tap = BodyTap(self.limit)
        self.response: httpx.Response | None = None
        self.response_tap: BodyTap | None = None
        self.ended: datetime | None = None
        self.recorded = False

    def request_body(self) -> bool:
        """Take the request body if it is in memory; False if it must be teed as sent."""
        try:
            content = self.request.content
        except httpx.RequestNotRead:
            return False
        self.request_tap.feed(content)
        return True

    def response_received(self, response: httpx.Response) -> bool:
        """Note the response; True if its body was already read (and so is captured
        now, and the event recorded), False if it is to be teed as it is read."""
        self.response = response
        tap = self.response_tap = BodyTap(self.limit)
        try:
            content = response.content
        except httpx.ResponseNotRead:
            return False
        stream = response.stream
        if isinstance(stream, httpx.ByteStream):
            for chunk in stream:  # the bytes as received, before any decoding
                tap.feed(chunk)
        else:
            tap.feed(content)
        self.body_ended()
        self.record(raw=isinstance(stream, httpx.ByteStream))
        return True

    def tee_request(self, kind: type, tee: Callable[[Any, BodyTap], Any]) -> object | None:
        """Copy a request body that is not in memory as it is sent: `request.stream`
        becomes `tee(stream, tap)` when it is a `kind`. Returns the stream to put back
        once the transport is done with it, or None."""
        request = self.request
        sent = request.stream
        try:
            if not self.request_body() and isinstance(sent, kind):
                request.stream = tee(sent, self.request_tap)
                return sent
        except Exception:
            logger.exception("moesifapi: could not capture the body of %s", request.url)
        return None

    def tee_response(
        self, response: httpx.Response, kind: type, tee: Callable[[Any, _Exchange], Any]
    ) -> None:
        """Copy the response body as the caller reads it (or now, if read already)."""
        try:
            stream = response.stream
            if not self.response_received(response):
                if isinstance(stream, kind):
                    response.stream = tee(stream, self)
                else:  # a stream of the wrong kind: httpx will refuse it, not us
                    self.record()
        except Exception:
            logger.exception("moesifapi: could not capture the response of %s", self.request.url)

    def failed(self) -> None:
        """The transport raised: record the exchange without a response."""
        self.body_ended()
        self.record()

    def body_ended(self) -> None:
        if self.ended is None:
            self.ended = datetime.now(_UTC)

    def record(self, *, raw: bool = True) -> None:
        """Record the event, once. Never raises."""
        if self.recorded:
            return
        self.recorded = True
        request = self.request
        try:
            tap = self.request_tap
            captured_request = CapturedRequest(
                request.method,
                str(request.url),
                Headers.from_raw(self.request_headers),
                tap.captured(),
                tap.size,
                None,
            )
            captured_response = None
            response, response_tap = self.response, self.response_tap
            if response is not None and response_tap is not None:
                pairs = response.headers.raw
                if not raw:  # decoded by httpx already: its encoding no longer applies
                    pairs = [pair for pair in pairs if pair[0].lower() != b"content-encoding"]
                captured_response = CapturedResponse(
                    response.status_code,
                    Headers.from_raw(pairs),
                    response_tap.captured(),
                    response_tap.size,
                )
            self.capture.record(
                captured_request,
                captured_response,
                self.started,
                self.ended or datetime.now(_UTC),
                transaction_id=self.transaction_id,
            )
        except Exception:
            logger.exception("moesifapi: could not capture %s %s", request.method, request.url)


# --- sync ---


class _TeedRequestStream(httpx.SyncByteStream):
    __slots__ = ("_inner", "_tap")

    def __init__(self, inner: httpx.SyncByteStream, tap: BodyTap) -> None:
        self._inner = inner
        self._tap = tap

    def __iter__(self) -> Iterator[bytes]:
        feed = self._tap.feed
        for chunk in self._inner:
            feed(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _TeedResponseStream(httpx.SyncByteStream):
    __slots__ = ("_exchange", "_inner")

    def __init__(self, inner: httpx.SyncByteStream, exchange: _Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        assert exchange.response_tap is not None
        feed = exchange.response_tap.feed
        for chunk in self._inner:
            feed(chunk)
            yield chunk
        exchange.body_ended()
        exchange.record()

    def close(self) -> None:
        exchange = self._exchange
        try:
            self._inner.close()
        finally:
            exchange.body_ended()
            exchange.record()


class MoesifTransport(httpx.BaseTransport):
    """An httpx transport that logs each call through it to Moesif as an "Outgoing"
    event, then hands it to `transport` (a new `httpx.HTTPTransport` by default).

    `client` is the `MoesifClient` (or `AsyncMoesifClient`) the events are queued on;
    the other keyword arguments are `CaptureSettings`. Closing this transport closes
    the wrapped one.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        client: MoesifClient | AsyncMoesifClient,
        **options: Unpack[CaptureOptions],
    ) -> None:
        self._outgoing = _Outgoing(client, options)
        self._transport = transport if transport is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = self._outgoing.begin(request)
        if exchange is None:
            return self._transport.handle_request(request)
        sent = exchange.tee_request(httpx.SyncByteStream, _TeedRequestStream)
        try:
            response = self._transport.handle_request(request)
        except Exception:
            exchange.failed()
            raise
        finally:
            if sent is not None:
                request.stream = sent  # type: ignore[assignment]
        exchange.tee_response(response, httpx.SyncByteStream, _TeedResponseStream)
        return response

    def close(self) -> None:
        self._transport.close()


# --- async ---


class _AsyncTeedRequestStream(httpx.AsyncByteStream):
    __slots__ = ("_inner", "_tap")

    def __init__(self, inner: httpx.AsyncByteStream, tap: BodyTap) -> None:
        self._inner = inner
        self._tap = tap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        feed = self._tap.feed
        async for chunk in self._inner:
            feed(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncTeedResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_exchange", "_inner")

    def __init__(self, inner: httpx.AsyncByteStream, exchange: _Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        assert exchange.response_tap is not None
        feed = exchange.response_tap.feed
        async for chunk in self._inner:
            feed(chunk)
            yield chunk
        exchange.body_ended()
        exchange.record()

    async def aclose(self) -> None:
        exchange = self._exchange
        try:
            await self._inner.aclose()
        finally:
            exchange.body_ended()
            exchange.record()


class AsyncMoesifTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of `MoesifTransport`: wraps an `httpx.AsyncBaseTransport` (a
    new `httpx.AsyncHTTPTransport` by default), for `httpx.AsyncClient`."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        client: MoesifClient | AsyncMoesifClient,
        **options: Unpack[CaptureOptions],
    ) -> None:
        self._outgoing = _Outgoing(client, options)
        self._transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = self._outgoing.begin(request)
        if exchange is None:
            return await self._transport.handle_async_request(request)
        sent = exchange.tee_request(httpx.AsyncByteStream, _AsyncTeedRequestStream)
        try:
            response = await self._transport.handle_async_request(request)
        except Exception:
            exchange.failed()
            raise
        finally:
            if sent is not None:
                request.stream = sent  # type: ignore[assignment]
        exchange.tee_response(response, httpx.AsyncByteStream, _AsyncTeedResponseStream)
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()
