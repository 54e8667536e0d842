"""Delivery end to end, over real loopback sockets: ordering, concurrency, deadlines.

This file owns what the delivery engine promises once both clients carry it out:
profile sub-batches land in the caller's order even when the server answers at random
speeds, event sub-batches of the async client go out together and arrive once each, a
close keeps its deadline against a server that asks for long waits or never answers
(also at interpreter exit), dropped connections are retried until everything arrives,
the DEBUG request log, a closed client's refusals, and the queue-full warning's count.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest
from clients import Client, Errors, call, close

import moesifapi
from moesifapi import (
    AsyncMoesifClient,
    CompanyModel,
    EventModel,
    EventRequestModel,
    MoesifClient,
    UserModel,
)
from moesifapi.testing import Collector

APP_ID = "delivery-test-app-id"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
# "dropped 3 item(s)", or the wording's plural forms: "dropped 1 item", "dropped 3 items".
DROPPED_LINE = re.compile(r"dropped (\d+) items?\b")


# --- helpers (as in test_queue.py) ---


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


def an_event(n: int, pad: int = 0) -> EventModel:
    metadata: dict[str, Any] = {"n": n}
    if pad:
        metadata["pad"] = "x" * pad
    return EventModel(
        request=EventRequestModel(
            time=NOW, uri=f"https://api.example.com/items/{n}", verb="GET", headers={}
        ),
        metadata=metadata,
    )


def identity(item: Any) -> str:
    """What names a queued item in on_error: its transaction, user or company id."""
    if isinstance(item, EventModel):
        return f"event:{item.transaction_id}"
    if isinstance(item, UserModel):
        return f"user:{item.user_id}"
    if isinstance(item, CompanyModel):
        return f"company:{item.company_id}"
    raise AssertionError(f"unexpected item {item!r}")


def queue_mix(client: Client, events: int, users: int, companies: int = 0) -> list[str]:
    """Queue a mix of kinds, one call per item; returns the ids of what was queued."""
    queued: list[str] = []
    for n in range(events):
        event = an_event(n)
        assert client.queue_event(event)
        queued.append(identity(event))
    for n in range(users):
        assert client.queue_user(UserModel(user_id=f"user-{n}"))
        queued.append(f"user:user-{n}")
    for n in range(companies):
        assert client.queue_company(CompanyModel(company_id=f"company-{n}"))
        queued.append(f"company:company-{n}")
    return queued


async def timed_close(client: Client, timeout: float | None = None) -> float:
    """Close either client; the seconds it took."""
    started = time.monotonic()
    if isinstance(client, MoesifClient):
        client.close(timeout)
    else:
        await client.aclose(timeout)
    return time.monotonic() - started


# --- a server that answers at random speeds ---


class Arrival(NamedTuple):
    """One request as the shuffling server received it, in arrival order."""

    path: str
    content_encoding: str
    items: list[dict[str, Any]]


class ShufflingServer(ThreadingHTTPServer):
    """Answers every POST 201 after a random 0-50 ms, recording what arrived, in order,
    and how many requests were inside it at once."""

    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up the fixture

    def __init__(self, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), ShufflingHandler)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.arrivals: list[Arrival] = []
        self.in_flight = 0
        self.peak_in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def arrived(self, path: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.path == path]


class ShufflingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect
    disable_nagle_algorithm = True  # headers and body go in two writes: no delayed-ACK stall
    timeout = 10  # a stuck connection ends instead of keeping a thread forever
    server: ShufflingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
            delay = server.rng.uniform(0.0, 0.05)
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            encoding = self.headers.get("Content-Encoding", "")
            raw = gzip.decompress(body) if encoding == "gzip" else body
            with server.lock:
                server.arrivals.append(Arrival(self.path, encoding, json.loads(raw)))
            server.stopping.wait(delay)  # the random answer time; a shutdown cuts it
        finally:
            with server.lock:
                server.in_flight -= 1
        answer = b"{}"
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def shuffling_server() -> Iterator[ShufflingServer]:
    server = ShufflingServer(seed=20240501)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- ordering and concurrency ---


async def test_a_later_profile_update_always_lands_last_whatever_the_server_speed(
    kind: str, shuffling_server: ShufflingServer
) -> None:
    client = make(kind, shuffling_server.base_url, max_batch_bytes=4096)
    # Ten users, each updated six times with rising versions; ~350 bytes an update,
    # so each user's updates are spread over several 4 KiB sub-batches.
    users = [
        UserModel(user_id=f"u{uid}", metadata={"version": version, "pad": "x" * 300})
        for version in range(6)
        for uid in range(10)
    ]

    result = await call(client, "update_users_batch", users)
    await close(client)

    arrivals = shuffling_server.arrived("/v1/users/batch")
    assert result.requests == len(arrivals) >= 5
    assert {a.content_encoding for a in arrivals} == {"gzip"}
    requests_per_user = Counter(uid for a in arrivals for uid in {i["user_id"] for i in a.items})
    assert min(requests_per_user.values()) >= 2  # every user spans sub-batches
    merged: dict[str, int] = {}
    history: dict[str, list[int]] = {}
    for arrival in arrivals:  # the server's merge: last write wins, in arrival order
        for item in arrival.items:
            merged[item["user_id"]] = item["metadata"]["version"]
            history.setdefault(item["user_id"], []).append(item["metadata"]["version"])
    assert merged == {f"u{uid}": 5 for uid in range(10)}
    assert all(versions == list(range(6)) for versions in history.values())
    assert sum(len(a.items) for a in arrivals) == len(users)


async def test_async_event_sub_batches_go_out_together_and_each_event_arrives_once(
    shuffling_server: ShufflingServer,
) -> None:
    client = AsyncMoesifClient(
        application_id=APP_ID, base_url=shuffling_server.base_url, max_batch_bytes=4096
    )
    events = [an_event(n, pad=200) for n in range(80)]

    result = await client.create_events_batch(events)
    await client.aclose()

    arrivals = shuffling_server.arrived("/v1/events/batch")
    assert result.requests == len(arrivals) >= 4
    assert 2 <= shuffling_server.peak_in_flight <= 4  # MAX_CONCURRENT_SUB_BATCHES
    received = Counter(item["transaction_id"] for a in arrivals for item in a.items)
    assert set(received) == {e.transaction_id for e in events}
    assert max(received.values()) == 1


# --- the close deadline ---


async def test_close_against_retry_after_60_reports_all_1000_items_within_the_deadline(
    kind: str, collector: Collector, base_url: str
) -> None:
    collector.fail_randomly(1.0, status=503, retry_after=60)
    errors = Errors()
    client = make(kind, base_url, exit_timeout=1, on_error=errors)
    queued = queue_mix(client, events=500, users=500)

    elapsed = await timed_close(client)

    assert elapsed < 1 + 1
    reported = Counter(identity(item) for item in errors.items)
    assert set(reported) == set(queued)
    assert len(queued) == 1_000
    assert max(reported.values()) == 1
    assert all(isinstance(e, moesifapi.ShutdownTimeoutError) for e, _ in errors.calls)
    stats = client.stats
    assert (stats.failed, stats.pending, stats.sent) == (1_000, 0, 0)


async def test_close_against_a_held_server_reports_all_1000_items_within_the_deadline(
    kind: str, collector: Collector, base_url: str
) -> None:
    collector.hold()
    errors = Errors()
    client = make(kind, base_url, exit_timeout=1, on_error=errors)
    queued = queue_mix(client, events=400, users=300, companies=300)

    elapsed = await timed_close(client)
    collector.release()

    assert elapsed < 1 + 1
    reported = Counter(identity(item) for item in errors.items)
    assert len(queued) == 1_000
    assert set(reported) == set(queued)
    assert max(reported.values()) == 1
    assert all(isinstance(e, moesifapi.ShutdownTimeoutError) for e, _ in errors.calls)
    stats = client.stats
    assert (stats.failed, stats.pending) == (1_000, 0)


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys
    from moesifapi import MoesifClient

    client = MoesifClient(
        application_id=sys.argv[1],
        base_url=sys.argv[2],
        exit_timeout=1,
        on_error=lambda error, items: print("lost", type(error).__name__, len(items)),
    )
    request = {"time": "2024-05-01T12:00:00Z", "uri": "https://a.test/", "verb": "GET",
               "headers": {}}
    for n in range(400):
        client.queue_event({"request": request, "metadata": {"n": n}})
    for n in range(300):
        client.queue_user({"user_id": f"user-{n}"})
    for n in range(300):
        client.queue_company({"company_id": f"company-{n}"})
    print("queued", client.stats.queued, flush=True)
    # no close(): the interpreter's exit must keep the 1 s deadline and report the rest
    """
)


def test_interpreter_exit_against_a_held_server_keeps_the_deadline_and_reports_1000(
    collector: Collector, base_url: str
) -> None:
    collector.hold()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, APP_ID, base_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    elapsed = time.monotonic() - started
    collector.release()

    assert result.returncode == 0, result.stderr
    assert elapsed < 3.0
    lines = result.stdout.splitlines()
    assert lines[0] == "queued 1000"
    lost = [line.split() for line in lines[1:]]
    assert {kind for _, kind, _ in lost} == {"ShutdownTimeoutError"}
    assert sum(int(count) for _, _, count in lost) == 1_000
    assert "not delivered within" in result.stderr  # the summary log line


async def test_close_delivers_everything_through_4_dropped_connections_among_75_batches(
    kind: str, collector: Collector, base_url: str, backoff_sleeps: list[float]
) -> None:
    # Seed 11 drops exactly 4 of the 79 requests (75 batches + 4 retries), none twice
    # in a row; the count is checked below from what the server saw.
    collector.drop_randomly(0.05, seed=11)
    errors = Errors()
    client = make(kind, base_url, max_batch_bytes=4096, on_error=errors)
    events = [an_event(n, pad=760) for n in range(300)]  # ~950 bytes: 4 to a batch
    for event in events:
        assert client.queue_event(event)

    await close(client)

    requests = collector.requests
    assert sum(r.dropped for r in requests) == 4
    assert sum(r.status == 201 for r in requests) == 75
    received = Counter(e["transaction_id"] for e in collector.events)
    assert set(received) == {e.transaction_id for e in events}
    assert max(received.values()) == 1
    assert errors.calls == []
    stats = client.stats
    assert (stats.sent, stats.failed, stats.pending, stats.retried) == (300, 0, 0, 4)
    assert len(backoff_sleeps) == 4  # one backoff per drop, recorded rather than waited


class LineWatcher(logging.Handler):
    """Sets `seen` once a log line containing `text` is emitted."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
def retry_wait_started(caplog: pytest.LogCaptureFixture) -> Iterator[threading.Event]:
    """Set when a client logs that it is about to wait 30 s before retrying."""
    caplog.set_level(logging.DEBUG, logger="moesifapi")
    watcher = LineWatcher("retrying in 30.00 s")
    logger = logging.getLogger("moesifapi")
    logger.addHandler(watcher)
    try:
        yield watcher.seen
    finally:
        logger.removeHandler(watcher)


async def test_a_close_during_a_30_s_backoff_wakes_it_and_reports_the_item_at_once(
    kind: str, collector: Collector, base_url: str, retry_wait_started: threading.Event
) -> None:
    collector.fail_next(1, status=503, retry_after=30)
    errors = Errors()
    client = make(kind, base_url, flush_interval=0.01, on_error=errors)
    assert client.queue_user(UserModel(user_id="waiting"))
    # The worker's wait runs on its own thread (sync) or on this loop (async).
    assert await asyncio.to_thread(retry_wait_started.wait, 5), "no 30 s backoff began"

    elapsed = await timed_close(client, timeout=1)

    assert elapsed < 1  # at once: 30 s cannot fit, so it does not even wait the 1 s out
    ((error, items),) = errors.calls
    assert isinstance(error, moesifapi.ShutdownTimeoutError)
    assert isinstance(error.__cause__, moesifapi.ServiceUnavailableError)
    assert [item.user_id for item in items] == ["waiting"]
    assert (client.stats.failed, client.stats.pending) == (1, 0)
    assert len(collector.requests) == 1  # the retry never went out


# --- the request log ---


async def test_the_debug_log_of_a_retried_call_shows_each_attempt_and_delay_but_no_app_id(
    kind: str,
    collector: Collector,
    base_url: str,
    backoff_sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="moesifapi")
    collector.fail_next(2, status=503)
    client = make(kind, base_url)

    await call(client, "create_event", an_event(1))
    await close(client)

    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "moesifapi" and "attempt" in r.getMessage()
    ]
    assert len(lines) == 3
    assert len(backoff_sleeps) == 2
    expected = [
        ("503", 1, backoff_sleeps[0]),
        ("503", 2, backoff_sleeps[1]),
        ("201", 3, None),
    ]
    for line, (outcome, attempt, delay) in zip(lines, expected, strict=True):
        assert line.startswith(f"POST /events: {outcome} (attempt {attempt} of 4)")
        if delay is None:
            assert "retrying" not in line
        else:
            assert line.endswith(f"retrying in {delay:.2f} s")
    assert caplog.records
    for record in caplog.records:
        text = " ".join((record.getMessage(), repr(record.args), record.exc_text or ""))
        assert APP_ID not in text


# --- a closed client ---


async def test_a_closed_client_refuses_every_call_with_client_closed_error(
    kind: str, collector: Collector, base_url: str
) -> None:
    errors = Errors()
    client = make(kind, base_url, on_error=errors)
    await close(client)

    calls: list[tuple[str, object]] = [
        ("create_event", an_event(1)),
        ("update_users_batch", [UserModel(user_id="u1")]),
    ]
    for method, argument in calls:
        with pytest.raises(moesifapi.ClientClosedError) as caught:
            await call(client, method, argument)
        assert isinstance(caught.value, moesifapi.MoesifError)
    with pytest.raises(moesifapi.ClientClosedError):
        await call(client, "get_app_config")

    assert client.queue_user(UserModel(user_id="late")) is False
    ((error, items),) = errors.calls
    assert isinstance(error, moesifapi.ClientClosedError)
    assert [item.user_id for item in items] == ["late"]
    assert client.stats.dropped == 1
    assert collector.requests == []


# --- the queue-full warning ---


async def test_the_queue_full_warning_counts_every_dropped_item(
    kind: str, collector: Collector, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="moesifapi")
    collector.hold()
    client = make(kind, base_url, max_queue_size=10)

    accepted = sum(client.queue_event(an_event(n)) for n in range(210))
    collector.release()
    await close(client)

    assert accepted == 10
    dropped_lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "moesifapi" and "dropped" in r.getMessage()
    ]
    found = [DROPPED_LINE.search(line) for line in dropped_lines]
    counts = [int(match.group(1)) for match in found if match]
    assert len(counts) == len(dropped_lines), dropped_lines
    assert 1 <= len(dropped_lines) <= 2
    assert sum(counts) == 200
    assert client.stats.dropped == 200
    assert len(collector.events) == 10


# --- the sandbox server itself: what the sequential tests above wait on ---


async def test_the_sandbox_server_answers_requests_in_turn_without_a_delayed_ack_stall(
    kind: str, collector: Collector, base_url: str
) -> None:
    client = make(kind, base_url)
    await call(client, "create_event", an_event(0))  # the keep-alive connection is open
    started = time.monotonic()
    for n in range(1, 11):
        await call(client, "create_event", an_event(n))
    elapsed = time.monotonic() - started
    await close(client)

    assert len(collector.events) == 11
    # A few ms each on loopback. The server writes an answer's headers and its body in
    # two sends with Nagle's algorithm on, so the body waits for the client's delayed
    # ACK (40 ms on Linux) on every request.
    assert elapsed < 0.25, f"{elapsed / 10 * 1000:.0f} ms a request"
