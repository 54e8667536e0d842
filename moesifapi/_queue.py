"""Background batching: items queued at once, delivered later in size-limited batches.

`QueueCore` holds the buffers, counters and every decision, and does no I/O;
`ThreadQueue` (for `MoesifClient`) and `TaskQueue` (for `AsyncMoesifClient`) only add
a worker that sends what the core hands out.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias, cast

import attrs

from . import _constants as c
from ._engine import Engine, Plan
from ._limits import refuse_oversized
from ._protocol import (
    ACTIONS_BATCH,
    COMPANIES_BATCH,
    EVENTS_BATCH,
    SUBSCRIPTIONS_BATCH,
    USERS_BATCH,
    Endpoint,
    split_into_batches,
)
from ._wire import coerce, encode_item_sized, from_dict
from ._wording import counted
from .exceptions import (
    BatchItemTooLargeError,
    ClientClosedError,
    QueueFullError,
    ShutdownTimeoutError,
    ValidationError,
)
from .models import ActionModel, CompanyModel, EventModel, SubscriptionModel, UserModel

if TYPE_CHECKING:
    # Imported where used: asyncio (with concurrent.futures) is a third of the time of
    # `import moesifapi`, and a program that only uses MoesifClient never needs it.
    import asyncio

    from ._steering import Steering

__all__ = ["BeforeSend", "OnError", "QueueItem", "QueueStats"]

logger = logging.getLogger("moesifapi")

QueueItem: TypeAlias = EventModel | ActionModel | UserModel | CompanyModel | SubscriptionModel
"""Anything the queue carries."""

OnError: TypeAlias = Callable[[Exception, Sequence[QueueItem]], None]
"""Called with the error and the items it cost: after retries, on overflow, at exit."""

BeforeSend: TypeAlias = Callable[[QueueItem], "QueueItem | None"]
"""Called with each item before it is queued: return it (changed or not), or None to drop it."""

KINDS: tuple[Endpoint[QueueItem], ...] = (  # type: ignore[assignment]
    EVENTS_BATCH,
    ACTIONS_BATCH,
    USERS_BATCH,
    COMPANIES_BATCH,
    SUBSCRIPTIONS_BATCH,
)


@attrs.frozen
class QueueStats:
    """A snapshot of a client's background queue counters.

    `queued` items were accepted; each ends up `sent` or `failed` (after retries, or
    undelivered at exit), and until then is `pending`. `dropped` items were refused
    (queue full, closed client, a failing `before_send`); `filtered` ones were dropped
    on purpose by `before_send`. `sampled_out` events were left out by the app's
    sample rate (a client built with ``sampling=True``); none of them is an error.
    `retried` counts retried requests.
    """

    queued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    filtered: int = 0
    sampled_out: int = 0
    retried: int = 0
    pending: int = 0


def _check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    # Finite too: an infinite interval or deadline would switch a bound off.
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 or (allow_zero and value == 0))
    ):
        return float(value)
    raise ValidationError(f"must be a positive, finite number, got {value!r}", field=name)


@attrs.frozen
class QueueSettings:
    """The queue's settings, checked when the client is built."""

    flush_interval: float = c.DEFAULT_FLUSH_INTERVAL
    max_queue_size: int = c.DEFAULT_MAX_QUEUE_SIZE
    on_error: OnError | None = None
    before_send: BeforeSend | None = None
    exit_timeout: float = c.DEFAULT_EXIT_TIMEOUT

    @classmethod
    def resolve(
        cls,
        *,
        flush_interval: float,
        max_queue_size: int,
        on_error: OnError | None,
        before_send: BeforeSend | None,
        exit_timeout: float,
    ) -> QueueSettings:
        if type(max_queue_size) is not int or max_queue_size < 1:
            raise ValidationError(
                f"must be an int >= 1, got {max_queue_size!r}", field="max_queue_size"
            )
        for name, hook in (("on_error", on_error), ("before_send", before_send)):
            if hook is not None and not callable(hook):
                raise ValidationError(f"must be callable, got {hook!r}", field=name)
        return cls(
            flush_interval=_check_positive("flush_interval", flush_interval),
            max_queue_size=max_queue_size,
            on_error=on_error,
            before_send=before_send,
            exit_timeout=_check_positive("exit_timeout", exit_timeout, allow_zero=True),
        )

    def close_timeout(self, timeout: float | None) -> float:
        """The seconds a close may take: `timeout` if given, else `exit_timeout`."""
        if timeout is None:
            return self.exit_timeout
        return _check_positive("timeout", timeout, allow_zero=True)


class Prepared(NamedTuple):
    """An item validated, masked by `before_send` and encoded, ready to buffer.

    A named tuple, not an attrs class: one is made per queued item, on the caller's
    thread, and a tuple is built in a third of the time.
    """

    model: QueueItem | None  # None for a captured event, encoded with no model built
    encoded: bytes


# `Prepared(model, encoded)` without the named tuple's `__new__` in Python: one call into C.
_prepared = cast(
    "Callable[[tuple[QueueItem | None, bytes]], Prepared]",
    functools.partial(tuple.__new__, Prepared),
)


_serials = itertools.count()


@attrs.frozen(eq=False)
class Batch:
    """Encoded items of one kind that fit in one request (compared by identity)."""

    endpoint: Endpoint[QueueItem]
    encoded: list[bytes]
    serial: int = attrs.field(factory=lambda: next(_serials))  # the order taken in

    def items(self) -> list[QueueItem]:
        """The items as models again, for `on_error` (the queue keeps only bytes)."""
        return [from_dict(self.endpoint.model, json.loads(raw)) for raw in self.encoded]


_ONE_EVENT_LIMIT = EVENTS_BATCH.item_limit[0] if EVENTS_BATCH.item_limit else 0


def _event_of(encoded: bytes) -> EventModel:
    """A captured event as a model again, for `on_error`."""
    return from_dict(EventModel, json.loads(encoded))


_ONE_OF = {
    "events": "event",
    "actions": "action",
    "users": "user",
    "companies": "company",
    "subscriptions": "subscription",
}


class QueueCore:
    """Buffers per endpoint, counters, and the decisions; safe to call from any thread.

    Every item accepted is counted `pending` until it is reported `delivered` or
    `failed`. Batches handed to a worker are held in `_taken` until then, so a close
    that runs out of time can report them too, and a late answer for a batch already
    reported is ignored instead of being counted twice.
    """

    def __init__(self, settings: QueueSettings, max_batch_bytes: int) -> None:
        self.settings = settings
        self.max_batch_bytes = max_batch_bytes
        self.closed = False
        self._lock = threading.Lock()
        self._buffers: dict[str, list[bytes]] = {kind.path: [] for kind in KINDS}
        self._by_path = {kind.path: kind for kind in KINDS}
        self._taken: set[Batch] = set()
        self._counts = dict.fromkeys(attrs.fields_dict(QueueStats), 0)
        self._last_drop_log = float("-inf")
        self._unlogged_drops = 0
        self._last_drop_error: Exception | None = None
        self._unlogged_shutdown_losses = 0
        # Set by the client: the event to queue (its weight set), or None when the
        # app's sample rate leaves it out; used when `sampling` (sampling=True).
        self.sampler: Callable[..., EventModel | None] | None = None
        self.sampling = False

    def renewed(self) -> QueueCore:
        """An empty core with the same settings, for a forked child."""
        fresh = QueueCore(self.settings, self.max_batch_bytes)
        fresh.sampler, fresh.sampling = self.sampler, self.sampling
        return fresh

    # on the caller's thread

    def prepare(
        self,
        endpoint: Endpoint[QueueItem],
        item: object,
        *,
        sample: bool | None = None,
        owned: bool = False,
    ) -> Prepared | None:
        """Validate, sample, mask and encode one item; None when it is left out.

        Events are sampled when `sample` says so, or by default when `sampling` does.
        An `owned` item was made for this call: sampling may set its weight in place.
        """
        model: QueueItem = (
            item
            if item.__class__ is endpoint.model  # a model: the common case, one check
            else coerce(endpoint.model, item)  # type: ignore[arg-type]
        )
        if (
            (self.sampling if sample is None else sample)
            and self.sampler is not None
            and endpoint is EVENTS_BATCH
        ):
            kept = self._sampled(model, owned or model is not item)  # type: ignore[arg-type]
            if kept is None:
                self._add("sampled_out", 1)
                return None
            model = kept
        if self._counts["pending"] >= self.settings.max_queue_size and not self.closed:
            # Full: refuse before spending a mask and an encoding on it (`put` checks
            # again under the lock; this read without it only saves the work).
            self._refuse(1, lambda: [model], self._full())
            return None
        hook = self.settings.before_send
        if hook is not None:
            try:
                masked = hook(model)
                if masked is not None and not isinstance(masked, endpoint.model):
                    raise TypeError(
                        f"before_send returned {type(masked).__name__}, "
                        f"expected {endpoint.model.__name__} or None"
                    )
            except Exception as error:
                self._refuse(1, lambda: [model], error)
                return None
            if masked is None:
                self._add("filtered", 1)
                return None
            model = masked
        # Right-sized, as the queue keeps every item until it is sent.
        encoded = encode_item_sized(model)
        size = len(encoded)
        item_limit = endpoint.item_limit
        if item_limit is not None and size > item_limit[0]:
            refuse_oversized([size], item_limit)
        if size + 2 > self.max_batch_bytes:
            raise BatchItemTooLargeError(0, size + 2, self.max_batch_bytes)
        return _prepared((model, encoded))

    def prepare_built(
        self,
        build: Callable[[int | None], bytes],
        weigh: Callable[[], int | None] | int | None,
    ) -> Prepared | None:
        """A captured event, encoded by `build(weight)` with no model built; None when
        it is left out.

        `weigh` samples it (the weight it carries, or None to leave it out), or is the
        weight itself where sampling keeps every event; without it the event is not
        sampled and carries no weight. Its room in the queue is checked before it is
        encoded. `before_send` needs a model: with one set, the capture queues models
        instead (`prepare`).
        """
        weight = None
        if isinstance(weigh, int):
            weight = weigh
        elif weigh is not None:
            try:
                weight = weigh()
            except Exception:  # as `_sampled`: a sampling bug never costs an event
                logger.exception("moesifapi: sampling failed; the event is kept")
            else:
                if weight is None:
                    self._add("sampled_out", 1)
                    return None
        if self._counts["pending"] >= self.settings.max_queue_size and not self.closed:
            self._refuse(1, lambda: [_event_of(build(weight))], self._full())
            return None
        encoded = build(weight)
        if len(encoded) > _ONE_EVENT_LIMIT:
            refuse_oversized([len(encoded)], EVENTS_BATCH.item_limit)
        if len(encoded) + 2 > self.max_batch_bytes:
            raise BatchItemTooLargeError(0, len(encoded) + 2, self.max_batch_bytes)
        return _prepared((None, encoded))

    def weigh(self, weigh: Callable[[], int | None]) -> tuple[bool, int | None]:
        """A captured event's sampling, as `prepare_built` reads a `weigh` function:
        (whether it is kept, the weight it carries). One left out is counted; a
        sampling bug keeps it, with no weight."""
        try:
            weight = weigh()
        except Exception:
            logger.exception("moesifapi: sampling failed; the event is kept")
            return True, None
        if weight is None:
            self._add("sampled_out", 1)
            return False, None
        return True, weight

    def put_event(self, encoded: bytes) -> tuple[int, bool]:
        """One captured event, already encoded (`Capture.record_plain`): `prepare_built`'s
        checks of its size, then `put`'s. Returns (accepted, a batch is ready)."""
        size = len(encoded)
        if size > _ONE_EVENT_LIMIT:
            refuse_oversized([size], EVENTS_BATCH.item_limit)
        if size + 2 > self.max_batch_bytes:
            raise BatchItemTooLargeError(0, size + 2, self.max_batch_bytes)
        with self._lock:
            counts = self._counts
            if not self.closed and counts["pending"] < self.settings.max_queue_size:
                buffer = self._buffers[EVENTS_BATCH.path]
                buffer.append(encoded)
                counts["queued"] += 1
                counts["pending"] += 1
                return 1, len(buffer) >= c.QUEUE_BATCH_ITEMS
        error: Exception = (
            ClientClosedError("the client is closed; nothing more is queued")
            if self.closed
            else self._full()
        )
        self._refuse(1, lambda: [_event_of(encoded)], error)
        return 0, False

    def _sampled(self, event: EventModel, owned: bool) -> EventModel | None:
        try:
            return self.sampler(event, owned=owned)  # type: ignore[misc]
        except Exception:  # a sampling bug never costs the host app an event
            logger.exception("moesifapi: sampling failed; the event is kept")
            return event

    def prepare_all(self, endpoint: Endpoint[QueueItem], items: Iterable[object]) -> list[Prepared]:
        """`prepare` for each item; a bad one raises before any is queued."""
        if isinstance(items, (str, bytes, Mapping)):
            raise ValidationError(f"expected a list of items, got {type(items).__name__}")
        prepared = []
        for index, item in enumerate(items):
            try:
                one = self.prepare(endpoint, item)
            except BatchItemTooLargeError as error:
                raise error.at(index) from None
            except ValidationError as error:
                raise error.under(f"[{index}]") from error.__cause__
            if one is not None:
                prepared.append(one)
        return prepared

    def put(self, endpoint: Endpoint[QueueItem], prepared: Sequence[Prepared]) -> tuple[int, bool]:
        """Buffer what fits; report the rest. Returns (accepted, a batch is ready)."""
        if len(prepared) == 1:  # one item, as `queue_event` and the capture give: no slicing
            with self._lock:
                counts = self._counts
                if not self.closed and counts["pending"] < self.settings.max_queue_size:
                    buffer = self._buffers[endpoint.path]
                    buffer.append(prepared[0].encoded)
                    counts["queued"] += 1
                    counts["pending"] += 1
                    return 1, len(buffer) >= c.QUEUE_BATCH_ITEMS
        overflow: list[Prepared] = []
        with self._lock:
            if self.closed:
                overflow = list(prepared)
                accepted = 0
            else:
                room = self.settings.max_queue_size - self._counts["pending"]
                accepted = max(0, min(room, len(prepared)))
                buffer = self._buffers[endpoint.path]
                buffer.extend(p.encoded for p in prepared[:accepted])
                overflow = list(prepared[accepted:])
                self._counts["queued"] += accepted
                self._counts["pending"] += accepted
            ready = len(self._buffers[endpoint.path]) >= c.QUEUE_BATCH_ITEMS
        if overflow:
            error: Exception = (
                ClientClosedError("the client is closed; nothing more is queued")
                if self.closed
                else self._full()
            )
            self._refuse(
                len(overflow),
                lambda: [
                    p.model if p.model is not None else _event_of(p.encoded) for p in overflow
                ],
                error,
            )
        return accepted, ready

    def _full(self) -> QueueFullError:
        return QueueFullError(
            f"the queue holds max_queue_size={self.settings.max_queue_size} items"
        )

    # on the worker

    def take_all(self) -> list[Batch]:
        """Everything buffered, cut into batches under the size limit, in order."""
        with self._lock:
            taken = {path: buf for path, buf in self._buffers.items() if buf}
            for path in taken:
                self._buffers[path] = []
            batches = []
            for path, encoded in taken.items():
                # The JSON array's size: the items, a comma between each two, brackets.
                if sum(map(len, encoded)) + len(encoded) + 1 <= self.max_batch_bytes:
                    batches.append(Batch(self._by_path[path], encoded))  # one batch: no loop
                    continue
                sizes = [len(e) for e in encoded]
                for start, end in split_into_batches(sizes, self.max_batch_bytes):
                    batches.append(Batch(self._by_path[path], encoded[start:end]))
            self._taken.update(batches)
        return batches

    def put_back_taken(self) -> None:
        """The worker was stopped with batches unanswered: they are first in line again.

        Resending is safe: events and actions carry the `transaction_id` Moesif
        deduplicates on, and profile updates merge.
        """
        with self._lock:
            taken, self._taken = self._taken, set()
            by_path: dict[str, list[bytes]] = {}
            # `take_all` order within a kind is the caller's order; keep it.
            for batch in sorted(taken, key=_taken_order):
                by_path.setdefault(batch.endpoint.path, []).extend(batch.encoded)
            for path, encoded in by_path.items():
                self._buffers[path][:0] = encoded

    def retried(self) -> None:
        self._add("retried", 1)

    def delivered(self, batch: Batch) -> None:
        with self._lock:
            if batch not in self._taken:  # reported already, by a close out of time
                return
            self._taken.discard(batch)
            self._counts["sent"] += len(batch.encoded)
            self._counts["pending"] -= len(batch.encoded)

    def failed(self, batch: Batch, error: Exception) -> None:
        """A batch is lost for good: count it and tell the caller."""
        with self._lock:
            if batch not in self._taken:
                return
            self._taken.discard(batch)
            self._counts["failed"] += len(batch.encoded)
            self._counts["pending"] -= len(batch.encoded)
            if isinstance(error, ShutdownTimeoutError):  # one summary line, at the end
                self._unlogged_shutdown_losses += len(batch.encoded)
        if not isinstance(error, ShutdownTimeoutError):
            kind = batch.endpoint.path.strip("/").split("/")[0]  # "events", "users", ...
            logger.warning(
                "moesifapi: %s could not be delivered: %s",
                counted(len(batch.encoded), _ONE_OF[kind], kind),
                error,
            )
        self._call_on_error(error, batch.items)

    def abandon(self, error: Exception) -> None:
        """Give up on everything still here, buffered or taken: the deadline has passed."""
        with self._lock:
            taken = sorted(self._taken, key=_taken_order)
        for batch in [*taken, *self.take_all()]:
            self.failed(batch, error)

    # reporting

    @property
    def stats(self) -> QueueStats:
        with self._lock:
            return QueueStats(**self._counts)

    @property
    def pending(self) -> int:
        return self._counts["pending"]

    @property
    def losses(self) -> int:
        """Items failed or dropped so far; a flush succeeded if this did not move."""
        return self._counts["failed"] + self._counts["dropped"]

    def finish(self, error: ShutdownTimeoutError, when: str) -> None:
        """Report what is still here once a close or a loop's end is over, with one
        summary line for everything it gave up on."""
        if self.pending:
            self.abandon(error)
        with self._lock:
            lost, self._unlogged_shutdown_losses = self._unlogged_shutdown_losses, 0
        if lost:
            logger.warning(
                "moesifapi: %s not delivered %s; passed to on_error", counted(lost, "item"), when
            )
        self.log_drops(force=True)

    def log_drops(self, *, force: bool = False) -> None:
        """The queue-full warning: every dropped item counted, one line per interval."""
        now = time.monotonic()
        with self._lock:
            count = self._unlogged_drops
            if not count or not (force or now - self._last_drop_log >= c.DROP_LOG_INTERVAL):
                return
            self._unlogged_drops = 0
            self._last_drop_log = now
            error, self._last_drop_error = self._last_drop_error, None
        logger.warning("moesifapi: dropped %s: %s", counted(count, "item"), error)

    def _add(self, counter: str, n: int) -> None:
        with self._lock:
            self._counts[counter] += n

    def _refuse(self, count: int, items: Callable[[], list[QueueItem]], error: Exception) -> None:
        with self._lock:
            self._counts["dropped"] += count
            self._unlogged_drops += count
            self._last_drop_error = error
        # The first drop of an interval is logged at once; the rest are counted into the
        # next line (the worker writes it when the interval is over, close at the end).
        self.log_drops()
        self._call_on_error(error, items)

    def _call_on_error(self, error: Exception, items: Callable[[], list[QueueItem]]) -> None:
        hook = self.settings.on_error
        if hook is None:
            return
        try:
            hook(error, items())
        except Exception:  # the host's callback must not kill the worker
            logger.exception("moesifapi: the on_error callback raised")


def _taken_order(batch: Batch) -> int:
    return batch.serial


# --- the two workers ---

_live_thread_queues: weakref.WeakSet[ThreadQueue] = weakref.WeakSet()


class ThreadQueue:
    """The sync client's worker: one daemon thread, started on first use.

    It drives the engine's `drain` plan with the client's own driver; everything it
    decides is the engine's or the core's.
    """

    def __init__(self, core: QueueCore, engine: Engine, drive: Callable[[Plan[None]], None]):
        self._engine = engine
        self._drive = drive
        self._reset(core)
        _live_thread_queues.add(self)

    def _reset(self, core: QueueCore) -> None:
        self.core = core
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._requested = 0  # flush generations asked for ...
        self._completed = 0  # ... and drained
        self._closing = False
        self._thread: threading.Thread | None = None

    def add(self, endpoint: Endpoint[QueueItem], prepared: Sequence[Prepared]) -> int:
        accepted, ready = self.core.put(endpoint, prepared)
        if accepted:
            if self._thread is None:  # started already: not even a call
                self._ensure_worker()
            # Once a batch is ready every later item finds it so until the worker takes
            # it: setting an Event takes its lock, testing it does not.
            if ready and not self._wake.is_set():
                self._wake.set()
        return accepted

    def add_event(self, encoded: bytes) -> int:
        """`add` for one captured event's bytes (`QueueCore.put_event`)."""
        accepted, ready = self.core.put_event(encoded)
        if accepted:
            if self._thread is None:
                self._ensure_worker()
            if ready and not self._wake.is_set():
                self._wake.set()
        return accepted

    def _ensure_worker(self) -> None:
        if self._thread is not None:  # started already: no lock on every queued item
            return
        with self._state:
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(
                    target=self._run, name="moesifapi-queue", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.core.settings.flush_interval)
            self._wake.clear()
            with self._state:
                generation, closing = self._requested, self._closing
            try:
                self._drive(self._engine.drain(self.core, closing=closing))
            except Exception as error:  # a bug of ours: report, never let the worker die
                logger.exception("moesifapi: the queue worker failed")
                self.core.abandon(error)
            self.core.log_drops()
            with self._state:
                self._completed = max(self._completed, generation)
                self._state.notify_all()
            if closing:
                return

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True if all of it was delivered in time."""
        with self._state:
            if self._thread is None:
                return self.core.pending == 0
            losses = self.core.losses
            self._requested += 1
            generation = self._requested
            self._wake.set()
            done = self._state.wait_for(lambda: self._completed >= generation, timeout)
        return done and self.core.losses == losses

    def close(self, deadline: float, timeout: float) -> None:
        """Deliver what is queued until `deadline` (the engine's clock), then stop the
        worker; what is still undelivered then goes to `on_error`."""
        with self._state:
            self.core.closed = True
            self._closing = True
            self._requested += 1
            thread = self._thread
        self._wake.set()
        if thread is not None:
            # The engine gives up on its own at the deadline; the grace lets it report.
            # A request it cannot cut short (a server dripping bytes) is left behind.
            thread.join(max(0.0, deadline - self._engine.clock()) + c.CLOSE_GRACE)
        self.core.finish(*_out_of_time(timeout, "to close"))

    def after_fork_in_child(self) -> None:
        """The child starts empty, with no worker; the parent's items stay the parent's."""
        self._reset(self.core.renewed())


_live_task_queues: weakref.WeakSet[TaskQueue] = weakref.WeakSet()


class TaskQueue:
    """The asyncio client's worker: one task on the running loop, started on first use.

    Its task and the asyncio primitives it waits on belong to one event loop. Used from
    another loop (a second `asyncio.run`, a test's fresh loop), it starts over on that
    one. When a loop ends with items still queued (no `aclose()`), the worker, being
    cancelled, delivers them within `exit_timeout` or reports them (`at_loop_end`).
    """

    def __init__(
        self,
        core: QueueCore,
        engine: Engine,
        drive: Callable[[Plan[None]], Awaitable[None]],
    ) -> None:
        self.core = core
        self._engine = engine
        self._drive = drive
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._drained: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None
        self._requested = 0
        self._completed = 0
        self._closing = False
        import asyncio

        self._running_loop = asyncio.get_running_loop
        _live_task_queues.add(self)

    def add(self, endpoint: Endpoint[QueueItem], prepared: Sequence[Prepared]) -> int:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "AsyncMoesifClient.queue_* needs a running event loop; "
                "from sync code use MoesifClient"
            ) from None
        accepted, ready = self.core.put(endpoint, prepared)
        if accepted:
            wake = self._ensure_worker(loop)
            if ready and not wake.is_set():  # as in ThreadQueue.add
                wake.set()
        return accepted

    def add_event(self, encoded: bytes) -> int:
        """`add` for one captured event's bytes (`QueueCore.put_event`)."""
        try:
            loop = self._running_loop()
        except RuntimeError:
            raise RuntimeError(
                "AsyncMoesifClient.queue_* needs a running event loop; "
                "from sync code use MoesifClient"
            ) from None
        accepted, ready = self.core.put_event(encoded)
        if accepted:
            wake = self._wake
            if self._loop is not loop or wake is None or self._task is None:
                wake = self._ensure_worker(loop)
            if ready and not wake.is_set():
                wake.set()
        return accepted

    def _ensure_worker(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        import asyncio

        if self._loop is not loop or self._wake is None or self._drained is None:
            # First use, or another loop: the old loop's task and primitives are its own.
            self._loop = loop
            self._wake, self._drained = asyncio.Event(), asyncio.Condition()
            self._task = None
            self._completed = self._requested
        if self._task is None and not self._closing:
            self._task = loop.create_task(self._run(self._wake, self._drained))
        return self._wake

    async def _run(self, wake: asyncio.Event, drained: asyncio.Condition) -> None:
        import asyncio

        try:
            while True:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.core.settings.flush_interval)
                wake.clear()
                generation, closing = self._requested, self._closing
                await self._drain(closing)
                self.core.log_drops()
                async with drained:
                    self._completed = max(self._completed, generation)
                    drained.notify_all()
                if closing:
                    return
        except asyncio.CancelledError:
            # Not by `aclose`: the loop is ending (`asyncio.run` cancels every task left
            # before it stops). It still runs, so what is queued goes out now, in time.
            if not self._closing:
                await self.at_loop_end()
            raise

    async def _drain(self, closing: bool, deadline: float | None = None) -> None:
        import asyncio

        try:
            await self._drive(self._engine.drain(self.core, closing=closing, deadline=deadline))
        except asyncio.CancelledError:  # the loop is stopping: keep them for what drains next
            self.core.put_back_taken()
            raise
        except Exception as error:  # a bug of ours: report, never let the worker die
            logger.exception("moesifapi: the queue worker failed")
            self.core.abandon(error)

    async def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True if all of it was delivered in time."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or another loop than the worker's
            if not self.core.pending:
                return True
            self._ensure_worker(loop)  # what an earlier loop left queued
        if self._task is None or self._wake is None or self._drained is None:
            return self.core.pending == 0
        losses = self.core.losses
        self._requested += 1
        generation = self._requested
        self._wake.set()
        drained = self._drained
        try:
            async with drained:
                await asyncio.wait_for(
                    drained.wait_for(lambda: self._completed >= generation), timeout
                )
        except asyncio.TimeoutError:
            return False
        return self.core.losses == losses

    async def aclose(self, deadline: float, timeout: float) -> None:
        """Deliver what is queued until `deadline`, then stop the worker; what is
        still undelivered then goes to `on_error`."""
        import asyncio

        loop = asyncio.get_running_loop()
        self.core.closed = True
        if self._loop is not loop and self.core.pending and not self._closing:
            self._ensure_worker(loop)  # left from an earlier loop
        self._closing = True
        self._requested += 1
        task = self._task
        if task is not None and not task.done() and self._wake is not None and self._loop is loop:
            self._wake.set()
            room = max(0.0, deadline - self._engine.clock()) + c.CLOSE_GRACE
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, room)  # cancelled past it: batches go back
        self.core.finish(*_out_of_time(timeout, "to close"))

    async def at_loop_end(self) -> None:
        """The running loop is ending without `aclose()`: deliver what is left within
        `exit_timeout`, then report whatever is still undelivered."""
        import asyncio

        if not self.core.pending or self._closing:
            return
        timeout = self.core.settings.exit_timeout
        deadline = self._engine.clock() + timeout
        logger.debug("moesifapi: the event loop is ending; delivering what is queued")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                self._drain(closing=True, deadline=deadline), timeout + c.CLOSE_GRACE
            )
        self.core.finish(*_out_of_time(timeout, "as the event loop ended (await aclose())"))

    def after_fork_in_child(self) -> None:
        """As `ThreadQueue.after_fork_in_child`: the child starts empty, with no worker."""
        self.core = self.core.renewed()
        self._loop = self._wake = self._drained = self._task = None
        self._requested = self._completed = 0
        self._closing = False


def _report_stranded_at_exit() -> None:
    # Items an AsyncMoesifClient still holds at interpreter exit were left on a loop
    # that was closed without shutting down (no `aclose()`, no `asyncio.run`): there is
    # no loop to deliver them from, so they are reported, never silently dropped.
    for queue in list(_live_task_queues):
        if queue.core.pending:
            when = "before interpreter exit: their event loop was closed without aclose()"
            queue.core.finish(ShutdownTimeoutError(f"not delivered {when}"), when)


def _out_of_time(timeout: float, allowed: str) -> tuple[ShutdownTimeoutError, str]:
    when = f"within the {timeout:g} s allowed {allowed}"
    return ShutdownTimeoutError(f"not delivered {when}"), when


def _reset_all_after_fork() -> None:
    queues: list[ThreadQueue | TaskQueue] = [*_live_thread_queues, *_live_task_queues]
    for queue in queues:
        queue.after_fork_in_child()


atexit.register(_report_stranded_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)


class QueueCalls:
    """The `queue_*` calls and `stats`, the same on both clients.

    They validate and encode on the caller's thread and return at once, so they are
    plain methods on `AsyncMoesifClient` too; only `flush` differs between the two.
    """

    _queue: ThreadQueue | TaskQueue
    _steering: Steering  # the config and rules (`SteeringCalls`)

    def queue_event(self, event: EventModel | Mapping[str, object]) -> bool:
        """Queue one API call for background delivery; False if it was dropped.

        Bad input raises `ValidationError` here; delivery problems never raise, they
        go to `on_error` and `stats`.
        """
        return self._enqueue_one(EVENTS_BATCH, event)

    def queue_events(self, events: Iterable[EventModel | Mapping[str, object]]) -> int:
        """Queue many API calls; returns how many were accepted."""
        return self._enqueue(EVENTS_BATCH, events)

    def queue_action(self, action: ActionModel | Mapping[str, object]) -> bool:
        """Queue one user action for background delivery; False if it was dropped."""
        return self._enqueue_one(ACTIONS_BATCH, action)

    def queue_actions(self, actions: Iterable[ActionModel | Mapping[str, object]]) -> int:
        """Queue many user actions; returns how many were accepted."""
        return self._enqueue(ACTIONS_BATCH, actions)

    def queue_user(self, user: UserModel | Mapping[str, object]) -> bool:
        """Queue one user profile update; False if it was dropped."""
        return self._enqueue_one(USERS_BATCH, user)

    def queue_users(self, users: Iterable[UserModel | Mapping[str, object]]) -> int:
        """Queue many user profile updates; returns how many were accepted."""
        return self._enqueue(USERS_BATCH, users)

    def queue_company(self, company: CompanyModel | Mapping[str, object]) -> bool:
        """Queue one company profile update; False if it was dropped."""
        return self._enqueue_one(COMPANIES_BATCH, company)

    def queue_companies(self, companies: Iterable[CompanyModel | Mapping[str, object]]) -> int:
        """Queue many company profile updates; returns how many were accepted."""
        return self._enqueue(COMPANIES_BATCH, companies)

    def queue_subscription(self, subscription: SubscriptionModel | Mapping[str, object]) -> bool:
        """Queue one subscription update; False if it was dropped."""
        return self._enqueue_one(SUBSCRIPTIONS_BATCH, subscription)

    def queue_subscriptions(
        self, subscriptions: Iterable[SubscriptionModel | Mapping[str, object]]
    ) -> int:
        """Queue many subscription updates; returns how many were accepted."""
        return self._enqueue(SUBSCRIPTIONS_BATCH, subscriptions)

    @property
    def stats(self) -> QueueStats:
        """Counters of the background queue: queued, sent, failed, dropped, ..."""
        return self._queue.core.stats

    def _enqueue(self, endpoint: Endpoint[Any], items: Iterable[object]) -> int:
        self._freshen()
        return self._queue.add(endpoint, self._queue.core.prepare_all(endpoint, items))

    def _enqueue_one(self, endpoint: Endpoint[Any], item: object) -> bool:
        # The one-item calls skip the list wrapping: this runs on every API call a
        # web app logs. Errors name the item's own fields, without an index.
        steering = self._steering
        if steering.clock() >= steering._look_at:  # `Steering.due`'s own first test
            self._freshen()
        prepared = self._queue.core.prepare(endpoint, item)
        return prepared is not None and self._queue.add(endpoint, (prepared,)) == 1

    def _queue_captured(self, event: EventModel, *, sample: bool) -> bool:
        """`queue_event` for the capture middleware, which says itself whether to sample."""
        self._freshen()
        core = self._queue.core
        prepared = core.prepare(EVENTS_BATCH, event, sample=sample, owned=True)  # type: ignore[arg-type]
        return prepared is not None and self._queue.add(EVENTS_BATCH, [prepared]) == 1  # type: ignore[arg-type]

    def _queue_built(
        self,
        build: Callable[[int | None], bytes],
        weigh: Callable[[], int | None] | int | None,
    ) -> bool:
        """`_queue_captured` for an event the capture encodes itself (`prepare_built`)."""
        steering = self._steering
        if steering.clock() >= steering._look_at:  # as in `_enqueue_one`
            self._freshen()
        prepared = self._queue.core.prepare_built(build, weigh)
        return prepared is not None and self._queue.add(EVENTS_BATCH, (prepared,)) == 1  # type: ignore[arg-type]

    def _queue_encoded(self, encoded: bytes) -> bool:
        """`_queue_built` for an event the capture has encoded already (`record_plain`)."""
        steering = self._steering
        if steering.clock() >= steering._look_at:  # as in `_enqueue_one`
            self._freshen()
        return self._queue.add_event(encoded) == 1

    def _freshen(self) -> None:
        """Start a fetch of the app's config or rules if one is due (`SteeringCalls`)."""
