"""The second pass of a send: records encoded once, out in batches, the rest saved.

Records arrive lazily, already validated and encoded (from the first pass's spool, or
a HAR import), and go out in batches cut by count and by size, several at a time for
events and actions; memory is bounded by the batches in flight. When a batch fails,
it and everything not delivered after it are written to an NDJSON file that `moesif
send` accepts as it is: a rerun sends exactly the records that did not arrive.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import _constants as c
from .._client import MoesifClient
from .._protocol import Endpoint
from ..exceptions import MoesifError, ValidationError
from ._kinds import RecordKind
from ._progress import Progress

__all__ = ["DEFAULT_CHUNK_SIZE", "Delivery", "deliver", "undelivered_path_for"]

# The most records in one request (fewer when they would pass --max-batch-bytes): large
# enough to keep requests few, small enough to keep memory (up to four batches in
# flight) and the progress bar moving.
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
    items: Iterable[bytes],
    *,
    chunk_size: int,
    max_batch_bytes: int,
    progress: Progress,
    undelivered_path: Path,
) -> Delivery:
    """Send `items` (records encoded as they go out, in order) in batches of at most
    `chunk_size` records and `max_batch_bytes` bytes; on failure or Ctrl-C save what is
    left.

    Events and actions go up to `MAX_CONCURRENT_SUB_BATCHES` batches at a time, each
    joined, gzipped and posted (with the client's retries) on a sender thread while the
    next is read; profiles go one batch after another, since the server merges them in
    arrival order. Batches are accounted in order as their answers come back.

    Ctrl-C is handled by `_DeferredInterrupts`: while waiting for an answer it stops the
    wait at once, and anywhere else it stops the loop after the batch in hand. Either
    way a batch counts as sent only if its answer came back before; every other record
    is saved, so an interrupt at any moment leaves each record in `sent` or in the file.
    A batch given up on may still reach Moesif; it carries the `transaction_id`s the
    saved records carry, so a rerun is deduplicated rather than counted twice.

    After a failure no new batch starts; those already sent are waited for, and count
    as sent or are saved by their own outcome.
    """
    delivery = Delivery(kind)
    saver: _UndeliveredFile | None = None
    interrupts = _DeferredInterrupts()
    endpoint = kind.endpoint
    limit = 1 if endpoint.ordered else c.MAX_CONCURRENT_SUB_BATCHES
    senders = _Senders(client, endpoint, limit)
    in_flight: deque[tuple[list[bytes], Future[None]]] = deque()

    def save(batch: Sequence[bytes]) -> None:
        nonlocal saver
        if saver is None:
            saver = _UndeliveredFile(undelivered_path)
            delivery.undelivered_path = undelivered_path
        saver.write(batch)
        delivery.undelivered += len(batch)

    def stop(error: BaseException) -> None:
        if delivery.error is None:
            delivery.error = error

    def settle(batch: list[bytes], answer: Future[None]) -> None:
        # Wait for the answer unless Ctrl-C was pressed: then only what has come back
        # counts, and the rest is given up on (its sender thread ends with the process).
        if not isinstance(delivery.error, KeyboardInterrupt):
            try:
                with interrupts.armed():
                    answer.result()
            except KeyboardInterrupt as error:
                stop(error)
            except (MoesifError, ValidationError) as error:
                # ValidationError: the first pass checks what the client would reject,
                # so this is a can't-happen; if it does, the records are still kept.
                stop(error)
        if answer.done() and answer.exception() is None:
            progress.advance(len(batch))
            delivery.sent += len(batch)
        else:
            save(batch)

    with interrupts:
        try:
            for batch in _batches(items, chunk_size, max_batch_bytes):
                if interrupts.pending:
                    # Ctrl-C while reading or between batches: this batch is not sent.
                    stop(KeyboardInterrupt())
                while in_flight and (delivery.error is not None or len(in_flight) >= limit):
                    settle(*in_flight.popleft())
                if delivery.error is not None:
                    save(batch)
                else:
                    in_flight.append((batch, senders.submit(batch)))
            while in_flight:
                settle(*in_flight.popleft())
        except BaseException:
            if saver is not None:
                saver.discard()
            raise
        finally:
            senders.close()
        if saver is not None:
            saver.commit()
    return delivery


def _batches(items: Iterable[bytes], chunk_size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """`items` cut into runs of at most `chunk_size` whose JSON array (brackets and commas
    included) stays within `max_bytes`; an item is never split, and each fits alone."""
    batch: list[bytes] = []
    used = 2  # the brackets
    for item in items:
        size = len(item) + 1  # and a comma
        if batch and (len(batch) >= chunk_size or used + size > max_bytes + 1):
            yield batch
            batch = []
            used = 2
        batch.append(item)
        used += size
    if batch:
        yield batch


class _Senders:
    """Up to `count` daemon threads, each posting one batch at a time through the
    client's delivery engine (gzip, retries and the request log included).

    Daemon threads, so that a request given up on after Ctrl-C never keeps the
    process alive. Each batch's outcome is its `Future`.
    """

    def __init__(self, client: MoesifClient, endpoint: Endpoint[Any], count: int) -> None:
        self._client = client
        self._endpoint = endpoint
        self._count = count
        self._jobs: queue.SimpleQueue[tuple[list[bytes], Future[None]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, batch: list[bytes]) -> Future[None]:
        answer: Future[None] = Future()
        self._jobs.put((batch, answer))
        if len(self._threads) < self._count:
            thread = threading.Thread(
                target=self._work, name=f"moesif-send-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return answer

    def close(self) -> None:
        """Let each thread end once it is done with what it holds."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        client = self._client
        while (job := self._jobs.get()) is not None:
            batch, answer = job
            if not answer.set_running_or_notify_cancel():
                continue
            try:
                request = client._core.plan_encoded_batch(self._endpoint, batch)
                client._drive(client._engine.deliver(request))
            except BaseException as error:  # told to the main thread, which decides
                answer.set_exception(error)
            else:
                answer.set_result(None)


class _DeferredInterrupts:
    """Ctrl-C held back to the points where `deliver` can account for every record.

    While waiting for a batch's answer (`armed`) SIGINT raises `KeyboardInterrupt` at
    once, as Python's own handler does, so a slow request is given up on and its batch
    saved. Anywhere else (reading the next batch, between batches, writing the
    undelivered file) it only sets `pending`, which the loop checks before each
    batch; a second Ctrl-C while the undelivered file is written is ignored, so
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

    def write(self, encoded: Sequence[bytes]) -> None:
        if encoded:
            self._out.write(b"\n".join(encoded) + b"\n")

    def commit(self) -> None:
        self._out.close()
        os.replace(self._temp, self._target)

    def discard(self) -> None:
        self._out.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()
