"""A big batch call planned on two threads (`BatchPipeline`): same bytes, same promises.

The items are encoded on the calling thread while their sub-batches are gzipped on a
second one. Nothing about the result may show it: the compressed bodies are byte for
byte those of the one-thread plan (`Core.plan_batch`), every item is validated before
the first request, an error on the compressing thread comes out of the call as it
would have, the sub-batches keep their order and partial-failure accounting, a
cancelled async call sends nothing, and no thread is left behind. Small batches keep
the one-thread plan.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import gzip
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from clients import call, close

from moesifapi import (
    AsyncMoesifClient,
    BadRequestError,
    BatchItemTooLargeError,
    EventModel,
    EventRequestModel,
    MoesifClient,
    PartialBatchError,
    UserModel,
    ValidationError,
    _gzip,
)
from moesifapi import _protocol as p
from moesifapi._engine import Concurrently, Engine, Overlap, Send
from moesifapi._switching import SWITCH_INTERVAL, quick_switches
from moesifapi.testing import Collector
from moesifapi.testing._transports import AsyncSandboxTransport, SandboxTransport

APP_ID = "overlap-test-app-id"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
MANY = p.PIPELINE_MIN_ITEMS + 1  # the fewest items that take the pipeline


def an_event(n: int, pad: int = 40) -> EventModel:
    # Fixed-width fields: every event encodes to the same number of bytes.
    return EventModel(
        request=EventRequestModel(
            time=NOW, uri=f"https://api.example.com/items/{n:07d}", verb="GET", headers={}
        ),
        transaction_id=f"00000000-0000-4000-8000-{n:012d}",
        metadata={"n": f"{n:07d}", "pad": "x" * pad},
    )


def a_user(n: int) -> UserModel:
    return UserModel(user_id=f"u{n:07d}", metadata={"n": n})


def make_core(*, max_batch_bytes: int = p.c.DEFAULT_MAX_BATCH_BYTES, level: int = 1) -> p.Core:
    return p.Core(
        p.Settings.resolve(
            application_id=APP_ID,
            base_url="http://127.0.0.1:9/v1",
            timeout=5.0,
            max_retries=0,
            gzip=True,
            max_batch_bytes=max_batch_bytes,
            gzip_level=level,
        )
    )


def run_pipeline(pipeline: p.BatchPipeline, *, threaded: bool = True) -> list[p.SubBatch]:
    if threaded:
        worker = threading.Thread(target=pipeline.compress)
        worker.start()
        try:
            pipeline.encode()
        finally:
            worker.join()
    else:  # one after the other: the queue holds every run until `compress` reads it
        pipeline.encode()
        pipeline.compress()
    return pipeline.result()


def as_tuples(subs: Sequence[p.SubBatch]) -> list[tuple[int, int, bytes | None]]:
    return [(sub.start, sub.end, sub.request.content) for sub in subs]


@pytest.fixture(scope="module")
def events() -> list[EventModel]:
    return [an_event(n) for n in range(3 * 1024 + MANY)]


# --- the bytes ---


@pytest.mark.parametrize("threaded", [True, False], ids=["two-threads", "one-thread"])
@pytest.mark.parametrize(
    ("level", "max_batch_bytes"),
    [(1, p.c.DEFAULT_MAX_BATCH_BYTES), (1, 700_000), (6, 300_000), (9, 1_500_000)],
)
def test_the_pipeline_sends_the_one_thread_plans_bytes_exactly(
    events: list[EventModel], level: int, max_batch_bytes: int, threaded: bool
) -> None:
    core = make_core(max_batch_bytes=max_batch_bytes, level=level)
    pipeline = core.pipeline_batch(p.EVENTS_BATCH, events)
    assert pipeline is not None

    planned = run_pipeline(pipeline, threaded=threaded)
    expected = core.plan_batch(p.EVENTS_BATCH, events)

    assert [(s.start, s.end) for s in planned] == [(s.start, s.end) for s in expected]
    # The JSON first (a clearer failure), then the compressed bytes themselves.
    assert [gzip.decompress(s.request.content or b"") for s in planned] == [
        gzip.decompress(s.request.content or b"") for s in expected
    ]
    assert as_tuples(planned) == as_tuples(expected)
    assert [s.request.headers for s in planned] == [s.request.headers for s in expected]
    assert [s.request.url for s in planned] == [s.request.url for s in expected]


def test_sub_batches_that_end_on_a_chunk_boundary_and_span_chunks_match_too() -> None:
    items: list[Any] = [an_event(n) for n in range(MANY + 2000)]
    items[7] = {  # a wire-format dict among the models
        "request": {
            "time": "2024-05-01T12:00:00.000Z",
            "uri": "https://a.example/x",
            "verb": "GET",
            "headers": {},
        },
        "transaction_id": "00000000-0000-4000-8000-999999999999",
    }
    _, sizes = p.encode_inputs(EventModel, items)
    size = sizes[0]
    assert sizes.count(size) == len(sizes) - 1
    # 256 events a sub-batch: every fourth one ends exactly where a chunk of 1024 does.
    core = make_core(max_batch_bytes=2 + 256 * size + 255)
    expected = core.plan_batch(p.EVENTS_BATCH, items)
    assert p._PIPELINE_CHUNK_ITEMS in {s.start for s in expected}
    # And 700 a sub-batch: most of them span two chunks.
    spanning = make_core(max_batch_bytes=2 + 700 * size + 699)
    for each in (core, spanning):
        pipeline = each.pipeline_batch(p.EVENTS_BATCH, items)
        assert pipeline is not None
        assert as_tuples(run_pipeline(pipeline)) == as_tuples(
            each.plan_batch(p.EVENTS_BATCH, items)
        )


def test_the_header_matches_a_whole_bodys_at_every_level() -> None:
    for level in range(1, 10):
        ours, streams = _gzip.header(level)
        assert ours == _gzip.compress(b"[]", level)[:10]
        assert len(streams) == 10
        if _gzip.streams_as_one(level):
            assert ours == gzip.compress(b"[]", compresslevel=level, mtime=0)[:10]


# --- when the pipeline is used ---


def first_effect(items: Sequence[object], *, gzip_on: bool = True) -> object:
    core = make_core()
    if not gzip_on:
        core = p.Core(
            p.Settings.resolve(
                application_id=APP_ID,
                base_url="http://127.0.0.1:9/v1",
                timeout=5.0,
                max_retries=0,
                gzip=False,
                max_batch_bytes=p.c.DEFAULT_MAX_BATCH_BYTES,
            )
        )
    plan = Engine(core).batch(p.EVENTS_BATCH, items)  # type: ignore[arg-type]
    effect = next(plan)
    plan.close()
    return effect


def test_only_a_batch_of_more_than_the_threshold_with_gzip_on_takes_the_pipeline(
    events: list[EventModel],
) -> None:
    assert isinstance(first_effect(events[: p.PIPELINE_MIN_ITEMS]), Send)
    assert isinstance(first_effect(events[:MANY]), Overlap)
    assert isinstance(first_effect(tuple(events[:MANY])), Overlap)
    assert isinstance(first_effect(events[:MANY], gzip_on=False), Send)


def test_a_driver_that_does_not_run_the_overlap_gets_the_one_thread_plan(
    events: list[EventModel],
) -> None:
    core = make_core(max_batch_bytes=300_000)
    plan = Engine(core).batch(p.EVENTS_BATCH, events)
    assert isinstance(next(plan), Overlap)
    effect = plan.send(None)  # answered without running it
    sent: list[bytes | None] = []
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/events/batch")
    ok = httpx.Response(200, request=request)
    assert isinstance(effect, Concurrently)
    for lane in effect.lanes:  # in turn, as the sync client does
        step = next(lane)
        while True:
            assert isinstance(step, Send)
            sent.append(step.request.content)
            try:
                step = lane.send(ok)
            except StopIteration:
                break
    with pytest.raises(StopIteration) as done:
        plan.send(None)
    assert done.value.value.requests == len(sent) > 1
    assert sent == [s.request.content for s in core.plan_batch(p.EVENTS_BATCH, events)]


# --- both clients, over the sandbox collector's loopback server ---


@pytest.fixture
def collector() -> Collector:
    return Collector(application_id=APP_ID)


@pytest.fixture
def base_url(collector: Collector) -> Iterator[str]:
    with collector.serve() as url:
        yield url


def make(kind: str, base_url: str, **kwargs: Any) -> MoesifClient | AsyncMoesifClient:
    kwargs.setdefault("application_id", APP_ID)
    if kind == "sync":
        return MoesifClient(base_url=base_url, **kwargs)
    return AsyncMoesifClient(base_url=base_url, **kwargs)


def gzip_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "moesifapi-gzip"]


@pytest.fixture
def compress_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each `BatchPipeline.compress` ran on."""
    names: list[str] = []
    real = p.BatchPipeline.compress

    def compress(self: p.BatchPipeline) -> None:
        names.append(threading.current_thread().name)
        real(self)

    monkeypatch.setattr(p.BatchPipeline, "compress", compress)
    return names


async def test_each_client_sends_the_one_thread_plans_bodies_byte_for_byte(
    kind: str,
    collector: Collector,
    base_url: str,
    events: list[EventModel],
    compress_threads: list[str],
) -> None:
    items = events[: MANY + 1500]
    max_batch_bytes = 300_000
    client = make(kind, base_url, max_batch_bytes=max_batch_bytes)

    result = await call(client, "create_events_batch", items)
    await close(client)

    expected = make_core(max_batch_bytes=max_batch_bytes).plan_batch(p.EVENTS_BATCH, items)
    bodies = [r.body for r in collector.requests if r.path == "/v1/events/batch"]
    assert result.requests == len(expected) == len(bodies) >= 4
    assert len(compress_threads) == 1
    assert compress_threads[0] != threading.main_thread().name
    assert not gzip_threads()
    wanted = [s.request.content for s in expected]
    if kind == "sync":  # one after another, in order
        assert bodies == wanted
    else:  # several in flight: each planned body arrives once
        assert sorted(bodies) == sorted(wanted)  # type: ignore[type-var]
    assert sorted(gzip.decompress(b) for b in bodies) == sorted(
        gzip.decompress(b or b"") for b in wanted
    )
    assert len(collector.events) == len(items)


async def test_a_bad_last_item_raises_before_anything_is_sent_as_the_one_thread_plan(
    kind: str, collector: Collector, base_url: str, events: list[EventModel]
) -> None:
    items: list[Any] = list(events[:MANY])
    items[-1] = {"request": {"uri": "https://a.example/x"}, "nonsense": 1}  # no time, unknown key
    with pytest.raises(ValidationError) as sequential:
        make_core().plan_batch(p.EVENTS_BATCH, items)
    client = make(kind, base_url)

    with pytest.raises(ValidationError) as raised:
        await call(client, "create_events_batch", items)
    await close(client)

    assert type(raised.value) is type(sequential.value)
    assert str(raised.value) == str(sequential.value)
    assert f"[{MANY - 1}]" in str(raised.value)
    assert collector.requests == []
    assert not gzip_threads()


async def test_an_oversized_item_raises_its_index_before_anything_is_sent(
    kind: str, collector: Collector, base_url: str, events: list[EventModel]
) -> None:
    items = list(events[:MANY])
    items[3000] = an_event(3000, pad=1_100_000)  # over the API's 1 MB for one event
    client = make(kind, base_url)

    with pytest.raises(BatchItemTooLargeError) as raised:
        await call(client, "create_events_batch", items)
    await close(client)

    assert raised.value.index == 3000
    assert raised.value.scope == "single-event"
    assert collector.requests == []


class _Boom(Exception):
    pass


async def test_an_error_on_the_compressing_thread_comes_out_of_the_call(
    kind: str,
    collector: Collector,
    base_url: str,
    events: list[EventModel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: object, **kwargs: object) -> bytes:
        raise _Boom("no memory for zlib")

    _gzip.header(1)  # made before compressing breaks
    monkeypatch.setattr(_gzip, "compressor", boom)
    monkeypatch.setattr(_gzip, "compress", boom)
    client = make(kind, base_url)
    try:
        with pytest.raises(_Boom):  # as a failing gzip in plan_batch raises
            await call(client, "create_events_batch", events[:MANY])
    finally:
        await close(client)
    assert collector.requests == []
    assert not gzip_threads()


class _FailingNth(SandboxTransport):
    def __init__(self, collector: Collector, nth: int) -> None:
        super().__init__(collector)
        self.count, self.nth = 0, nth

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count == self.nth:
            return httpx.Response(400, json={"error": "no"}, request=request)
        return super().handle_request(request)


class _AsyncFailingNth(AsyncSandboxTransport):
    def __init__(self, collector: Collector, nth: int) -> None:
        super().__init__(collector)
        self.count, self.nth = 0, nth

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count == self.nth:
            return httpx.Response(400, json={"error": "no"}, request=request)
        return await super().handle_async_request(request)


@pytest.mark.parametrize("nth", [1, 3])
async def test_profile_sub_batches_keep_their_order_and_partial_accounting(
    kind: str, collector: Collector, nth: int
) -> None:
    users = [a_user(n) for n in range(MANY + 3000)]
    max_batch_bytes = 40_000
    http: httpx.Client | httpx.AsyncClient
    if kind == "sync":
        http = httpx.Client(transport=_FailingNth(collector, nth))
        client: MoesifClient | AsyncMoesifClient = MoesifClient(
            application_id=APP_ID,
            base_url="http://sandbox/v1",
            max_batch_bytes=max_batch_bytes,
            http_client=http,
        )
    else:
        http = httpx.AsyncClient(transport=_AsyncFailingNth(collector, nth))
        client = AsyncMoesifClient(
            application_id=APP_ID,
            base_url="http://sandbox/v1",
            max_batch_bytes=max_batch_bytes,
            http_client=http,
        )
    planned = make_core(max_batch_bytes=max_batch_bytes).plan_batch(p.USERS_BATCH, users)
    assert len(planned) > nth

    with pytest.raises((PartialBatchError, BadRequestError)) as raised:
        await call(client, "update_users_batch", users)
    await close(client)
    if isinstance(http, httpx.Client):
        http.close()
    else:
        await http.aclose()

    bodies = [r.body for r in collector.requests]
    assert bodies == [s.request.content for s in planned[: nth - 1]]  # in order, then none
    if nth == 1:
        assert type(raised.value) is BadRequestError
    else:
        error = raised.value
        assert isinstance(error, PartialBatchError)
        cut = planned[nth - 2].end
        assert error.delivered == users[:cut]
        assert error.undelivered == users[cut:]


# --- cancellation ---


async def test_a_cancelled_async_call_stops_the_compressing_and_sends_nothing(
    collector: Collector,
    base_url: str,
    events: list[EventModel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, finished = threading.Event(), threading.Event()
    real = p.BatchPipeline.compress

    def compress(self: p.BatchPipeline) -> None:
        gate.wait(10)  # held until the call is cancelled
        try:
            real(self)
        finally:
            finished.set()

    monkeypatch.setattr(p.BatchPipeline, "compress", compress)
    client = AsyncMoesifClient(application_id=APP_ID, base_url=base_url)
    task = asyncio.create_task(client.create_events_batch(events[:MANY]))
    await asyncio.sleep(0)  # one turn: the task encodes, then waits for the gzip thread
    assert not task.done()

    task.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.wait(10)
    await client.aclose()

    assert collector.requests == []


async def test_the_gzip_runs_on_a_thread_of_its_own_even_with_the_loops_executor_busy(
    kind: str,
    collector: Collector,
    base_url: str,
    events: list[EventModel],
    compress_threads: list[str],
) -> None:
    # The loop's default executor held by other work for the whole call: a gzip queued
    # there would wait behind it (and the call with it) until that work ends.
    loop = asyncio.get_running_loop()
    busy = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(busy)
    release, holding = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        release.wait(10)

    held = loop.run_in_executor(None, hold)
    assert holding.wait(10)
    client = make(kind, base_url)
    try:
        result = await call(client, "create_events_batch", events[:MANY])
        assert not held.done()  # the executor was busy all along
    finally:
        release.set()
        await held
        await close(client)
        busy.shutdown(wait=True)

    assert result.items == MANY
    assert compress_threads == ["moesifapi-gzip"]
    assert not gzip_threads()
    assert len(collector.events) == MANY


# --- the GIL hand-offs (`_switching`) ---


async def test_the_switch_interval_is_short_while_the_gzip_runs_and_put_back_after(
    kind: str, base_url: str, events: list[EventModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    # At CPython's 5 ms the gzip thread waited for the GIL more than it compressed.
    seen: list[float] = []
    real = p.BatchPipeline.compress

    def compress(self: p.BatchPipeline) -> None:
        seen.append(sys.getswitchinterval())
        real(self)

    monkeypatch.setattr(p.BatchPipeline, "compress", compress)
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL  # CPython's default, 5 ms
    client = make(kind, base_url)

    await call(client, "create_events_batch", events[:MANY])
    bad: list[Any] = list(events[:MANY])
    bad[-1] = {"request": {"uri": "https://a.example/x"}}  # no time: refused, nothing sent
    with pytest.raises(ValidationError):
        await call(client, "create_events_batch", bad)
    await close(client)

    assert seen == [pytest.approx(SWITCH_INTERVAL)] * 2
    assert sys.getswitchinterval() == before


def test_overlapping_pipelines_put_the_interval_back_when_the_last_ends() -> None:
    before = sys.getswitchinterval()
    first, second = quick_switches(), quick_switches()
    first.__enter__()
    second.__enter__()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)  # one still runs
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


def test_an_interval_the_app_sets_meanwhile_is_kept_and_a_shorter_one_never_raised() -> None:
    before = sys.getswitchinterval()
    try:
        with quick_switches():
            sys.setswitchinterval(0.002)  # the host app's own choice, mid-call
        assert sys.getswitchinterval() == pytest.approx(0.002)
        sys.setswitchinterval(0.0001)
        with quick_switches():
            assert sys.getswitchinterval() == pytest.approx(0.0001)
        assert sys.getswitchinterval() == pytest.approx(0.0001)
    finally:
        sys.setswitchinterval(before)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_pipeline_runs_gets_the_interval_back() -> None:
    # The child has no pipeline that will end and put the interval back; the fork hook does.
    before = sys.getswitchinterval()
    read_end, write_end = os.pipe()
    with quick_switches():
        pid = os.fork()
        if pid == 0:  # the child: report its interval, then whether it can lower it again
            try:
                report = [sys.getswitchinterval()]
                with quick_switches():
                    report.append(sys.getswitchinterval())
                report.append(sys.getswitchinterval())
                os.write(write_end, repr(report).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)  # the parent's still runs
        with os.fdopen(read_end, "rb") as reading:
            child = reading.read()
        os.waitpid(pid, 0)
    assert sys.getswitchinterval() == before
    assert ast.literal_eval(child.decode()) == [before, pytest.approx(SWITCH_INTERVAL), before]
