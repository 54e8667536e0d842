"""The background queue, against the sandbox collector's real HTTP server and its faults."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from clients import Client, Errors, close

import moesifapi
from moesifapi import (
    AsyncMoesifClient,
    EventModel,
    EventRequestModel,
    MoesifClient,
    QueueFullError,
    UserModel,
)
from moesifapi.testing import Collector

APP_ID = "queue-test-app-id"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


pytestmark = pytest.mark.usefixtures("backoff_sleeps")


@pytest.fixture
def collector() -> Collector:
    return Collector(application_id=APP_ID)


@pytest.fixture
def base_url(collector: Collector) -> Iterator[str]:
    with collector.serve() as url:
        yield url


def make(kind: str, base_url: str, **kwargs: Any) -> Client:
    kwargs.setdefault("application_id", APP_ID)
    if kind == "sync":
        return MoesifClient(base_url=base_url, **kwargs)
    return AsyncMoesifClient(base_url=base_url, **kwargs)


async def flush(client: Client, timeout: float | None = None) -> bool:
    result = client.flush(timeout)
    return await result if inspect.isawaitable(result) else bool(result)


def an_event(n: int, **extra: Any) -> EventModel:
    return EventModel(
        request=EventRequestModel(
            time=NOW, uri=f"https://api.example.com/items/{n}", verb="GET", headers={}
        ),
        metadata={"n": n},
        **extra,
    )


# --- delivery under faults (the headline scenarios) ---


@pytest.mark.slow  # a load test: CI runs it in its `pytest -m slow` step
def test_eight_threads_deliver_40000_events_exactly_once_through_503s_and_drops(
    collector: Collector, base_url: str
) -> None:
    collector.fail_randomly(0.2, status=503, seed=7)
    collector.drop_randomly(0.05, seed=11)
    errors = Errors()
    client = MoesifClient(
        application_id=APP_ID,
        base_url=base_url,
        max_queue_size=50_000,
        max_retries=12,  # 20% + 5% failures: 13 in a row is (0.25 ** 13), never
        on_error=errors,
    )
    sent: list[list[str]] = [[] for _ in range(8)]

    def produce(worker: int) -> None:
        for n in range(5_000):
            event = an_event(n, user_id=f"thread-{worker}")
            client.queue_event(event)
            sent[worker].append(event.transaction_id)

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    client.close()

    received = Counter(event["transaction_id"] for event in collector.events)
    expected = {tid for ids in sent for tid in ids}
    assert len(expected) == 40_000
    assert set(received) == expected
    assert max(received.values()) == 1
    assert errors.calls == []
    stats = client.stats
    assert (stats.queued, stats.sent, stats.failed, stats.dropped) == (40_000, 40_000, 0, 0)
    assert stats.retried > 0
    assert any(r.status == 503 for r in collector.requests)


@pytest.mark.slow  # a load test: CI runs it in its `pytest -m slow` step
async def test_200_tasks_deliver_40000_events_exactly_once_through_503s_and_drops(
    collector: Collector, base_url: str
) -> None:
    collector.fail_randomly(0.2, status=503, seed=3)
    collector.drop_randomly(0.05, seed=5)
    errors = Errors()
    client = AsyncMoesifClient(
        application_id=APP_ID,
        base_url=base_url,
        max_queue_size=50_000,
        max_retries=12,
        on_error=errors,
    )
    sent: list[str] = []

    async def produce(task: int) -> None:
        for n in range(200):
            event = an_event(n, user_id=f"task-{task}")
            client.queue_event(event)
            sent.append(event.transaction_id)
            if n % 50 == 0:
                await asyncio.sleep(0)  # let the other producers and the worker run

    await asyncio.gather(*(produce(t) for t in range(200)))
    await client.aclose()

    received = Counter(event["transaction_id"] for event in collector.events)
    assert len(sent) == 40_000
    assert set(received) == set(sent)
    assert max(received.values()) == 1
    assert errors.calls == []
    assert client.stats.failed == 0


async def test_with_the_server_gone_close_returns_and_every_item_reaches_on_error(
    kind: str, collector: Collector, backoff_sleeps: list[float]
) -> None:
    with collector.serve() as gone_url:
        pass  # the port is closed again: connections are refused
    errors = Errors()
    client = make(kind, gone_url, on_error=errors)
    events = [an_event(n) for n in range(2_500)]
    for event in events:
        client.queue_event(event)
    waited_before_close = len(backoff_sleeps)

    await close(client)

    reported = [item.transaction_id for item in errors.items]
    assert sorted(reported) == sorted(e.transaction_id for e in events)
    assert all(isinstance(e, moesifapi.APIConnectionError) for e, _ in errors.calls)
    stats = client.stats
    assert (stats.failed, stats.sent, stats.pending) == (2_500, 0, 0)
    # Default retries, and once the server is known unreachable the rest fail at once:
    # close() waits through at most two rounds of backoff (the one under way, then one).
    assert sum(backoff_sleeps[waited_before_close:]) <= 2 * (0.5 + 1.0 + 2.0)


def test_queue_event_returns_while_the_server_is_held(collector: Collector, base_url: str) -> None:
    client = MoesifClient(application_id=APP_ID, base_url=base_url, flush_interval=0.01)
    collector.hold()
    assert client.queue_event(an_event(1))
    assert collector.wait_until_held(1, timeout=10)  # the worker is stuck in a request

    returned = threading.Event()

    def queue_more() -> None:
        client.queue_event(an_event(2))
        returned.set()

    caller = threading.Thread(target=queue_more)
    caller.start()
    assert returned.wait(timeout=10), "queue_event blocked on the held server"
    assert collector.events == []

    collector.release()
    client.close()
    assert sorted(e["metadata"]["n"] for e in collector.events) == [1, 2]


async def test_async_queue_event_returns_while_the_server_is_held(
    collector: Collector, base_url: str
) -> None:
    client = AsyncMoesifClient(application_id=APP_ID, base_url=base_url, flush_interval=0.01)
    collector.hold()
    assert client.queue_event(an_event(1))
    held = await asyncio.to_thread(collector.wait_until_held, 1, 10)
    assert held

    assert client.queue_event(an_event(2))  # a plain call: returns with the server held
    assert collector.events == []

    collector.release()
    await client.aclose()
    assert sorted(e["metadata"]["n"] for e in collector.events) == [1, 2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_delivers_its_own_items_and_not_the_parents(
    kind: str, collector: Collector, base_url: str
) -> None:
    client = make(kind, base_url, flush_interval=60)

    async def queue(user_id: str) -> None:  # the async client's queue needs a running loop
        client.queue_event(an_event(1, user_id=user_id))

    # The parent's loop stays open (not ended, so nothing is delivered at its end):
    # the parent's item is still pending when it forks.
    parent_loop = asyncio.new_event_loop()
    parent_loop.run_until_complete(queue("parent"))

    pid = os.fork()
    if pid == 0:  # the child: exit status tells the parent what it saw
        code = 1
        try:
            fresh = client.stats.pending == 0
            asyncio.run(queue("child"))
            asyncio.run(close(client))
            code = 0 if fresh and client.stats.sent == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    assert [e["user_id"] for e in collector.events] == ["child"]
    parent_loop.run_until_complete(close(client))
    parent_loop.close()
    assert sorted(e["user_id"] for e in collector.events) == ["child", "parent"]
    assert client.stats.sent == 1


# --- one AsyncMoesifClient, several event loops (a second asyncio.run, a fresh test loop) ---


def test_an_async_client_keeps_working_when_used_from_a_second_event_loop(
    collector: Collector, base_url: str
) -> None:
    client = AsyncMoesifClient(application_id=APP_ID, base_url=base_url, flush_interval=60)

    async def use(n: int) -> bool:
        assert await client.flush()  # nothing queued yet on this loop
        await client.create_event(an_event(n))
        client.queue_event(an_event(n + 100))
        return await client.flush(timeout=10)

    assert asyncio.run(use(1))
    assert asyncio.run(use(2))  # another loop: a new worker task and a new pool
    asyncio.run(client.aclose())

    assert sorted(e["metadata"]["n"] for e in collector.events) == [1, 2, 101, 102]
    assert (client.stats.sent, client.stats.failed) == (2, 0)


def test_async_queue_calls_need_their_own_thread_s_loop_once_the_worker_runs(
    collector: Collector, base_url: str
) -> None:
    # Once the worker runs on a loop, another thread (no loop of its own) still cannot
    # queue, nor can anyone after that loop has ended.
    client = AsyncMoesifClient(application_id=APP_ID, base_url=base_url, flush_interval=60)
    from_thread: list[BaseException] = []

    def queue_from_a_thread() -> None:
        try:
            client.queue_user({"user_id": "from-a-thread"})
        except BaseException as error:
            from_thread.append(error)

    async def main() -> None:
        client.queue_user({"user_id": "on-the-loop"})  # the worker starts on this loop
        other = threading.Thread(target=queue_from_a_thread)
        other.start()
        other.join()
        assert await client.flush(timeout=10)

    asyncio.run(main())
    with pytest.raises(RuntimeError, match="running event loop"):
        client.queue_user({"user_id": "after-the-loop"})
    asyncio.run(client.aclose())

    assert len(from_thread) == 1
    assert isinstance(from_thread[0], RuntimeError)
    assert "running event loop" in str(from_thread[0])
    assert list(collector.users) == ["on-the-loop"]


def test_the_connections_a_loop_opened_are_closed_when_that_loop_ends(
    collector: Collector, base_url: str
) -> None:
    client = AsyncMoesifClient(application_id=APP_ID, base_url=base_url)
    asyncio.run(client.create_event(an_event(1)))  # never closed by the caller

    # Left open, the pooled socket would outlive its loop and be closed by the garbage
    # collector with a ResourceWarning; the client's own pool is closed in that loop.
    assert client._http.is_closed
    asyncio.run(client.create_event(an_event(2)))  # the next loop opens its own
    assert len(collector.events) == 2


def test_items_left_queued_when_asyncio_run_returns_are_delivered_as_the_loop_ends(
    collector: Collector, base_url: str
) -> None:
    client = AsyncMoesifClient(application_id=APP_ID, base_url=base_url, flush_interval=60)

    async def main() -> None:
        client.queue_users([UserModel(user_id=f"u{n}") for n in range(50)])
        # returns without aclose(): the worker is still waiting for its interval

    asyncio.run(main())

    assert sorted(collector.users) == sorted(f"u{n}" for n in range(50))
    assert (client.stats.sent, client.stats.pending) == (50, 0)


def test_items_a_loop_end_cannot_deliver_in_time_go_to_on_error_and_the_log(
    collector: Collector, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors = Errors()
    client = AsyncMoesifClient(
        application_id=APP_ID,
        base_url=base_url,
        flush_interval=60,
        exit_timeout=0.3,
        on_error=errors,
    )
    collector.hold()

    async def main() -> None:
        client.queue_users([UserModel(user_id=f"u{n}") for n in range(50)])

    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        asyncio.run(main())
    collector.release()

    assert sorted(u.user_id for u in errors.items) == sorted(f"u{n}" for n in range(50))
    assert all(isinstance(e, moesifapi.ShutdownTimeoutError) for e, _ in errors.calls)
    assert (client.stats.failed, client.stats.pending) == (50, 0)
    (line,) = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert "50 items not delivered" in line
    assert "event loop ended" in line


def test_a_batch_in_flight_when_its_loop_stops_is_sent_again_before_the_loop_ends(
    collector: Collector, base_url: str
) -> None:
    client = AsyncMoesifClient(application_id=APP_ID, base_url=base_url, flush_interval=60)
    collector.hold()

    async def send_into_the_hold() -> bool:
        client.queue_users([UserModel(user_id=f"u{n}") for n in range(3)])
        return await client.flush(timeout=0.2)  # times out with the batch in flight

    def release_once_resent() -> None:
        # The first try stays held; the resend at the loop's end is the second.
        if collector.wait_until_held(2, timeout=10):
            collector.release()

    releaser = threading.Thread(target=release_once_resent)
    releaser.start()
    assert asyncio.run(send_into_the_hold()) is False  # then the loop cancels the worker
    releaser.join(timeout=10)

    assert sorted(collector.users) == ["u0", "u1", "u2"]  # profile updates merge
    assert client.stats == client.stats.__class__(
        queued=3, sent=3, failed=0, dropped=0, filtered=0, retried=0, pending=0
    )


async def test_overflow_drops_are_counted_reported_and_memory_stays_bounded(
    kind: str, collector: Collector, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dropped_items = 0
    full_errors = 0

    def on_error(error: Exception, items: Sequence[Any]) -> None:
        nonlocal dropped_items, full_errors
        if isinstance(error, QueueFullError):
            full_errors += 1
            dropped_items += len(items)

    collector.hold()
    client = make(kind, base_url, max_queue_size=10, on_error=on_error)
    event = an_event(0)
    caplog.set_level(logging.WARNING, logger="moesifapi")
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        accepted = sum(client.queue_event(event) for _ in range(20_000))
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert accepted == 10
    assert client.stats.dropped == dropped_items == full_errors == 19_990
    assert client.stats.pending == 10
    assert after - before < 2_000_000  # 20,000 events would be ~10 MB if kept
    drop_logs = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drop_logs) == 1  # rate-limited: one line, not 19,990
    collector.release()
    await close(client)
    assert len(collector.events) == 10


# --- the calls themselves ---


async def test_each_kind_is_queued_to_its_batch_endpoint(
    kind: str, collector: Collector, base_url: str
) -> None:
    client = make(kind, base_url)
    client.queue_event(an_event(1))
    client.queue_events([an_event(2), an_event(3)])
    client.queue_action({"action_name": "Signed Up", "request": {"uri": "https://a.test/"}})
    client.queue_actions([{"action_name": "Clicked", "request": {"uri": "https://a.test/b"}}])
    client.queue_user(UserModel(user_id="u1"))
    client.queue_users([{"user_id": "u2"}])
    client.queue_company({"company_id": "c1"})
    client.queue_companies([{"company_id": "c2"}])
    client.queue_subscription({"subscription_id": "s1", "company_id": "c1"})
    client.queue_subscriptions([{"subscription_id": "s2", "company_id": "c2"}])

    assert await flush(client, timeout=10)

    assert len(collector.events) == 3
    assert [a["action_name"] for a in collector.actions] == ["Signed Up", "Clicked"]
    assert set(collector.users) == {"u1", "u2"}
    assert set(collector.companies) == {"c1", "c2"}
    assert set(collector.subscriptions) == {"s1", "s2"}
    paths = {r.path for r in collector.requests}
    assert paths == {
        "/v1/events/batch",
        "/v1/actions/batch",
        "/v1/users/batch",
        "/v1/companies/batch",
        "/v1/subscriptions/batch",
    }
    await close(client)


async def test_bad_input_raises_at_once_and_queues_nothing(
    kind: str, collector: Collector, base_url: str
) -> None:
    client = make(kind, base_url)
    with pytest.raises(moesifapi.ValidationError) as caught:
        client.queue_users([{"user_id": "fine"}, {"user_id": ""}])
    assert caught.value.field == "[1].user_id"
    with pytest.raises(moesifapi.ValidationError):
        client.queue_event({"request": {"uri": "https://x"}})
    assert client.stats.queued == 0
    await close(client)
    assert collector.requests == []


async def test_an_item_too_large_for_any_batch_is_rejected_at_once(
    kind: str, base_url: str
) -> None:
    client = make(kind, base_url, max_batch_bytes=2048)
    with pytest.raises(moesifapi.BatchItemTooLargeError):
        client.queue_event(an_event(0, tags="x" * 4096))
    await close(client)


async def test_before_send_masks_headers_before_anything_is_queued(
    kind: str, collector: Collector, base_url: str
) -> None:
    def mask(item: Any) -> Any:
        if isinstance(item, EventModel):
            for name in ("Authorization", "Cookie"):
                if name in item.request.headers:
                    item.request.headers[name] = "***"
        return item

    client = make(kind, base_url, before_send=mask)
    request = EventRequestModel(
        time=NOW,
        uri="https://api.example.com/me",
        verb="GET",
        headers={"Authorization": "Bearer secret", "Cookie": "s=1", "Accept": "*/*"},
    )
    client.queue_event(EventModel(request=request))
    await close(client)

    (sent,) = collector.events
    assert sent["request"]["headers"] == {"Authorization": "***", "Cookie": "***", "Accept": "*/*"}


async def test_before_send_returning_none_filters_the_item(
    kind: str, collector: Collector, base_url: str
) -> None:
    client = make(
        kind, base_url, before_send=lambda item: None if item.metadata == {"n": 2} else item
    )
    accepted = [client.queue_event(an_event(n)) for n in range(4)]
    await close(client)

    assert accepted == [True, True, False, True]
    assert sorted(e["metadata"]["n"] for e in collector.events) == [0, 1, 3]
    assert client.stats.filtered == 1
    assert client.stats.dropped == 0


async def test_a_before_send_that_raises_drops_and_reports_the_item(
    kind: str, collector: Collector, base_url: str
) -> None:
    errors = Errors()

    def broken(item: Any) -> Any:
        raise KeyError("oops")

    client = make(kind, base_url, before_send=broken, on_error=errors)
    event = an_event(1)
    assert client.queue_event(event) is False
    await close(client)

    assert collector.events == []
    assert client.stats.dropped == 1
    ((error, items),) = errors.calls
    assert isinstance(error, KeyError)
    assert items == [event]


async def test_flush_reports_whether_everything_was_delivered(
    kind: str, collector: Collector, base_url: str
) -> None:
    errors = Errors()
    client = make(kind, base_url, max_retries=0, on_error=errors, flush_interval=60)
    client.queue_event(an_event(1))
    assert await flush(client, timeout=10) is True

    collector.fail_next(1, status=400)
    client.queue_event(an_event(2))
    assert await flush(client, timeout=10) is False
    ((error, items),) = errors.calls
    assert isinstance(error, moesifapi.BadRequestError)
    assert [item.metadata for item in items] == [{"n": 2}]
    assert client.stats.failed == 1
    await close(client)


async def test_flush_with_nothing_queued_is_true(kind: str, base_url: str) -> None:
    client = make(kind, base_url)
    assert await flush(client) is True
    await close(client)


async def test_flush_gives_up_after_its_timeout(
    kind: str, collector: Collector, base_url: str
) -> None:
    client = make(kind, base_url, flush_interval=60)
    collector.hold()
    client.queue_event(an_event(1))
    assert await flush(client, timeout=0.2) is False
    collector.release()
    assert await flush(client, timeout=10) is True
    await close(client)


async def test_retries_are_counted_in_stats(kind: str, collector: Collector, base_url: str) -> None:
    collector.fail_next(2, status=503)
    client = make(kind, base_url)
    client.queue_user({"user_id": "u1"})
    assert await flush(client, timeout=10)
    assert client.stats.retried == 2
    assert client.stats.sent == 1
    await close(client)


async def test_a_failing_on_error_callback_does_not_stop_delivery(
    kind: str, collector: Collector, base_url: str
) -> None:
    def explode(error: Exception, items: Sequence[Any]) -> None:
        raise RuntimeError("callback bug")

    client = make(kind, base_url, max_retries=0, on_error=explode)
    collector.fail_next(1, status=400)
    client.queue_user({"user_id": "lost"})
    await flush(client, timeout=10)
    client.queue_user({"user_id": "kept"})
    await close(client)
    assert set(collector.users) == {"kept"}


async def test_items_queued_after_close_are_dropped_and_reported(
    kind: str, collector: Collector, base_url: str
) -> None:
    errors = Errors()
    client = make(kind, base_url, on_error=errors)
    await close(client)
    assert client.queue_user({"user_id": "late"}) is False
    assert client.stats.dropped == 1
    assert len(errors.calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"flush_interval": 0}, "flush_interval"),
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"exit_timeout": -1}, "exit_timeout"),
        ({"on_error": "print"}, "on_error"),
    ],
)
def test_bad_queue_settings_are_rejected(kind: str, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(moesifapi.ValidationError) as caught:
        make(kind, "http://127.0.0.1:9/v1", **kwargs)
    assert caught.value.field == field


def test_async_queue_calls_need_a_running_loop() -> None:
    client = AsyncMoesifClient(application_id=APP_ID, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(RuntimeError, match="running event loop"):
        client.queue_user({"user_id": "u"})


# --- interpreter exit ---

EXIT_SCRIPT = textwrap.dedent(
    """
    import sys
    from moesifapi import MoesifClient

    client = MoesifClient(
        application_id=sys.argv[1],
        base_url=sys.argv[2],
        flush_interval=60,
        exit_timeout=float(sys.argv[3]),
        on_error=lambda error, items: print("lost", len(items), flush=True),
    )
    for n in range(300):
        client.queue_user({"user_id": f"user-{n}"})
    # no close(): the interpreter's exit must deliver or report the items
    """
)


def lost_in(output: str) -> int:
    return sum(int(line.split()[1]) for line in output.splitlines() if line.startswith("lost "))


def run_exit_script(base_url: str, exit_timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, APP_ID, base_url, str(exit_timeout)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_queued_items_are_delivered_at_interpreter_exit(
    collector: Collector, base_url: str
) -> None:
    result = run_exit_script(base_url, exit_timeout=10)
    assert result.returncode == 0, result.stderr
    assert len(collector.users) == 300
    assert lost_in(result.stdout) == 0


def test_exit_does_not_hang_on_a_held_server_and_reports_what_it_lost(
    collector: Collector, base_url: str
) -> None:
    collector.hold()
    result = run_exit_script(base_url, exit_timeout=0.5)
    collector.release()
    assert result.returncode == 0, result.stderr
    assert lost_in(result.stdout) == 300
    assert "not delivered within" in result.stderr  # the log line


@pytest.mark.parametrize(("count", "said"), [(1, "1 company"), (3, "3 companies")])
async def test_a_lost_batch_is_logged_with_its_count_and_kind(
    kind: str,
    collector: Collector,
    base_url: str,
    count: int,
    said: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make(kind, base_url, max_retries=0)
    collector.fail_next(1, status=400)
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        for n in range(count):
            client.queue_company({"company_id": f"c{n}"})
        await flush(client)
    assert f"moesifapi: {said} could not be delivered" in caplog.text
    await close(client)


async def test_a_one_item_queue_call_names_the_items_own_field(kind: str, base_url: str) -> None:
    client = make(kind, base_url)
    with pytest.raises(moesifapi.ValidationError) as one:
        client.queue_event({"request": {"uri": "https://api.example.com/"}})
    assert one.value.field == "request.time"
    with pytest.raises(moesifapi.ValidationError) as many:
        client.queue_events([an_event(0), {"request": {"uri": "https://api.example.com/"}}])
    assert many.value.field == "[1].request.time"
    await close(client)


async def test_a_full_queue_refuses_before_masking_or_encoding(
    kind: str, collector: Collector, base_url: str
) -> None:
    masked: list[object] = []

    def before_send(item: Any) -> Any:
        masked.append(item)
        return item

    errors = Errors()
    collector.hold()
    client = make(kind, base_url, max_queue_size=2, before_send=before_send, on_error=errors)
    accepted = [client.queue_event(an_event(n)) for n in range(5)]
    assert accepted == [True, True, False, False, False]
    assert len(masked) == 2  # the three refused were never masked (nor encoded)
    assert client.stats.dropped == 3
    assert [e.metadata["n"] for e in errors.items] == [2, 3, 4]
    collector.release()
    await close(client)
