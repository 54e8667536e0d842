"""The records the first pass of `moesif send` accepted, kept encoded on disk for the send.

Each record is validated and encoded once, while every record is checked; its bytes go
to a temporary file, and the send reads them back in order. Nothing is decoded or
validated twice, and memory stays flat however large the input.
"""

from __future__ import annotations

import bisect
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
    """

    def __init__(self) -> None:
        # Closed by `close` (the spool is a context manager itself).
        self._file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="moesif-", buffering=_BUFFER_BYTES
        )
        self._last: tuple[int, int] = (-1, -1)
        self._late: list[tuple[tuple[int, int], bytes]] = []
        self.count = 0

    def add(self, position: tuple[int, int], encoded: bytes) -> None:
        """Keep the record at `position` (input number, record number)."""
        self.count += 1
        if position > self._last:
            self._file.write(_HEADER.pack(position[0], position[1], len(encoded)) + encoded)
            self._last = position
        else:
            bisect.insort(self._late, (position, encoded))

    def items(self) -> Iterator[bytes]:
        """Every record kept, in run order (one pass; the file is read from its start)."""
        out = self._file
        out.flush()
        out.seek(0)
        read = out.read
        header_size = _HEADER.size
        unpack = _HEADER.unpack
        late = list(self._late)
        late.reverse()  # popped from the end, in order
        while header := read(header_size):
            source, record, size = unpack(header)
            while late and late[-1][0] < (source, record):
                yield late.pop()[1]
            yield read(size)
        while late:
            yield late.pop()[1]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
