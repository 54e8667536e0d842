"""Turning a raw request body into JSON the way the Collector does: size, gzip, UTF-8.

Each way a body can be unreadable becomes a `BodyError` carrying the status to answer.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping

__all__ = ["BodyError", "declared_length", "decode_json_body", "gunzip"]


class BodyError(Exception):
    """A body the collector refuses before looking at its fields."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def declared_length(headers: Mapping[str, str]) -> int:
    """The Content-Length a request announced, or 0 when absent or unreadable."""
    try:
        return max(int(headers.get("content-length", "0")), 0)
    except ValueError:
        return 0


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a (possibly multi-member) gzip body, refusing output beyond `limit`.

    The output bound is enforced while inflating, so a small "zip bomb" cannot make
    the sandbox allocate gigabytes before it notices.
    """
    out = bytearray()
    remaining = data
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            # max_length is at least 1 here: the check below stops us at limit + 1.
            out += inflater.decompress(remaining, limit + 1 - len(out))
        except zlib.error as exc:
            raise BodyError(400, f"request body is not valid gzip: {exc}") from None
        if len(out) > limit:
            raise BodyError(413, f"request body is larger than {limit} bytes once decompressed")
        if not inflater.eof:
            raise BodyError(400, "request body is not valid gzip: the stream is truncated")
        remaining = inflater.unused_data
        if not remaining:
            return bytes(out)


def _reject_constant(name: str) -> object:
    # Python's json accepts NaN and Infinity; JSON (and the API) does not.
    raise ValueError(f"{name} is not valid JSON")


def decode_json_body(body: bytes, headers: Mapping[str, str], limit: int) -> object:
    """The JSON value in `body`, checked against `limit` before and after gunzip.

    `headers` must have lower-case names. Raises `BodyError` with status 400, 413 or 415.
    """
    size = max(len(body), declared_length(headers))
    if size > limit:
        raise BodyError(413, f"request body is {size} bytes; the limit is {limit}")
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        raw = body
    elif encoding in ("gzip", "x-gzip"):
        raw = gunzip(body, limit)
    else:
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r}; send gzip or no encoding")
    if not raw.strip():
        raise BodyError(400, "request body is empty; expected JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            400, f"request body is not valid UTF-8 (bad byte at offset {exc.start})"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BodyError(
            400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise BodyError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise BodyError(400, "malformed JSON: nested too deeply") from None
