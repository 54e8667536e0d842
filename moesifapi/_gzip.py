"""gzip for request bodies: the standard library's zlib, or ISA-L's deflate at level 1.

At `gzip_level` 1, the default, bodies are compressed with ISA-L (Intel's storage
acceleration library, through the optional `isal` package, in the `fast` extra) when
it is installed: on the benchmarks' events it is about 14 times faster than zlib at
level 1, with output of about the same size (a few percent smaller on seed-shaped
events, about 15% larger on capture events with 1 kB JSON bodies). Levels 2 to 9 are
zlib's, whose larger sizes for more CPU are what a user picking them asks for.
Without `isal`, or with ``MOESIFAPI_STDLIB_GZIP=1`` in the environment, every level
is zlib's, writing the bytes of `gzip.compress(data, level, mtime=0)`.

Either way the body is one gzip member with mtime 0 that any gzip reader inflates to
the same JSON. One difference matters to the callers: zlib writes the same bytes
whether a stream is fed in pieces or at once, ISA-L does not (`streams_as_one`).
"""

from __future__ import annotations

import gzip
import os
import zlib
from functools import cache
from typing import Any, Protocol

try:
    from isal import isal_zlib as _isal_zlib
except ImportError:  # the `fast` extra is not installed
    _isal_zlib = None  # type: ignore[assignment]
if os.environ.get("MOESIFAPI_STDLIB_GZIP"):
    _isal_zlib = None  # type: ignore[assignment]

__all__ = ["ISAL", "compress", "compressor", "header", "restamped", "streams_as_one"]

ISAL: bool = _isal_zlib is not None
"""Whether level 1 is compressed by ISA-L."""

# A gzip member: what `gzip.compress` writes.
_GZIP_WBITS = 31


class Compressor(Protocol):
    def compress(self, data: Any, /) -> bytes: ...
    def flush(self, mode: int = ..., /) -> bytes: ...


def _by_isal(level: int) -> bool:
    return level == 1 and _isal_zlib is not None


def streams_as_one(level: int) -> bool:
    """Whether a stream fed in pieces ends as the bytes of `compress` of the whole: true
    of zlib, not of ISA-L, whose blocks follow where the pieces end."""
    return not _by_isal(level)


def compress(data: bytes | bytearray | memoryview, level: int) -> bytes:
    """`data` as one gzip member with mtime 0, at `level` (1 to 9)."""
    if _isal_zlib is not None and level == 1:
        out: bytes = _isal_zlib.compress(data, 1, _GZIP_WBITS)
        return out
    return gzip.compress(data, compresslevel=level, mtime=0)


def compressor(level: int) -> Compressor:
    """A stream to feed in pieces; its header is `header(level)[1]`."""
    if _isal_zlib is not None and level == 1:
        stream: Compressor = _isal_zlib.compressobj(1, _isal_zlib.DEFLATED, _GZIP_WBITS)
        return stream
    return zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)


@cache
def header(level: int) -> tuple[bytes, bytes]:
    """The 10-byte header `compress` writes at `level`, and the one a `compressor`
    stream starts with. For zlib they differ on Python 3.10 only (the byte that names
    the operating system); a stream's is replaced by the first, so that every body
    starts the same way, and with zlib is the same bytes however it was fed."""
    return compress(b"", level)[:10], compressor(level).flush()[:10]


def restamped(body: bytes, level: int) -> bytes:
    """A `compressor` stream's whole `body` with `compress`'s header at `level`."""
    header_, stream_header = header(level)
    return body if header_ == stream_header else header_ + body[10:]
