"""Reading records from NDJSON and JSON-array files, each with the line it came from.

NDJSON is read a line at a time, and a line past `MAX_LINE_BYTES` is skipped in
bounded pieces, so memory stays flat however long the file or its lines; a JSON
array is read whole. Standard input is copied to a temporary file first and read
from there like any other input.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeAlias

from .._wire import _speedups

__all__ = [
    "MAX_LINE_BYTES",
    "Decoded",
    "InputError",
    "InputFile",
    "Location",
    "RawRecord",
    "ndjson_cuts",
    "read_decoded",
    "read_ndjson_part",
    "read_records",
    "reject_non_json_number",
]

STDIN_NAME = "-"
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = " \t\r\n"
# The longest NDJSON line read, newline included: the Collector API's limit for one
# event, with room for the spacing and escapes that the encoded form leaves out. A
# longer line is an invalid record, and is never held in memory whole.
MAX_LINE_BYTES = 1024 * 1024
_PIECE_BYTES = 64 * 1024
_LINE_TOO_LONG = f"line longer than {MAX_LINE_BYTES} bytes, the most one record may take"
_TOO_DEEP = "nests arrays and objects too deep to read"
_CLOSING = {"[": "]", "{": "}"}
_BRACKET_OR_QUOTE = re.compile(r'[\[\]{}"]')
_QUOTE_OR_ESCAPE = re.compile(r'["\\]')


def reject_non_json_number(name: str) -> object:
    """For `json`'s parse_constant: Python accepts NaN and Infinity, JSON does not."""
    raise ValueError(f"{name} is not a JSON number")


# One decoder for every line (`json.loads` with an argument builds one per call).
_DECODER = json.JSONDecoder(parse_constant=reject_non_json_number)
# orjson's, when the optional `fast` extra is installed (as `_wire` finds it).
_fast_loads: Callable[[bytes], object] | None
try:
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - exercised by the stdlib-only test run
    _fast_loads = None
# Where orjson and `json` part ways on input orjson accepts: an integer outside 64 bits
# (below -2**63 or above 2**64 - 1, which orjson reads as a float) and nesting past
# `json`'s recursion limit. A line with a run of 19 digits, or with many brackets, is
# left to `json`; both are found in one pass over the line's "shape" (each digit a 0,
# each opening bracket a brace, the rest spaces).
_SHAPE = bytes(
    0x30 if 0x30 <= byte <= 0x39 else 0x7B if byte in (0x5B, 0x7B) else 0x20 for byte in range(256)
)
_LONG_DIGIT_RUN = b"0" * 19
_FAST_MAX_BRACKETS = 500  # well below `json`'s depth limit (the recursion limit, 1000)


def _reads_alike_python(raw: bytes) -> bool:
    """Whether orjson reads `raw` exactly as `json` would, if it reads it at all."""
    shape = raw.translate(_SHAPE)
    return _LONG_DIGIT_RUN not in shape and shape.count(b"{") < _FAST_MAX_BRACKETS


def _reads_alike_compiled(raw: bytes) -> bool:
    """`_reads_alike_python`, in C: one pass over `raw`, no copy."""
    return _reads_alike(raw, _FAST_MAX_BRACKETS, len(_LONG_DIGIT_RUN))


_fast_reads_alike: Callable[[bytes], bool]
if _speedups is not None:
    _reads_alike = _speedups.reads_alike
    _fast_reads_alike = _reads_alike_compiled
else:
    _fast_reads_alike = _reads_alike_python


class InputError(Exception):
    """A whole input cannot be read: missing, unreadable, or not JSON at all."""


@dataclass(slots=True, unsafe_hash=True)  # not frozen: one is made for every record read
class Location:
    """Where a record came from: file, 1-based line, and index for a JSON array item."""

    source: str
    line: int
    index: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        return where if self.index is None else f"{where} [item {self.index}]"


class RawRecord(NamedTuple):
    """One decoded record, or the reason it could not be decoded (`data` is then None)."""

    location: Location
    data: object
    problem: str | None = None


class InputFile:
    """A file named on the command line, or standard input (``-``) spooled to disk."""

    def __init__(self, path: Path, display_name: str) -> None:
        self.path = path
        self.display_name = display_name

    @classmethod
    def open_all(cls, names: list[str], stack: contextlib.ExitStack) -> list[InputFile]:
        """Inputs for `names`; stdin's spool file is removed when `stack` closes."""
        inputs = []
        for name in names:
            if name == STDIN_NAME:
                inputs.append(cls._spool_stdin(stack))
                continue
            path = Path(name)
            if not path.is_file():
                reason = "is a directory" if path.is_dir() else "no such file"
                raise InputError(f"cannot read {name}: {reason}")
            inputs.append(cls(path, name))
        return inputs

    @classmethod
    def _spool_stdin(cls, stack: contextlib.ExitStack) -> InputFile:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="moesif-")))
        spool = folder / "stdin"
        with spool.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out)
        return cls(spool, "<stdin>")

    @property
    def is_stdin(self) -> bool:
        return self.display_name == "<stdin>"

    def open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as error:
            raise InputError(f"cannot read {self.display_name}: {error.strerror}") from error


# One decoded record as the first pass reads it, before any `Location` is made: the
# 1-based line, the index for a JSON array item (else None), the value (None when it
# could not be decoded) and the reason it could not be.
Decoded: TypeAlias = tuple[int, int | None, object, str | None]


def read_records(source: InputFile) -> Iterator[RawRecord]:
    """Every record of `source` in order; a JSON array if it starts with ``[``, else NDJSON.

    Blank NDJSON lines are skipped. A line that is not JSON is yielded with a
    `problem`, and so is a JSON array item nested too deep for `json` to read; a JSON
    array that does not parse raises `InputError` naming the line.
    """
    name = source.display_name
    for line, index, data, problem in read_decoded(source):
        yield RawRecord(Location(name, line, index), data, problem)


def read_decoded(source: InputFile) -> Iterator[Decoded]:
    """`read_records` as plain tuples (line, index, data, problem): the first pass
    makes a `Location` only for the few records it has something to say about."""
    with source.open() as stream:
        head = stream.read(len(_BOM))
        if head != _BOM:
            stream.seek(0)
        first = _first_significant_byte(stream)
        if first == b"[":
            yield from _read_json_array(stream.read(), source.display_name)
        else:
            yield from _read_ndjson(stream)


def _first_significant_byte(stream: BinaryIO) -> bytes:
    start = stream.tell()
    while True:
        byte = stream.read(1)
        if not byte or not byte.isspace():
            stream.seek(start)
            return byte


def ndjson_cuts(source: InputFile, parts: int, min_bytes: int) -> list[int] | None:
    """Where to cut `source` into up to `parts` runs of whole lines, as byte offsets
    from the first record's (past any BOM) to the file's size; None when `source` is
    not NDJSON, is under `min_bytes`, or has no line break to cut at."""
    with source.open() as stream:
        size = os.fstat(stream.fileno()).st_size
        if size < min_bytes or parts < 2:
            return None
        start = len(_BOM) if stream.read(len(_BOM)) == _BOM else 0
        stream.seek(start)
        if _first_significant_byte(stream) == b"[":
            return None
        cuts = [start]
        for part in range(1, parts):
            cut = _line_start_from(stream, max(cuts[-1], start + (size - start) * part // parts))
            if cut is None or cut >= size:
                break
            if cut > cuts[-1]:
                cuts.append(cut)
    return [*cuts, size] if len(cuts) > 1 else None


def _line_start_from(stream: BinaryIO, offset: int) -> int | None:
    """The offset just past the first newline at or after `offset`, None if none."""
    stream.seek(offset)
    while piece := stream.read(_PIECE_BYTES):
        found = piece.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(piece)
    return None


def read_ndjson_part(
    source: InputFile, start: int, end: int, first_line: int, lines: list[int]
) -> Iterator[Decoded]:
    """The records of bytes `start` to `end` of the NDJSON `source` (a run of whole
    lines, from `ndjson_cuts`), numbered from line `first_line` + 1; when they are all
    read, the number of the range's last line is appended to `lines`."""
    with source.open() as stream:
        raw = _Range(stream, start, end)
        yield from _read_ndjson(io.BufferedReader(raw, _RANGE_BUFFER_BYTES), first_line, lines)


_RANGE_BUFFER_BYTES = 256 * 1024


class _Range(io.RawIOBase):
    """Bytes `start` to `end` of `stream`, read as a stream of their own."""

    def __init__(self, stream: BinaryIO, start: int, end: int) -> None:
        super().__init__()
        stream.seek(start)
        self._stream = stream
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._left)
        if wanted <= 0:
            return 0
        got = self._stream.readinto(memoryview(buffer)[:wanted])  # type: ignore[attr-defined]
        self._left -= got
        return int(got)


def _read_ndjson(
    stream: BinaryIO, first_line: int = 0, lines: list[int] | None = None
) -> Iterator[Decoded]:
    # Line numbers count from the top of the file, the BOM's line included.
    fast_loads = _fast_loads
    reads_alike = _fast_reads_alike
    number = first_line
    for raw in _bounded_lines(stream):
        number += 1
        if raw is None:
            yield number, None, None, _LINE_TOO_LONG
            continue
        if raw.isspace():  # blank (`raw` is never empty): what `strip` takes, no copy
            continue
        if fast_loads is not None and reads_alike(raw):
            # orjson refuses NaN, lone surrogates, non-UTF-8 and numbers past a
            # double (and, what it does read, reads as `json` would): those lines
            # go on to `json`, which accepts them or words why, as it always did.
            try:
                data = fast_loads(raw)
            except ValueError:  # orjson.JSONDecodeError
                pass
            else:
                yield number, None, data, None
                continue
        yield (number, None, *_decode_slowly(raw))
    if lines is not None:
        lines.append(number)


def _decode_slowly(raw: bytes) -> tuple[object, str | None]:
    """`raw` read by `json`: (the value, None), or (None, why it is not JSON)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 text (byte {error.start + 1})"
    try:
        return _DECODER.decode(text.strip()), None
    except json.JSONDecodeError as error:
        return None, f"not JSON: {error.msg} (column {error.colno})"
    except ValueError as error:
        return None, f"not JSON: {error}"
    except RecursionError:  # far past the depth a model takes (MAX_JSON_DEPTH)
        return None, _TOO_DEEP


def _bounded_lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Each line of `stream`, or None for one over `MAX_LINE_BYTES`, which is skipped
    in bounded pieces rather than read whole (a file with no newline at all is one
    such line)."""
    readline = stream.readline
    while True:
        first = readline(_PIECE_BYTES)
        if first.endswith(b"\n") or len(first) < _PIECE_BYTES:  # the usual short line
            if not first:
                return
            yield first
            continue
        pieces = [first]
        size = len(first)
        ended = False  # the line's newline, or the end of the file, was read
        while size <= MAX_LINE_BYTES and not ended:
            piece = readline(_PIECE_BYTES)
            pieces.append(piece)
            size += len(piece)
            ended = not piece or piece.endswith(b"\n")
        if size <= MAX_LINE_BYTES:
            yield b"".join(pieces)
            continue
        del pieces
        while not ended:
            piece = stream.readline(_PIECE_BYTES)
            ended = not piece or piece.endswith(b"\n")
        yield None


def _read_json_array(content: bytes, name: str) -> Iterator[Decoded]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise InputError(f"{name}:{line}: not UTF-8 text") from error
    decoder = _DECODER
    lines = _LineCounter(text)
    position = text.index("[") + 1
    index = 0
    while True:
        position = _skip_whitespace(text, position)
        if text.startswith("]", position) and index == 0:
            break
        try:
            item, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise InputError(
                f"{name}:{error.lineno}: not a valid JSON array: {error.msg} (column {error.colno})"
            ) from error
        except RecursionError:
            # Where the item ends is found without recursion, so it is skipped like
            # any invalid record rather than stopping the run.
            line = lines.line_at(position)
            item_end = _end_of_nested_value(text, position)
            if item_end is None:
                raise InputError(
                    f"{name}:{line}: item {index} nests arrays and objects too deep to read,"
                    " and its brackets do not close"
                ) from None
            end = item_end
            yield line, index, None, _TOO_DEEP
        else:
            yield lines.line_at(position), index, item, None
        index += 1
        position = _skip_whitespace(text, end)
        if text.startswith(",", position):
            position += 1
        elif text.startswith("]", position):
            break
        else:
            line = lines.line_at(min(position, len(text)))
            raise InputError(f"{name}:{line}: not a valid JSON array: expected ',' or ']'")
    trailing = _skip_whitespace(text, position + 1)
    if trailing < len(text):
        raise InputError(f"{name}:{lines.line_at(trailing)}: unexpected data after the array")


def _end_of_nested_value(text: str, start: int) -> int | None:
    """Where the array or object starting at `start` ends (just past its closing
    bracket), or None if its brackets do not match or never close.

    A loop over brackets and strings with an explicit stack: linear in the item's
    length and never recursive, however deep it nests. It checks the brackets only,
    not the rest of the JSON: an item this deep is invalid whatever it holds.
    """
    if not text.startswith(("[", "{"), start):
        return None
    stack: list[str] = []
    position = start
    while True:
        found = _BRACKET_OR_QUOTE.search(text, position)
        if found is None:
            return None
        char = found.group()
        position = found.end()
        if char == '"':
            while True:  # to the string's closing quote, past escaped characters
                quote = _QUOTE_OR_ESCAPE.search(text, position)
                if quote is None:
                    return None
                position = quote.end()
                if quote.group() == '"':
                    break
                position += 1  # the escaped character
        elif char in _CLOSING:
            stack.append(_CLOSING[char])
        elif not stack or stack.pop() != char:
            return None
        elif not stack:
            return position


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


class _LineCounter:
    """Line numbers for increasing offsets, counting each newline only once."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offset = 0
        self._line = 1

    def line_at(self, offset: int) -> int:
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line
