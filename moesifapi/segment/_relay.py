"""A Segment webhook receiver as a WSGI app: Segment messages in, a Moesif client's queue out.

Standard library only, so it runs under wsgiref, gunicorn, uWSGI or any WSGI server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http
import json
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._client import MoesifClient
from ..exceptions import ValidationError
from ._destination import SegmentDestination, SegmentReport, queue_plan
from ._dispatch import SkipReason
from ._plan import DeliveryPlan, plan_delivery

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["DEFAULT_RELAY_MAX_BODY_BYTES", "SegmentRelay", "relay_app"]

DEFAULT_RELAY_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest request body the relay reads, before and after gzip: 4 MiB.

Segment's own batch endpoint takes 500 KB; the margin is for Webhooks (Actions)
batches, whose size is set in Segment's settings.
"""

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's way of asking for a gzip header and trailer


class _Refusal(Exception):
    """A request the relay answers with an error status instead of forwarding it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = list(headers)
        self.field = field


class SegmentRelay:
    """The WSGI application `relay_app` builds; see there for what it answers."""

    def __init__(
        self,
        client: MoesifClient,
        *,
        shared_secret: str | None = None,
        max_body_bytes: int = DEFAULT_RELAY_MAX_BODY_BYTES,
    ) -> None:
        if shared_secret is not None and not shared_secret:
            raise ValidationError(
                "must not be empty; pass None to accept every request", field="shared_secret"
            )
        if type(max_body_bytes) is not int or max_body_bytes < 1:
            raise ValidationError(
                f"must be an int >= 1, got {max_body_bytes!r}", field="max_body_bytes"
            )
        self.destination = SegmentDestination(client)
        self.max_body_bytes = max_body_bytes
        self._secret = None if shared_secret is None else shared_secret.encode("utf-8")

    @property
    def authenticated(self) -> bool:
        """Whether every request must carry the shared secret."""
        return self._secret is not None

    def __repr__(self) -> str:
        secured = "shared secret" if self._secret is not None else "no authentication"
        return f"<SegmentRelay to {self.destination.client!r}, {secured}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        try:
            report = self._forward(environ)
        except _Refusal as refusal:
            status = refusal.status
            extra_headers = refusal.headers
            answer: dict[str, object] = {
                "success": False,
                "code": refusal.code,
                "message": refusal.message,
            }
            if refusal.field is not None:
                answer["field"] = refusal.field
        else:
            status = 200
            extra_headers = []
            answer = {"success": True, **report.summary()}
        body = json.dumps(answer, separators=(",", ":")).encode("utf-8")
        start_response(
            f"{status} {http.HTTPStatus(status).phrase}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *extra_headers,
            ],
        )
        return [body]

    def _forward(self, environ: WSGIEnvironment) -> SegmentReport:
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
            raise _Refusal(
                405, "method_not_allowed", "send Segment messages with POST", [("Allow", "POST")]
            )
        raw = self._read_body(environ)
        if self._secret is not None and not _authorized(self._secret, environ, raw):
            raise _Refusal(
                401,
                "unauthorized",
                "the shared secret is missing or wrong",
                [("WWW-Authenticate", 'Basic realm="segment-relay"')],
            )
        _check_json_content_type(environ)
        payload = _json(self._decoded(environ, raw))
        try:
            plan = plan_delivery(payload)
        except ValidationError as error:
            raise _Refusal(400, "invalid_payload", str(error), field=error.field) from error
        _refuse_if_nothing_valid(plan, single=isinstance(payload, dict) and "batch" not in payload)
        return queue_plan(self.destination.client, plan)

    def _read_body(self, environ: WSGIEnvironment) -> bytes:
        declared = str(environ.get("CONTENT_LENGTH") or "").strip()
        if not declared:
            # WSGI gives no way to read a body of unknown length without risking a hang.
            raise _Refusal(411, "length_required", "the request needs a Content-Length")
        if not declared.isdigit():
            raise _Refusal(400, "invalid_length", f"Content-Length {declared!r} is not a number")
        length = int(declared)
        if length > self.max_body_bytes:
            raise _Refusal(413, "payload_too_large", self._too_large(length))
        try:
            raw: bytes = environ["wsgi.input"].read(length)
        except TimeoutError:
            # The server's socket or request timeout: a sender that stalls mid-body, or
            # trickles it too slowly, is let go.
            raise _Refusal(
                408, "request_timeout", "the body stopped arriving, or did not arrive in time"
            ) from None
        if len(raw) < length:
            raise _Refusal(400, "incomplete_body", "the body ended before its Content-Length")
        return raw

    def _decoded(self, environ: WSGIEnvironment, raw: bytes) -> bytes:
        encoding = str(environ.get("HTTP_CONTENT_ENCODING") or "identity").strip().lower()
        if encoding == "identity":
            return raw
        if encoding in ("gzip", "x-gzip"):
            return self._gunzip(raw)
        raise _Refusal(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r}: send identity or gzip"
        )

    def _gunzip(self, raw: bytes) -> bytes:
        out = bytearray()
        rest = raw
        while rest:  # gzip allows several members back to back
            member = zlib.decompressobj(wbits=_GZIP_WBITS)
            try:
                # Never inflate past the limit: a few KB of gzip can expand to gigabytes.
                out += member.decompress(rest, self.max_body_bytes + 1 - len(out))
            except zlib.error as error:
                raise _Refusal(400, "invalid_gzip", f"the gzip body is corrupt: {error}") from None
            if len(out) > self.max_body_bytes or member.unconsumed_tail:
                raise _Refusal(413, "payload_too_large", self._too_large(None))
            if not member.eof:
                raise _Refusal(400, "invalid_gzip", "the gzip body is truncated")
            rest = member.unused_data
        return bytes(out)

    def _too_large(self, length: int | None) -> str:
        size = "the body" if length is None else f"a body of {length} bytes"
        return f"{size} is over the relay's {self.max_body_bytes}-byte limit"


def relay_app(
    client: MoesifClient,
    *,
    shared_secret: str | None = None,
    max_body_bytes: int = DEFAULT_RELAY_MAX_BODY_BYTES,
) -> SegmentRelay:
    """A WSGI app that takes Segment webhook POSTs and queues them on `client` for Moesif.

    The body is JSON, optionally gzip (``Content-Encoding: gzip``): one Segment
    message, a batch ``{"batch": [...]}`` as Segment's libraries post it, or a list of
    messages. Any path is accepted, so a Segment library pointed at the relay (its
    ``/v1/batch``) and a webhook URL both work. Messages go through
    `SegmentDestination.queue`: the answer never waits for Moesif.

    Answers, each a JSON object:

    - 200 ``{"success": true, "messages": ..., "users": ..., "skipped": [...]}``
      (`SegmentReport.summary`);
    - 400 malformed JSON, gzip or Content-Length, or a body that is not a Segment
      payload, or one whose every message is invalid (``"code": "invalid_message"``
      and the ``"field"`` of the first problem, such as ``"batch[0].traits.a"``; a
      batch with a valid message is answered 200 and lists the invalid ones as
      skipped); 401 a wrong or missing shared secret; 405 not a POST; 408 the body
      stopped arriving (the server's socket or request timeout); 411 no
      Content-Length; 413 over `max_body_bytes` (compressed or not); 415 a
      Content-Type other than ``application/json`` (or ``application/*+json``), or
      another Content-Encoding.
      Error bodies are ``{"success": false, "code": ..., "message": ...}``, the shape
      Segment's libraries read.

    With `shared_secret` set a request must carry it, in either way Segment sends one:
    an ``X-Signature`` header holding the hex HMAC-SHA1 of the body keyed with the
    secret (Segment's Webhooks destinations), or HTTP Basic credentials whose username
    or password is the secret (Segment's libraries send their write key as the
    username). Close `client` when the server stops, so its queue is delivered.

        from wsgiref.simple_server import make_server
        server = make_server("127.0.0.1", 8080, relay_app(client, shared_secret="s3cret"))
    """
    return SegmentRelay(client, shared_secret=shared_secret, max_body_bytes=max_body_bytes)


def _refuse_if_nothing_valid(plan: DeliveryPlan, *, single: bool) -> None:
    """A 400 when every message of the payload is invalid: resending it cannot help, and
    a 200 would hide it. A batch with one valid message is answered 200 (its valid
    messages are queued; Segment would resend them all after a 400)."""
    invalid = [skip for skip in plan.skipped if skip.reason is SkipReason.INVALID_MESSAGE]
    if not plan.messages or len(invalid) < plan.messages:
        return
    first = invalid[0]
    if single:
        message = f"the message is invalid: {first.detail}"
    else:
        item = (first.field or "").partition("]")[0] + "]"  # "batch[3]" or "[3]"
        message = (
            f"every message of the batch is invalid ({plan.messages}), so none was queued;"
            f" the first, {item}: {first.detail}"
        )
    raise _Refusal(400, "invalid_message", message, field=first.field)


def _authorized(secret: bytes, environ: WSGIEnvironment, raw: bytes) -> bool:
    """Whether the request carries `secret`, as a body signature or in Basic credentials."""
    signature = str(environ.get("HTTP_X_SIGNATURE") or "").strip().lower()
    if signature:
        # Segment's webhook signature: hex HMAC-SHA1 of the body as sent, keyed with
        # the secret. Checked on the raw bytes so nothing is decompressed unsigned.
        expected = hmac.new(secret, raw, hashlib.sha1).hexdigest()
        return hmac.compare_digest(expected.encode("ascii"), signature.encode("latin-1", "replace"))
    credentials = _basic_credentials(str(environ.get("HTTP_AUTHORIZATION") or ""))
    if credentials is None:
        return False
    username, password = credentials
    # Segment's libraries send the write key as the username with no password; a
    # webhook URL with user:password@ puts a secret in the password. Either will do.
    username_matches = hmac.compare_digest(username, secret)
    password_matches = hmac.compare_digest(password, secret)
    return username_matches or password_matches


def _check_json_content_type(environ: WSGIEnvironment) -> None:
    declared = str(environ.get("CONTENT_TYPE") or "")
    media_type = declared.partition(";")[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    shown = repr(declared) if declared else "none"
    raise _Refusal(415, "unsupported_media_type", f"Content-Type {shown}: send application/json")


def _json(body: bytes) -> Any:  # whatever JSON holds; the destination checks its shape
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except _Refusal:
        raise
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise _Refusal(400, "invalid_json", f"the body is not JSON: {error}") from None


def _refuse_constant(name: str) -> object:
    # Python's json reads NaN and Infinity; JSON (and Moesif) do not.
    raise _Refusal(400, "invalid_json", f"the body is not JSON: {name} is not a JSON value")


def _basic_credentials(header: str) -> tuple[bytes, bytes] | None:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, _, password = decoded.partition(b":")
    return username, password
