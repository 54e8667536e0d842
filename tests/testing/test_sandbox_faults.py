"""Injected faults: scripted and random failures, drops, latency, and holding requests.

Faults must look the same through both transports and over a real socket, and a
request that a fault hits must never store anything.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from moesifapi.testing import Collector

if TYPE_CHECKING:
    from conftest import Sender

APP_HEADERS = {"X-Moesif-Application-Id": "sandbox-app-id"}
USER = json.dumps({"user_id": "u1"}).encode()
# Bounds for waits that should end almost at once when the code is right.
WAIT = 10.0

Post = Callable[..., httpx.Response]


@pytest.fixture(params=["sync-transport", "async-transport", "real-socket"])
def post(request: pytest.FixtureRequest, collector: Collector) -> Iterator[Post]:
    """POST /users through an httpx client by the parametrized route; httpx errors
    propagate, which is what these tests look at."""
    mode = request.param

    def over_client(client: httpx.Client, timeout: float) -> httpx.Response:
        return client.post("/users", content=USER, headers=APP_HEADERS, timeout=timeout)

    if mode == "real-socket":
        with collector.serve() as base_url, httpx.Client(base_url=base_url) as client:
            yield lambda timeout=WAIT: over_client(client, timeout)
        return
    if mode == "sync-transport":
        with httpx.Client(transport=collector.transport(), base_url=collector.base_url) as client:
            yield lambda timeout=WAIT: over_client(client, timeout)
        return

    async def over_async(timeout: float) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=collector.async_transport(), base_url=collector.base_url
        ) as client:
            return await client.post("/users", content=USER, headers=APP_HEADERS, timeout=timeout)

    yield lambda timeout=WAIT: asyncio.run(over_async(timeout))


def _handle(collector: Collector) -> int | None:
    return collector.handle("POST", "/v1/users", APP_HEADERS, USER).status


# -- failures ------------------------------------------------------------------------


def test_fail_next_answers_the_status_with_retry_after_then_recovers(
    send: Sender, collector: Collector
) -> None:
    collector.fail_next(2, status=503, retry_after=7)

    replies = [send("POST", "/users", USER) for _ in range(3)]

    assert [r.status for r in replies] == [503, 503, 201]
    assert [r.headers.get("retry-after") for r in replies] == ["7", "7", None]
    assert replies[0].json()["message"] == "sandbox: injected fault 503"
    assert [r.status for r in collector.requests] == [503, 503, 201]


def test_a_failed_request_stores_nothing(send: Sender, collector: Collector) -> None:
    collector.fail_next(1, status=500)

    assert send("POST", "/users", USER).status == 500
    assert collector.users == {}


def test_retry_after_can_be_an_http_date(collector: Collector) -> None:
    collector.fail_next(
        1, status=429, retry_after=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    )

    outcome = collector.handle("POST", "/v1/users", APP_HEADERS, USER)

    assert outcome.status == 429
    assert dict(outcome.headers)["Retry-After"] == "Wed, 02 Jan 2030 03:04:05 GMT"


def test_fail_next_without_retry_after_sends_no_such_header(collector: Collector) -> None:
    collector.fail_next(1, status=502)

    outcome = collector.handle("POST", "/v1/users", APP_HEADERS, USER)

    assert outcome.status == 502
    assert "Retry-After" not in dict(outcome.headers)


def test_scripted_faults_queue_in_the_order_they_were_asked_for(collector: Collector) -> None:
    collector.fail_next(1, status=500)
    collector.drop_next(1)
    collector.fail_next(1, status=429)

    assert [_handle(collector) for _ in range(4)] == [500, None, 429, 201]


def test_faults_hit_before_authentication_like_an_outage_would(collector: Collector) -> None:
    collector.fail_next(1, status=503)

    assert collector.handle("POST", "/v1/users", {}, USER).status == 503


def test_fail_randomly_is_reproducible_for_a_seed_and_near_the_fraction() -> None:
    first, second, other_seed = Collector(), Collector(), Collector()
    first.fail_randomly(0.3, status=500, seed=42)
    second.fail_randomly(0.3, status=500, seed=42)
    other_seed.fail_randomly(0.3, status=500, seed=7)

    pattern = [_handle(first) for _ in range(400)]

    assert pattern == [_handle(second) for _ in range(400)]
    assert pattern != [_handle(other_seed) for _ in range(400)]
    assert set(pattern) == {201, 500}
    assert 0.2 < pattern.count(500) / 400 < 0.4
    assert len(first.users) == 1  # the accepted ones were stored


def test_fail_randomly_with_zero_fraction_turns_it_off(collector: Collector) -> None:
    collector.fail_randomly(1.0)
    assert _handle(collector) == 503

    collector.fail_randomly(0)

    assert _handle(collector) == 201


def test_drop_randomly_is_reproducible_for_a_seed() -> None:
    first, second = Collector(), Collector()
    first.drop_randomly(0.5, seed=3)
    second.drop_randomly(0.5, seed=3)

    pattern = [_handle(first) for _ in range(200)]

    assert pattern == [_handle(second) for _ in range(200)]
    assert 0.35 < pattern.count(None) / 200 < 0.65


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.fail_next(1, status=42),
        lambda c: c.fail_next(-1),
        lambda c: c.fail_randomly(1.5),
        lambda c: c.drop_randomly(-0.1),
        lambda c: c.fail_next(1, retry_after=-3),
        lambda c: setattr(c, "latency", -1),
    ],
)
def test_nonsense_fault_settings_are_refused(collector: Collector, call: Any) -> None:
    with pytest.raises(ValueError, match="must"):
        call(collector)


def test_clear_faults_turns_everything_off(collector: Collector) -> None:
    collector.fail_next(3)
    collector.fail_randomly(1.0)
    collector.drop_randomly(1.0)
    collector.latency = 5

    collector.clear_faults()

    outcome = collector.handle("POST", "/v1/users", APP_HEADERS, USER)
    assert (outcome.status, outcome.delay) == (201, 0.0)


# -- drops --------------------------------------------------------------------------


def test_a_dropped_connection_is_a_broken_connection_to_httpx(
    post: Post, collector: Collector
) -> None:
    collector.drop_next(1)

    with pytest.raises(httpx.RemoteProtocolError):
        post()

    assert collector.users == {}
    assert collector.requests[-1].dropped
    assert post().status_code == 201


def test_a_dropped_connection_is_a_broken_connection_to_urllib(collector: Collector) -> None:
    collector.drop_next(1)
    with collector.serve() as base_url:
        request = urllib.request.Request(
            base_url + "/users", data=USER, headers=APP_HEADERS, method="POST"
        )
        # http.client.RemoteDisconnected, a ConnectionResetError: what a server that
        # hangs up without answering looks like to the standard library.
        with pytest.raises(ConnectionError, match="without response"):
            urllib.request.urlopen(request, timeout=WAIT)

    assert collector.users == {}


# -- latency ------------------------------------------------------------------------


def test_latency_is_part_of_the_outcome(collector: Collector) -> None:
    collector.latency = 0.25

    assert collector.handle("GET", "/v1/config", APP_HEADERS, b"").delay == 0.25


def test_latency_delays_the_answer(post: Post, collector: Collector) -> None:
    collector.latency = 0.05
    started = time.monotonic()

    response = post()

    assert response.status_code == 201
    assert time.monotonic() - started >= 0.05


def test_latency_beyond_the_read_timeout_is_a_read_timeout(
    post: Post, collector: Collector
) -> None:
    collector.latency = 0.5

    with pytest.raises(httpx.ReadTimeout):
        post(timeout=0.05)


# -- hold and release -----------------------------------------------------------------


def _in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except Exception as exc:  # handed to the test thread to assert on
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_held_requests_wait_unprocessed_until_released(post: Post, collector: Collector) -> None:
    collector.hold()
    thread, result = _in_background(post)

    assert collector.wait_until_held(1, timeout=WAIT)
    assert thread.is_alive()
    assert collector.users == {}
    assert collector.requests == []

    collector.release()
    thread.join(WAIT)

    assert not thread.is_alive()
    assert result[0].status_code == 201
    assert collector.held == 0
    assert list(collector.users) == ["u1"]


async def test_a_held_async_request_does_not_block_the_event_loop(collector: Collector) -> None:
    collector.hold()
    async with httpx.AsyncClient(
        transport=collector.async_transport(), base_url=collector.base_url
    ) as client:
        task = asyncio.create_task(client.post("/users", content=USER, headers=APP_HEADERS))
        # Another coroutine gets to run while the request is held: the loop is free.
        assert await asyncio.to_thread(collector.wait_until_held, 1, WAIT)
        loop_ran = asyncio.Event()
        asyncio.get_running_loop().call_soon(loop_ran.set)
        await asyncio.wait_for(loop_ran.wait(), WAIT)
        assert not task.done()

        collector.release()
        response = await asyncio.wait_for(task, WAIT)

    assert response.status_code == 201
    assert list(collector.users) == ["u1"]


def test_a_hold_ends_by_itself_after_its_timeout(collector: Collector) -> None:
    collector.hold(timeout=0.05)

    assert _handle_through_transport(collector).status_code == 201


def test_a_client_timing_out_while_held_sees_a_read_timeout(collector: Collector) -> None:
    collector.hold()
    with (
        httpx.Client(transport=collector.transport(), base_url=collector.base_url) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/users", content=USER, headers=APP_HEADERS, timeout=0.05)

    assert collector.held == 0
    assert collector.users == {}


def _handle_through_transport(collector: Collector) -> httpx.Response:
    with httpx.Client(transport=collector.transport(), base_url=collector.base_url) as client:
        return client.post("/users", content=USER, headers=APP_HEADERS, timeout=WAIT)


def test_stopping_the_server_releases_held_requests_and_returns_promptly(
    collector: Collector,
) -> None:
    collector.hold(timeout=None)
    with collector.serve() as base_url:
        request = urllib.request.Request(
            base_url + "/users", data=USER, headers=APP_HEADERS, method="POST"
        )

        def send() -> int:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return int(response.status)

        thread, result = _in_background(send)
        assert collector.wait_until_held(1, timeout=WAIT)
        stopping_started = time.monotonic()

    # The bound is loose on purpose; without the release, exit would hang forever.
    assert time.monotonic() - stopping_started < WAIT
    thread.join(WAIT)
    assert result == [201]
    assert list(collector.users) == ["u1"]
