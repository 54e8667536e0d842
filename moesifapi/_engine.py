"""The delivery engine: how one write, one batch call or one queue drain goes out.

Sans-I/O, as h11 is: each plan is a generator that yields effects (`Send`, `Wait`,
`Concurrently`) and is handed back what came of them. Retries, ordering, deadlines,
partial-batch accounting and the request log live here once; the two clients and the
two queue workers only carry the effects out (`drive` and `adrive` in their modules).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Generic, TypeAlias, TypeVar

import attrs
import httpx

from . import _constants as c
from ._protocol import HEALTH_PATH, BatchPipeline, Core, Endpoint, M, PlannedRequest, SubBatch
from ._results import BatchResult, Health, WriteResult
from ._wording import counted, with_article
from .exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ClientClosedError,
    MoesifError,
    PartialBatchError,
    ShutdownTimeoutError,
)

if TYPE_CHECKING:
    from ._queue import Batch, QueueCore

__all__ = [
    "Answer",
    "Concurrently",
    "Effect",
    "Engine",
    "Overlap",
    "Plan",
    "Send",
    "Wait",
    "parse_retry_after",
    "retry_delay",
]

logger = logging.getLogger("moesifapi")

T = TypeVar("T")


# --- effects: what a plan asks its driver to do ---


@attrs.frozen
class Send:
    """Send `request` once: each phase within `timeout`, the whole attempt (headers and
    body) within `total` seconds. Answer with the response, its body read within
    `request.max_answer_bytes`, or with the exception."""

    request: PlannedRequest
    timeout: httpx.Timeout
    total: float


@attrs.frozen
class Wait:
    """Sleep `seconds`; answer True if the client started closing and woke it early."""

    seconds: float


@attrs.frozen(eq=False)
class Concurrently:
    """Run each lane to its end, up to `limit` at once (a sync driver runs them in turn).

    A lane never raises: it records its own outcome. Answer with None.
    """

    lanes: tuple[Plan[None], ...]
    limit: int


@attrs.frozen(eq=False)
class Overlap:
    """Plan a big batch on two threads: `pipeline.compress()` on a second one while
    `pipeline.encode()` runs on this one; answer None once both have ended.

    Nothing is sent meanwhile. A driver that cancels the call under way calls
    `pipeline.abort()`; one that answers without running it leaves the plan to the
    engine, which then makes it on one thread, as `Core.plan_batch`.
    """

    pipeline: BatchPipeline


Effect: TypeAlias = Send | Wait | Concurrently | Overlap
Answer: TypeAlias = "httpx.Response | Exception | bool | None"
Plan: TypeAlias = Generator[Effect, Answer, T]


# --- the retry policy ---


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_delay(
    attempt: int,
    error: APIError,
    *,
    max_retries: int,
    rand: Callable[[], float] = random.random,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> float | None:
    """Seconds to wait before retry number `attempt + 1`, or None to give up.

    Connection errors, timeouts and the retryable statuses are retried with jittered
    exponential backoff; a positive `Retry-After` replaces the backoff (capped).

    >>> retry_delay(0, APIConnectionError("refused"), max_retries=3, rand=lambda: 0.0)
    0.5
    """
    if attempt >= max_retries:
        return None
    if isinstance(error, APIStatusError):
        if error.status_code not in c.RETRYABLE_STATUS_CODES:
            return None
        asked = parse_retry_after(error.response.headers.get("Retry-After"), now())
        if asked is not None and asked > 0:  # 0 would mean no backoff at all
            return min(asked, c.MAX_RETRY_AFTER)
    elif not isinstance(error, APIConnectionError):
        return None
    backoff = min(c.INITIAL_RETRY_DELAY * 2.0**attempt, c.MAX_RETRY_DELAY)
    return backoff * (1 - c.RETRY_JITTER * rand())


# --- batch accounting ---


@attrs.define
class BatchPlan(Generic[M]):
    """Which sub-batches of one batch call went out, and what the caller is told."""

    items: Sequence[object]
    sub_batches: list[SubBatch]
    delivered: set[int] = attrs.field(factory=set)  # `start` of each delivered sub-batch
    error: MoesifError | None = None
    last: WriteResult | None = None

    def record(self, sub: SubBatch, result: WriteResult) -> None:
        self.delivered.add(sub.start)
        self.last = result

    def fail(self, error: MoesifError) -> None:
        if self.error is None:
            self.error = error

    def outcome(self) -> BatchResult:
        """The result; or the failure itself when nothing went out, else a
        `PartialBatchError` (raised from the failure) saying which items did."""
        error = self.error
        if error is None:
            last = self.last
            return BatchResult(
                items=len(self.items),
                requests=len(self.sub_batches),
                status_code=last.status_code if last else None,
                config_etag=last.config_etag if last else None,
                rules_tag=last.rules_tag if last else None,
            )
        if not self.delivered:
            raise error
        delivered: list[object] = []
        undelivered: list[object] = []
        for sub in self.sub_batches:
            side = delivered if sub.start in self.delivered else undelivered
            side.extend(self.items[sub.start : sub.end])
        raise PartialBatchError(
            f"{len(delivered)} of {counted(len(self.items), 'item')}"
            f" {'was' if len(delivered) == 1 else 'were'} delivered before"
            f" a sub-batch failed: {error}",
            delivered=delivered,
            undelivered=undelivered,
        ) from error


# --- the engine ---


class Engine:
    """The plans of one client, and its closing state (shared by every plan it runs).

    `clock` is monotonic seconds; tests hand in a fake one with canned answers.
    """

    def __init__(
        self,
        core: Core,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.core = core
        self.clock = clock
        self._rand = rand
        self._now = now
        self.closed = False
        # Set by `begin_close`: from then on no wait and no request may outlast it.
        self.close_deadline: float | None = None
        # Told the config ETag and rules tag of every write's answer.
        self.on_tags: Callable[[str | None, str | None], None] | None = None

    # lifecycle

    def begin_close(self, timeout: float) -> float:
        """Refuse new calls and bound everything under way; returns the deadline."""
        self.closed = True
        deadline = self.clock() + timeout
        if self.close_deadline is None or deadline < self.close_deadline:
            self.close_deadline = deadline
        return self.close_deadline

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError("the client is closed; create a new one to send more")

    def remaining(self, deadline: float | None = None) -> float | None:
        """Seconds left before the nearer of `deadline` and the close deadline."""
        limits = [d for d in (deadline, self.close_deadline) if d is not None]
        return min(limits) - self.clock() if limits else None

    # the public calls' plans

    def write(self, endpoint: Endpoint[M], item: M | Mapping[str, object]) -> Plan[WriteResult]:
        """One item to its endpoint; bad input raises before anything is sent."""
        self._check_open()
        request = self.core.plan_write(endpoint, item)
        response = yield from self.deliver(request)
        return self.core.write_result(response)

    def read(self, path: str, parse: Callable[[httpx.Response], T]) -> Plan[T]:
        """A GET under the base URL and its parsed answer."""
        return self.fetch(self.core.get(path), parse)

    def fetch(self, request: PlannedRequest, parse: Callable[[httpx.Response], T]) -> Plan[T]:
        """A prebuilt request (the health probe, at the host root) and its parsed answer."""
        self._check_open()
        response = yield from self.deliver(request)
        return parse(response)

    def check_health(self) -> Plan[Health]:
        """The health probe, at the base URL's host root (outside ``/v1``)."""
        return self.fetch(self.core.get_at_root(HEALTH_PATH), self.core.health)

    def batch(
        self, endpoint: Endpoint[M], items: Sequence[M | Mapping[str, object]]
    ) -> Plan[BatchResult]:
        """A batch call in sub-batches under the size limit.

        Profiles (`endpoint.ordered`) go strictly one after another, so a later update
        of the same profile always lands last; events and actions may go several at a
        time. After a failure no new sub-batch starts; the outcome says which went out.
        """
        self._check_open()
        pipeline = self.core.pipeline_batch(endpoint, items)
        if pipeline is None:
            planned = self.core.plan_batch(endpoint, items)
        else:  # encoding here while gzip runs on another thread; nothing sent yet
            yield Overlap(pipeline)
            planned = pipeline.result()
        plan: BatchPlan[M] = BatchPlan(items, planned)

        def lane(sub: SubBatch) -> Plan[None]:
            if plan.error is not None:
                return
            try:
                response = yield from self.deliver(sub.request)
            except MoesifError as error:
                plan.fail(error)
            else:
                plan.record(sub, self.core.write_result(response))

        if endpoint.ordered or len(planned) == 1:
            for sub in planned:
                yield from lane(sub)
        else:
            lanes = tuple(lane(sub) for sub in planned)
            yield Concurrently(lanes, c.MAX_CONCURRENT_SUB_BATCHES)
        return plan.outcome()

    # the queue's plan

    def drain(
        self, queue: QueueCore, *, closing: bool, deadline: float | None = None
    ) -> Plan[None]:
        """One pass of a queue worker: send what is buffered, batch by batch.

        Each batch is delivered or reported (`queue.delivered` / `queue.failed`); a
        failed batch never stops the rest. Batches of one profile kind go in order, one
        at a time; event and action batches may go together. While `closing` it goes on
        until the buffers stay empty, and past the deadline every batch left is
        reported with `ShutdownTimeoutError` without being sent.
        """
        while batches := queue.take_all():
            lanes: list[Plan[None]] = []
            ordered: dict[str, list[Batch]] = {}
            for batch in batches:
                if batch.endpoint.ordered:
                    ordered.setdefault(batch.endpoint.path, []).append(batch)
                else:
                    lanes.append(self._queue_lane(queue, [batch], deadline))
            lanes.extend(self._queue_lane(queue, run, deadline) for run in ordered.values())
            if len(lanes) == 1:
                yield from lanes[0]
            else:
                yield Concurrently(tuple(lanes), c.MAX_CONCURRENT_SUB_BATCHES)
            if not closing:
                return

    def _queue_lane(
        self, queue: QueueCore, batches: list[Batch], deadline: float | None
    ) -> Plan[None]:
        for batch in batches:
            request = self.core.plan_encoded_batch(batch.endpoint, batch.encoded)
            try:
                yield from self.deliver(request, on_retry=queue.retried, deadline=deadline)
            except MoesifError as error:
                queue.failed(batch, error)
            else:
                queue.delivered(batch)

    # one request, with its retries

    def deliver(
        self,
        request: PlannedRequest,
        *,
        on_retry: Callable[[], None] | None = None,
        deadline: float | None = None,
    ) -> Plan[httpx.Response]:
        """Send `request` until it succeeds or the retry policy gives up.

        Raises the typed error of the last attempt, or `ShutdownTimeoutError` (from it)
        when the deadline leaves no time for the next attempt or the wait before it.
        """
        settings = self.core.settings
        attempts = settings.max_retries + 1
        attempt = 0
        last: APIError | None = None
        while True:
            timeout, total = self._timeout_within(deadline, request, last)
            answer = yield Send(request, timeout, total)
            error: APIError | None
            if isinstance(answer, httpx.Response):
                error = self.core.error_for_response(answer)
                if error is None:
                    logger.debug(
                        "%s %s: %d (attempt %d of %d)",
                        request.method,
                        request.path,
                        answer.status_code,
                        attempt + 1,
                        attempts,
                    )
                    if self.on_tags is not None and request.method == "POST":
                        self._tell_tags(answer)
                    return answer
                outcome = str(answer.status_code)
            elif isinstance(answer, Exception):
                error = self.core.error_for_exception(answer)
                outcome = type(error).__name__
            else:
                raise TypeError(f"a Send is answered with a response or an error, not {answer!r}")
            last = error
            delay = retry_delay(
                attempt, error, max_retries=settings.max_retries, rand=self._rand, now=self._now
            )
            if delay is None:
                logger.debug(
                    "%s %s: %s (attempt %d of %d), giving up",
                    request.method,
                    request.path,
                    outcome,
                    attempt + 1,
                    attempts,
                )
                raise error
            if not self._fits(delay, deadline):
                raise self._out_of_time(request, error, with_article(f"{delay:.2f} s wait"))
            logger.debug(
                "%s %s: %s (attempt %d of %d), retrying in %.2f s",
                request.method,
                request.path,
                outcome,
                attempt + 1,
                attempts,
                delay,
            )
            yield from self._wait(delay, deadline, request, error)
            attempt += 1
            if on_retry is not None:
                on_retry()

    def _tell_tags(self, answer: httpx.Response) -> None:
        headers = answer.headers
        config_etag = headers.get(c.CONFIG_ETAG_HEADER)
        rules_tag = headers.get(c.RULES_TAG_HEADER)
        if config_etag is None and rules_tag is None:
            return
        try:
            self.on_tags(config_etag, rules_tag)  # type: ignore[misc]
        except Exception:  # a refresh problem never costs a delivered answer
            logger.exception("moesifapi: could not note the config tags of an answer")

    def _wait(
        self, seconds: float, deadline: float | None, request: PlannedRequest, error: APIError
    ) -> Plan[None]:
        # A close may wake the wait early; then whatever is left of it must still fit
        # before the deadline the close set, or the request gives up at once.
        wake_at = self.clock() + seconds
        left = seconds
        while left > 0:
            if not self._fits(left, deadline):
                raise self._out_of_time(request, error, with_article(f"{left:.2f} s wait"))
            woken_early = yield Wait(left)
            if not woken_early:
                return
            left = wake_at - self.clock()

    def _fits(self, wait: float, deadline: float | None) -> bool:
        """Whether a wait still leaves time for the attempt after it."""
        room = self.remaining(deadline)
        return room is None or wait < room

    def _timeout_within(
        self, deadline: float | None, request: PlannedRequest, last: APIError | None
    ) -> tuple[httpx.Timeout, float]:
        settings = self.core.settings
        timeout, total = settings.timeout, settings.attempt_timeout
        room = self.remaining(deadline)
        if room is None:
            return timeout, total
        if room <= 0:
            raise self._out_of_time(request, last, "another attempt")
        capped = httpx.Timeout(
            connect=_at_most(timeout.connect, room),
            read=_at_most(timeout.read, room),
            write=_at_most(timeout.write, room),
            pool=_at_most(timeout.pool, room),
        )
        return capped, min(total, room)

    def _out_of_time(
        self, request: PlannedRequest, error: APIError | None, what: str
    ) -> ShutdownTimeoutError:
        logger.debug("%s %s: no time left for %s, giving up", request.method, request.path, what)
        reason = f": {error}" if error is not None else ""
        out = ShutdownTimeoutError(f"the close deadline left no time for {what}{reason}")
        out.__cause__ = error
        return out


def _at_most(value: float | None, limit: float) -> float:
    return limit if value is None else min(value, limit)
