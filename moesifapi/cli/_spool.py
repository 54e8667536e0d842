"""The records the first pass of `moesif send` accepted, kept encoded on disk for the send.

Each record is validated and encoded once, while every record is checked; its bytes go
to a temporary file, and the send reads them back in order. Nothing is decoded or
validated twice, and memory stays flat however large the input.
"""

from __future__ import annotations

import bisect
import os
import struct
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import IO

__all__ = ["Spool"]

# Before each record: its place in the run (input number, record number) and its size.
_HEADER = struct.Struct("<IQI")
_BUFFER_BYTES = 256 * 1024


class Spool:
    """Encoded records in run order, in a temporary file removed on `close`.

    Records are mostly added in order. One added behind the last one written (a record
    whose kind was settled only at the end of the pass) is held in memory and merged
    back into its place when the records are read.

    The file may be several: a part of an input checked in another process is spooled
    to a spool of its own there, and `adopt`ed here in its place, its record numbers
    counted from the part's first record.
    """

    def __init__(self) -> None:
        # Each file with the number added to the record numbers written in it; the
        # last is the one `add` writes to (None until the first `add` after `adopt`).
        self._segments: list[tuple[IO[bytes], int]] = []
        self._file: IO[bytes] | None = self._new_segment()
        self._last: tuple[int, int] = (-1, -1)
        self._late: list[tuple[tuple[int, int], bytes]] = []
        self.count = 0

    def _new_segment(self) -> IO[bytes]:
        # Closed by `close` (the spool is a context manager itself).
        file = tempfile.TemporaryFile(prefix="moesif-", buffering=_BUFFER_BYTES)  # noqa: SIM115
        self._segments.append((file, 0))
        return file

    @property
    def last(self) -> tuple[int, int] | None:
        """The position of the last record written in order, None before the first."""
        return None if self._last == (-1, -1) else self._last

    @property
    def in_order(self) -> bool:
        """Whether every record was added after the one before (none is held in memory)."""
        return not self._late

    def add(self, position: tuple[int, int], encoded: bytes) -> None:
        """Keep the record at `position` (input number, record number)."""
        self.count += 1
        if position > self._last:
            out = self._file
            if out is None:
                out = self._file = self._new_segment()
            out.write(_HEADER.pack(position[0], position[1], len(encoded)) + encoded)
            self._last = position
        else:
            bisect.insort(self._late, (position, encoded))

    def flush(self) -> None:
        """Write out what is buffered (before another process reads the file)."""
        for file, _ in self._segments:
            file.flush()

    def adopt(
        self, other: Spool, record_offset: int, count: int, last: tuple[int, int] | None
    ) -> None:
        """Take the records another process wrote to `other` (`count` of them, the last
        at `last`, record numbers counted from `record_offset`), in order after this
        spool's, before any added from now on; `other` is left empty. Only records
        written to its file are taken: the other process's were all `in_order`."""
        for file, offset in other._segments:
            # Seeking from the end always asks the OS, so the file object's idea of
            # where it is catches up with what the other process wrote.
            file.seek(0, os.SEEK_END)
            self._segments.append((file, offset + record_offset))
        other._segments = []
        other._file = None
        self._file = None
        self.count += count
        if last is not None:
            self._last = max(self._last, (last[0], last[1] + record_offset))

    def items(self) -> Iterator[bytes]:
        """Every record kept, in run order (one pass; the file is read from its start)."""
        header_size = _HEADER.size
        unpack = _HEADER.unpack
        late = list(self._late)
        late.reverse()  # popped from the end, in order
        for out, offset in list(self._segments):
            out.flush()
            out.seek(0)
            read = out.read
            while header := read(header_size):
                source, record, size = unpack(header)
                while late and late[-1][0] < (source, record + offset):
                    yield late.pop()[1]
                yield read(size)
        while late:
            yield late.pop()[1]

    def close(self) -> None:
        for file, _ in self._segments:
            file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
