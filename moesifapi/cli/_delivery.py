"""The second pass of a send: validated models out in chunks, the rest saved on failure.

Models arrive lazily and go out a chunk at a time through the client's batch call
(which splits by size and retries), so memory is bounded by the chunk. When a chunk
fails, it and everything after it are written to an NDJSON file that `moesif send`
accepts as it is: a rerun sends exactly the records that did not arrive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .._client import MoesifClient
from .._wire import to_json
from ..exceptions import APIError, PartialBatchError, ValidationError
from ._kinds import RecordKind
from ._progress import Progress

__all__ = ["DEFAULT_CHUNK_SIZE", "Delivery", "deliver", "undelivered_path_for"]

# Large enough that a chunk is usually one request, small enough to keep memory and
# the progress bar moving; the client splits further by bytes.
DEFAULT_CHUNK_SIZE = 2000
UNDELIVERED_SUFFIX = ".undelivered.ndjson"


@dataclass
class Delivery:
    """How a delivery went; `error` is why it stopped early (None when all went out)."""

    kind: RecordKind
    sent: int = 0
    undelivered: int = 0
    error: BaseException | None = None
    undelivered_path: Path | None = None


def undelivered_path_for(first_input: str) -> Path:
    """Where undelivered records go by default: beside the first input, renamed.

    A rerun on an undelivered file rewrites that same file, so repeated reruns
    converge on one file instead of growing a chain of suffixes.

    >>> str(undelivered_path_for("data/users.ndjson"))
    'data/users.undelivered.ndjson'
    >>> str(undelivered_path_for("data/users.undelivered.ndjson"))
    'data/users.undelivered.ndjson'
    """
    if first_input == "-":
        return Path("stdin" + UNDELIVERED_SUFFIX)
    path = Path(first_input)
    if path.name.endswith(UNDELIVERED_SUFFIX):
        return path
    return path.with_name(path.stem + UNDELIVERED_SUFFIX)


def deliver(
    client: MoesifClient,
    kind: RecordKind,
    models: Iterable[Any],
    *,
    chunk_size: int,
    progress: Progress,
    undelivered_path: Path,
) -> Delivery:
    """Send `models` in chunks of `chunk_size`; on failure or Ctrl-C save what is left.

    Ctrl-C is handled by `_DeferredInterrupts`: inside a batch call it interrupts the
    call, anywhere else it stops the loop after the record in hand, so an interrupt
    at any moment leaves every record either counted in `sent` or saved.

    A failed chunk keeps the models it was sent with (events and actions keep their
    `transaction_id`), so if the failed request did reach Moesif after all, the rerun
    is deduplicated rather than counted twice.
    """
    delivery = Delivery(kind)
    saver: _UndeliveredFile | None = None
    interrupts = _DeferredInterrupts()

    def stop(error: BaseException, unsent: Sequence[Any]) -> None:
        nonlocal saver
        delivery.error = error
        saver = _UndeliveredFile(undelivered_path)
        delivery.undelivered_path = undelivered_path
        saver.write(unsent)
        delivery.undelivered += len(unsent)

    def send(chunk: list[Any]) -> None:
        if saver is not None:
            saver.write(chunk)
            delivery.undelivered += len(chunk)
            return
        try:
            with interrupts.armed():
                kind.send_batch(client, chunk)
        except PartialBatchError as error:
            progress.advance(len(error.delivered))
            delivery.sent += len(error.delivered)
            cause = error.__cause__
            stop(cause if isinstance(cause, APIError) else error, error.undelivered)
        except (APIError, ValidationError, KeyboardInterrupt) as error:
            # ValidationError: the first pass checks what the client would reject, so
            # this is a can't-happen; if it does, the records are still kept.
            stop(error, chunk)
        else:
            progress.advance(len(chunk))
            delivery.sent += len(chunk)

    with interrupts:
        try:
            chunk: list[Any] = []
            for model in models:
                chunk.append(model)
                if saver is None and interrupts.pending:
                    # Ctrl-C while reading or between chunks: nothing is in flight.
                    stop(KeyboardInterrupt(), chunk)
                    chunk = []
                elif len(chunk) >= chunk_size:
                    send(chunk)
                    chunk = []
            if chunk:
                send(chunk)
        except BaseException:
            if saver is not None:
                saver.discard()
            raise
        if saver is not None:
            saver.commit()
    return delivery


class _DeferredInterrupts:
    """Ctrl-C held back to the points where `deliver` can account for every record.

    Inside a batch call (`armed`) SIGINT raises `KeyboardInterrupt` at once, as
    Python's own handler does, so a slow request is cut short and its chunk saved.
    Anywhere else (reading and validating the next record, between chunks, writing
    the undelivered file) it only sets `pending`, which the loop checks after each
    record; a second Ctrl-C while the undelivered file is written is ignored, so
    the file is always complete. Installed only in the main thread, and only over
    Python's default handler.
    """

    def __init__(self) -> None:
        self.pending = False
        self._armed = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _DeferredInterrupts:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: object) -> None:
        self.pending = True
        if self._armed:
            self._armed = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """Let SIGINT interrupt the body; raise at once if one is already pending."""
        if self.pending:
            raise KeyboardInterrupt
        self._armed = True
        try:
            yield
        finally:
            self._armed = False


class _UndeliveredFile:
    """NDJSON written to a temporary file and moved into place only when complete.

    The target may be one of the inputs still being read (a rerun rewrites its own
    undelivered file), so it is replaced only after the last record was read.
    """

    def __init__(self, target: Path) -> None:
        self._target = target
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path(".")
        )
        self._temp = Path(name)
        self._out: IO[bytes] = os.fdopen(handle, "wb")

    def write(self, models: Iterable[Any]) -> None:
        for model in models:
            self._out.write(to_json(model) + b"\n")

    def commit(self) -> None:
        self._out.close()
        os.replace(self._temp, self._target)

    def discard(self) -> None:
        self._out.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()
