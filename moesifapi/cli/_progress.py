"""Showing how far a send has got: a bar on a terminal, plain lines anywhere else.

The bar is drawn with `rich` when it is installed (``pip install 'moesifapi-typed[cli]'``);
without it a terminal gets a one-line counter, and a pipe or a log file gets one line
per chunk, so nothing depends on the optional library.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Protocol, TextIO

__all__ = ["Progress", "open_progress"]


class Progress(Protocol):
    """Told how many records went out; a context manager that tidies up the display."""

    def advance(self, count: int) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def open_progress(label: str, total: int, *, quiet: bool, stream: TextIO | None = None) -> Progress:
    """The best display for `stream` (stderr by default): silent, a bar, or lines."""
    stream = stream or sys.stderr
    if quiet or total == 0:
        return _Silent()
    if not stream.isatty():
        return _LinePerChunk(label, total, stream)
    try:
        return _RichBar(label, total, stream)
    except ImportError:
        return _TerminalCounter(label, total, stream)


class _Base:
    def advance(self, count: int) -> None:
        pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


class _Silent(_Base):
    """For ``--quiet`` and for empty runs."""


class _LinePerChunk(_Base):
    """One line per chunk delivered: readable in CI logs, no control characters."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self._label = label
        self._total = total
        self._done = 0
        self._stream = stream

    def advance(self, count: int) -> None:
        self._done += count
        print(f"{self._label}: {self._done}/{self._total}", file=self._stream, flush=True)


class _TerminalCounter(_LinePerChunk):
    """A counter rewritten in place, for a terminal without `rich`."""

    def advance(self, count: int) -> None:
        self._done += count
        percent = 100 * self._done // self._total
        self._stream.write(f"\r{self._label}: {self._done}/{self._total} ({percent}%)")
        self._stream.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._done:
            self._stream.write("\n")
            self._stream.flush()


class _RichBar(_Base):
    """A `rich` progress bar with count, rate and time left."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        # Imported here so that a missing `rich` only changes how progress looks.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
        )
        self._task = self._bar.add_task(label, total=total)

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()
