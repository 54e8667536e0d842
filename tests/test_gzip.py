"""Request bodies are gzipped by zlib, or at level 1 by ISA-L when `isal` is installed
(the `fast` extra); every body is one gzip member, mtime 0, that inflates to the JSON.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moesifapi import _gzip

JSON = b'[{"request":{"uri":"https://a.example/items/1","verb":"GET"}}]' * 50

try:
    from isal import isal_zlib
except ImportError:  # pragma: no cover - installed without the `fast` extra
    isal_zlib = None


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000) | st.just(JSON), level=st.integers(1, 9))
def test_every_level_writes_one_gzip_member_that_inflates_to_the_data(
    data: bytes, level: int
) -> None:
    body = _gzip.compress(data, level)
    assert gzip.decompress(body) == data
    assert zlib.decompress(body, 31) == data  # a single member: nothing after it
    assert body[:4] == b"\x1f\x8b\x08\x00"
    assert body[4:8] == b"\x00\x00\x00\x00"  # mtime 0: the same data, the same bytes


@pytest.mark.parametrize("level", range(2, 10))
def test_levels_above_one_are_zlibs_bytes(level: int) -> None:
    assert _gzip.compress(JSON, level) == gzip.compress(JSON, compresslevel=level, mtime=0)
    assert _gzip.streams_as_one(level)


@pytest.mark.skipif(
    isal_zlib is None or bool(os.environ.get("MOESIFAPI_STDLIB_GZIP")),
    reason="isal is not installed, or turned off",
)
def test_level_one_is_isals_when_it_is_installed() -> None:
    assert _gzip.ISAL
    assert _gzip.compress(JSON, 1) == isal_zlib.compress(JSON, 1, 31)
    assert not _gzip.streams_as_one(1)


@pytest.mark.parametrize("level", [1, 6])
def test_a_stream_fed_in_pieces_inflates_to_the_whole(level: int) -> None:
    stream = _gzip.compressor(level)
    pieces = [stream.compress(JSON[start : start + 97]) for start in range(0, len(JSON), 97)]
    body = b"".join(pieces) + stream.flush()
    assert gzip.decompress(body) == JSON
    assert body[:10] == _gzip.header(level)[1]
    if _gzip.streams_as_one(level):
        assert body == _gzip.compress(JSON, level)


def test_moesifapi_stdlib_gzip_turns_isal_off() -> None:
    script = (
        "import gzip; from moesifapi import _gzip; data = b'[1,2,3]' * 100;"
        "print(_gzip.ISAL, _gzip.compress(data, 1) == gzip.compress(data, 1, mtime=0),"
        " _gzip.streams_as_one(1))"
    )
    env = {**os.environ, "MOESIFAPI_STDLIB_GZIP": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True", "True"]
