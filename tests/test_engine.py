"""The delivery engine (`moesifapi._engine`) on its own, under a fake driver.

This file owns the engine's policies: the retry policy tables (backoff, jitter,
`Retry-After`, what is retried), one request's retries (`deliver`), the order and
concurrency of sub-batches, partial-batch accounting, close deadlines, the queue drain
over a real `QueueCore`, a closed engine's refusals, and the request log. There are no
sockets, threads or sleeps: a fake monotonic clock, scripted answers, and a driver that
interleaves concurrent lanes one effect at a time.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, TypeAlias, TypeVar, cast

import attrs
import httpx
import pytest

import moesifapi
from moesifapi import _constants as c
from moesifapi import _gzip
from moesifapi._engine import (
    Answer,
    Concurrently,
    Effect,
    Engine,
    Plan,
    Send,
    Wait,
    parse_retry_after,
    retry_delay,
)
from moesifapi._protocol import (
    EVENTS,
    EVENTS_BATCH,
    USERS_BATCH,
    Core,
    Endpoint,
    PlannedRequest,
    Settings,
)
from moesifapi._queue import QueueCore, QueueItem, QueueSettings
from moesifapi.models import UserModel

APP_ID = "test-app-id-0123456789"
BASE = "https://collector.test/v1"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)  # whole seconds, as HTTP dates
START = 100.0  # the fake monotonic clock's first reading
MARKER = "payload-marker-7f3a"  # text only the payloads carry
PAD = 1500  # two padded items fit in one 4096-byte request, three do not

T = TypeVar("T")

Reply: TypeAlias = "int | tuple[int, Mapping[str, str]] | httpx.Response | Exception"
Script: TypeAlias = Callable[[Send], Reply]


# --- items and what a request carries ---


def an_event(n: int, *, pad: int = PAD) -> dict[str, object]:
    return {
        "request": {
            "time": "2024-05-01T12:00:00Z",
            "uri": "https://api.test/widgets",
            "verb": "GET",
            "headers": {},
        },
        "transaction_id": f"txn-{n}",
        "metadata": {"note": MARKER, "pad": "e" * pad},
    }


def a_user(n: int, *, pad: int = PAD) -> dict[str, object]:
    return {"user_id": f"user-{n}", "metadata": {"note": MARKER, "pad": "u" * pad}}


def item_id(item: Mapping[str, Any]) -> str:
    return str(item.get("user_id") or item["transaction_id"])


def carried(send: Send) -> list[str]:
    """The ids of the items a request carries, in its order."""
    assert send.request.content is not None
    data = json.loads(send.request.content)
    return [item_id(item) for item in (data if isinstance(data, list) else [data])]


def ids(items: Sequence[object]) -> list[str]:
    return [item_id(cast(Mapping[str, Any], item)) for item in items]


# --- scripts: how the fake server answers ---


def script(*replies: Reply) -> Script:
    """Answer each Send with the next reply; a Send past the end fails the test."""
    left = deque(replies)

    def answer(send: Send) -> Reply:
        assert left, f"unexpected request: {send.request.method} {send.request.path}"
        return left.popleft()

    return answer


def by_items(decide: Callable[[list[str]], Reply]) -> Script:
    """Answer each Send by the ids of the items it carries."""
    return lambda send: decide(carried(send))


def ok(send: Send) -> Reply:
    return 200


def retry_after(status: int, value: str) -> tuple[int, Mapping[str, str]]:
    return status, {"Retry-After": value}


# --- the fake driver ---


def make_core(*, max_retries: int = 3) -> Core:
    return Core(
        Settings.resolve(
            application_id=APP_ID,
            base_url=BASE,
            timeout=5,
            max_retries=max_retries,
            gzip=False,
            max_batch_bytes=4096,
        )
    )


@attrs.define
class _Lane:
    plan: Plan[None]
    pending: Effect


class Driver:
    """Carries out an engine's effects on a fake clock, against a script, and records them.

    A Send takes `latency` seconds of the clock; past its read timeout it takes the
    timeout and is answered `httpx.ReadTimeout`. A Wait takes its seconds, unless a
    close was arranged for it (`close_during_next_wait`). `Concurrently` starts up to
    `limit` lanes, then steps them round-robin, one effect each, starting the next lane
    when one ends: so several Sends are in flight at once, as on the async client.
    """

    def __init__(self, answer: Script = ok, *, rand: float = 0.0, max_retries: int = 3) -> None:
        self.now = START
        self.answer = answer
        self.latency = 0.0
        self.core = make_core(max_retries=max_retries)
        self.engine = Engine(self.core, clock=self.clock, rand=lambda: rand, now=lambda: NOW)
        self.effects: list[Effect] = []
        self.sends: list[Send] = []
        self.sent_at: list[float] = []  # the clock at each Send
        self.waits: list[float] = []
        self.in_flight: list[Send] = []
        self.in_flight_at_send: list[tuple[Send, ...]] = []  # in flight as each was sent
        self._wait_hook: Callable[[Wait], bool] | None = None

    def clock(self) -> float:
        return self.now

    def close_during_next_wait(self, *, after: float, timeout: float) -> None:
        """The next Wait is cut short `after` seconds in by `begin_close(timeout)`."""

        def hook(wait: Wait) -> bool:
            assert after < wait.seconds
            self.now += after
            self.engine.begin_close(timeout)
            return True

        self._wait_hook = hook

    @property
    def max_in_flight(self) -> int:
        return max((len(sends) for sends in self.in_flight_at_send), default=0)

    def run(self, plan: Plan[T]) -> T:
        answer: Answer = None
        while True:
            try:
                effect = plan.send(answer)
            except StopIteration as done:
                return cast(T, done.value)
            self._issued(effect)
            answer = self._carry_out(effect)

    def _step(self, plan: Plan[None], answer: Answer) -> Effect | None:
        try:
            effect = plan.send(answer)
        except StopIteration:
            return None
        self._issued(effect)
        return effect

    def _issued(self, effect: Effect) -> None:
        self.effects.append(effect)
        if isinstance(effect, Send):
            self.sends.append(effect)
            self.sent_at.append(self.now)
            self.in_flight.append(effect)
            self.in_flight_at_send.append(tuple(self.in_flight))

    def _carry_out(self, effect: Effect) -> Answer:
        if isinstance(effect, Send):
            self.in_flight = [send for send in self.in_flight if send is not effect]
            return self._answer(effect)
        if isinstance(effect, Wait):
            self.waits.append(effect.seconds)
            hook, self._wait_hook = self._wait_hook, None
            if hook is not None:
                return hook(effect)
            self.now += effect.seconds
            return False
        self._run_lanes(effect)
        return None

    def _answer(self, send: Send) -> httpx.Response | Exception:
        limit = send.timeout.read
        if limit is not None and self.latency > limit:
            self.now += limit
            return httpx.ReadTimeout("the server is slow")
        self.now += self.latency
        reply = self.answer(send)
        if isinstance(reply, (httpx.Response, Exception)):
            return reply
        status, headers = (reply, {}) if isinstance(reply, int) else reply
        request = httpx.Request(send.request.method, send.request.url)
        return httpx.Response(status, headers=headers, request=request)

    def _run_lanes(self, effect: Concurrently) -> None:
        waiting = deque(effect.lanes)
        running: list[_Lane] = []

        def fill() -> None:
            while waiting and len(running) < effect.limit:
                plan = waiting.popleft()
                first = self._step(plan, None)
                if first is not None:
                    running.append(_Lane(plan, first))

        fill()
        while running:
            for lane in list(running):
                after = self._step(lane.plan, self._carry_out(lane.pending))
                if after is None:
                    running.remove(lane)
                    fill()
                else:
                    lane.pending = after


def a_request(core: Core) -> PlannedRequest:
    return core.plan_write(EVENTS, an_event(0, pad=0))


def status_error(status: int, headers: Mapping[str, str] | None = None) -> moesifapi.APIError:
    response = httpx.Response(
        status, headers=headers or {}, request=httpx.Request("POST", BASE + "/events")
    )
    error = make_core().error_for_response(response)
    assert error is not None
    return error


def delay(
    attempt: int, error: moesifapi.APIError, *, rand: float = 0.0, max_retries: int = 10
) -> float | None:
    return retry_delay(attempt, error, max_retries=max_retries, rand=lambda: rand, now=lambda: NOW)


def http_date(offset: float) -> str:
    return format_datetime(NOW + timedelta(seconds=offset), usegmt=True)


# --- the retry policy ---


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)],
)
def test_backoff_doubles_per_attempt_up_to_the_cap(attempt: int, expected: float) -> None:
    assert delay(attempt, status_error(503)) == expected


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [(0, 1.0, 0.375), (2, 1.0, 1.5), (0, 0.5, 0.4375), (1, 0.0, 1.0), (6, 1.0, 6.0)],
)
def test_jitter_shortens_the_backoff_by_at_most_a_quarter(
    attempt: int, rand: float, expected: float
) -> None:
    assert delay(attempt, status_error(503), rand=rand) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2.5", 2.5),
        (" 7 ", 7.0),
        (http_date(30), 30.0),
        ("3600", c.MAX_RETRY_AFTER),
        (http_date(3600), c.MAX_RETRY_AFTER),
        ("soon", 0.5),  # unparseable: the ordinary backoff
        ("nan", 0.5),
    ],
)
def test_retry_after_table(header: str, expected: float) -> None:
    assert delay(0, status_error(429, {"Retry-After": header})) == expected


@pytest.mark.parametrize("header", ["0", "-5", http_date(-30)])
def test_a_retry_after_of_zero_or_less_gets_the_jittered_backoff(header: str) -> None:
    # Not 0: retrying at once would hammer a server that asked for a pause.
    asked = delay(1, status_error(503, {"Retry-After": header}), rand=1.0)
    assert asked == delay(1, status_error(503), rand=1.0) == 0.75


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("2.5", 2.5),
        ("-5", 0.0),
        (http_date(30), 30.0),
        (http_date(-30), 0.0),
    ],
)
def test_parse_retry_after_table(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize("max_retries", [0, 1, 3])
@pytest.mark.parametrize("error", [status_error(503), status_error(429, {"Retry-After": "2"})])
def test_the_policy_gives_up_after_max_retries(max_retries: int, error: moesifapi.APIError) -> None:
    delays = [delay(a, error, max_retries=max_retries) for a in range(max_retries + 1)]
    assert None not in delays[:-1]
    assert delays[-1] is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_client_errors_are_never_retried(status: int) -> None:
    assert delay(0, status_error(status)) is None
    assert delay(0, status_error(status, {"Retry-After": "1"})) is None


@pytest.mark.parametrize(
    "error",
    [
        *(status_error(status) for status in (408, 429, 500, 502, 503, 504)),
        make_core().error_for_exception(httpx.ConnectError("refused")),
        make_core().error_for_exception(httpx.ReadTimeout("slow")),
    ],
    ids=["408", "429", "500", "502", "503", "504", "connect", "timeout"],
)
def test_retryable_failures_are_retried(error: moesifapi.APIError) -> None:
    assert delay(0, error) == 0.5


# --- deliver: one request and its retries ---


def test_deliver_retries_then_succeeds_after_the_waits_asked() -> None:
    driver = Driver(script(503, httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 200))
    request = a_request(driver.core)

    response = driver.run(driver.engine.deliver(request))

    assert response.status_code == 200
    assert driver.waits == [0.5, 1.0, 2.0]
    assert [send.request for send in driver.sends] == [request] * 4
    assert driver.now == START + 3.5


@pytest.mark.parametrize(
    ("replies", "raised"),
    [
        ((500, 500, 500, 503), moesifapi.ServiceUnavailableError),
        ((503,) * 4, moesifapi.ServiceUnavailableError),
        ((408,) * 4, moesifapi.RequestTimeoutError),
        ((429, 503, 502, 504), moesifapi.GatewayTimeoutError),
        ((503, 503, 503, httpx.ConnectError("refused")), moesifapi.APIConnectionError),
        ((503, 503, 503, httpx.ReadTimeout("slow")), moesifapi.APITimeoutError),
    ],
    ids=["503-last", "503", "408", "504-last", "connect-last", "timeout-last"],
)
def test_deliver_gives_up_with_the_typed_error_of_the_last_attempt(
    replies: tuple[Reply, ...], raised: type[Exception]
) -> None:
    driver = Driver(script(*replies))

    with pytest.raises(raised) as caught:
        driver.run(driver.engine.deliver(a_request(driver.core)))

    assert type(caught.value) is raised
    assert len(driver.sends) == 4  # max_retries=3
    assert driver.waits == [0.5, 1.0, 2.0]
    last = replies[-1]
    if isinstance(last, Exception):
        assert caught.value.__cause__ is last


@pytest.mark.parametrize(
    ("replies", "retries"),
    [((200,), 0), ((503, 200), 1), ((503, 429, 200), 2), ((503,) * 4, 3)],
)
def test_deliver_calls_on_retry_once_per_retry(replies: tuple[Reply, ...], retries: int) -> None:
    driver = Driver(script(*replies))
    calls: list[None] = []

    plan = driver.engine.deliver(a_request(driver.core), on_retry=lambda: calls.append(None))
    with contextlib.suppress(moesifapi.APIError):
        driver.run(plan)

    assert len(calls) == retries == len(driver.waits) == len(driver.sends) - 1


@pytest.mark.parametrize(
    ("status", "raised"),
    [
        (400, moesifapi.BadRequestError),
        (401, moesifapi.UnauthorizedError),
        (403, moesifapi.ForbiddenError),
        (404, moesifapi.NotFoundError),
        (413, moesifapi.PayloadTooLargeError),
    ],
)
def test_a_client_error_is_raised_after_one_attempt(status: int, raised: type[Exception]) -> None:
    driver = Driver(script(status))
    calls: list[None] = []

    with pytest.raises(raised):
        driver.run(
            driver.engine.deliver(a_request(driver.core), on_retry=lambda: calls.append(None))
        )

    assert len(driver.sends) == 1
    assert driver.waits == []
    assert calls == []


def test_read_parses_the_answer_of_the_attempt_that_succeeded() -> None:
    answer = httpx.Response(200, json={"n": 1}, request=httpx.Request("GET", BASE + "/config"))
    driver = Driver(script(502, answer))

    parsed = driver.run(driver.engine.read("/config", lambda response: response.json()))

    assert parsed == {"n": 1}
    assert [(s.request.method, s.request.path) for s in driver.sends] == [("GET", "/config")] * 2


# --- ordering and concurrency of sub-batches ---


def test_user_sub_batches_go_one_at_a_time_in_the_callers_order() -> None:
    users = [a_user(n) for n in range(10)]
    driver = Driver()

    result = driver.run(driver.engine.batch(USERS_BATCH, users))

    assert len(driver.sends) == 5  # the 4096-byte limit cuts them in five
    assert not any(isinstance(effect, Concurrently) for effect in driver.effects)
    assert driver.max_in_flight == 1
    assert [carried(send) for send in driver.sends] == [
        ids(users[i : i + 2]) for i in (0, 2, 4, 6, 8)
    ]
    assert result == moesifapi.BatchResult(items=10, requests=5, status_code=200)


def test_event_sub_batches_go_several_at_once() -> None:
    events = [an_event(n) for n in range(10)]
    driver = Driver()

    result = driver.run(driver.engine.batch(EVENTS_BATCH, events))

    (together,) = [effect for effect in driver.effects if isinstance(effect, Concurrently)]
    assert together.limit == c.MAX_CONCURRENT_SUB_BATCHES
    assert len(together.lanes) == 5
    assert driver.max_in_flight == c.MAX_CONCURRENT_SUB_BATCHES
    assert result == moesifapi.BatchResult(items=10, requests=5, status_code=200)


@pytest.mark.parametrize(
    ("endpoint", "make"), [(USERS_BATCH, a_user), (EVENTS_BATCH, an_event)], ids=["users", "events"]
)
def test_every_item_goes_in_exactly_one_request_in_the_callers_order(
    endpoint: Endpoint[Any], make: Callable[[int], dict[str, object]]
) -> None:
    items = [make(n) for n in range(11)]
    driver = Driver()

    driver.run(driver.engine.batch(endpoint, items))

    position = {name: index for index, name in enumerate(ids(items))}
    requests = [carried(send) for send in driver.sends]
    assert len(requests) > 1
    for carries in requests:  # a contiguous run of the caller's list, in its order
        first = position[carries[0]]
        assert [position[name] for name in carries] == list(range(first, first + len(carries)))
    assert sorted(name for carries in requests for name in carries) == sorted(ids(items))


# --- partial batches ---


@pytest.mark.parametrize("failing", [1, 2, 4])
def test_a_failed_user_sub_batch_stops_the_rest_and_says_what_was_delivered(failing: int) -> None:
    users = [a_user(n) for n in range(10)]
    bad = f"user-{2 * failing}"
    driver = Driver(by_items(lambda carries: 400 if bad in carries else 200))

    with pytest.raises(moesifapi.PartialBatchError) as caught:
        driver.run(driver.engine.batch(USERS_BATCH, users))

    assert len(driver.sends) == failing + 1  # none after the failure
    assert list(caught.value.delivered) == users[: 2 * failing]
    assert list(caught.value.undelivered) == users[2 * failing :]
    assert type(caught.value.__cause__) is moesifapi.BadRequestError


@pytest.mark.parametrize(
    ("endpoint", "make"), [(USERS_BATCH, a_user), (EVENTS_BATCH, an_event)], ids=["users", "events"]
)
def test_when_the_first_sub_batch_fails_the_failure_itself_is_raised(
    endpoint: Endpoint[Any], make: Callable[[int], dict[str, object]]
) -> None:
    items = [make(n) for n in range(10)]
    driver = Driver(lambda send: 400)

    with pytest.raises(moesifapi.APIError) as caught:
        driver.run(driver.engine.batch(endpoint, items))

    assert type(caught.value) is moesifapi.BadRequestError
    if endpoint.ordered:
        assert len(driver.sends) == 1


def test_a_failed_event_sub_batch_starts_no_new_one_and_those_in_flight_count() -> None:
    events = [an_event(n) for n in range(10)]
    driver = Driver(by_items(lambda carries: 400 if "txn-0" in carries else 200))

    with pytest.raises(moesifapi.PartialBatchError) as caught:
        driver.run(driver.engine.batch(EVENTS_BATCH, events))

    # Four went out together; the first failed, so the fifth never started.
    assert len(driver.sends) == c.MAX_CONCURRENT_SUB_BATCHES
    assert list(caught.value.delivered) == events[2:8]
    assert list(caught.value.undelivered) == events[:2] + events[8:]
    assert type(caught.value.__cause__) is moesifapi.BadRequestError


def test_when_several_sub_batches_fail_the_first_failure_is_the_cause() -> None:
    events = [an_event(n) for n in range(10)]

    def answer(carries: list[str]) -> Reply:
        return 400 if "txn-0" in carries else 413 if "txn-2" in carries else 200

    driver = Driver(by_items(answer))

    with pytest.raises(moesifapi.PartialBatchError) as caught:
        driver.run(driver.engine.batch(EVENTS_BATCH, events))

    assert list(caught.value.delivered) == events[4:8]
    assert list(caught.value.undelivered) == events[:4] + events[8:]
    assert type(caught.value.__cause__) is moesifapi.BadRequestError
    assert "4 of 10 items were delivered" in str(caught.value)


# --- deadlines ---


def test_a_retry_after_past_the_close_deadline_gives_up_at_once() -> None:
    driver = Driver(script(retry_after(503, "60")))
    driver.engine.begin_close(2.0)

    with pytest.raises(moesifapi.ShutdownTimeoutError) as caught:
        driver.run(driver.engine.deliver(a_request(driver.core)))

    assert type(caught.value.__cause__) is moesifapi.ServiceUnavailableError
    assert len(driver.sends) == 1
    assert not any(isinstance(effect, Wait) for effect in driver.effects)
    assert driver.now == START


def test_a_retry_the_close_deadline_cuts_off_is_not_counted_as_a_retry() -> None:
    driver = Driver(script(retry_after(503, "60")))
    driver.engine.begin_close(2.0)
    calls: list[None] = []

    with pytest.raises(moesifapi.ShutdownTimeoutError):
        driver.run(
            driver.engine.deliver(a_request(driver.core), on_retry=lambda: calls.append(None))
        )

    assert len(driver.sends) == 1
    assert calls == []  # no request was retried: QueueStats.retried must not count one


def test_send_timeouts_are_capped_to_the_time_left() -> None:
    driver = Driver(lambda send: 503)
    driver.latency = 0.5  # a slow server
    deadline = driver.engine.begin_close(2.0)

    with pytest.raises(moesifapi.ShutdownTimeoutError):
        driver.run(driver.engine.deliver(a_request(driver.core)))

    assert len(driver.sends) == 2  # at 100.0 and, after 0.5 s + a 0.5 s wait, at 101.0
    for send, at in zip(driver.sends, driver.sent_at, strict=True):
        left = deadline - at
        timeout = send.timeout
        assert timeout.read is not None
        assert timeout.read <= left
        assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (left,) * 4


def test_without_a_deadline_the_settings_timeout_is_used() -> None:
    driver = Driver()

    driver.run(driver.engine.deliver(a_request(driver.core)))

    assert driver.sends[0].timeout == httpx.Timeout(5.0)


@pytest.mark.parametrize("how", ["close", "deadline"])
def test_past_the_deadline_nothing_is_sent(how: str) -> None:
    driver = Driver()
    deadline = None
    if how == "close":
        driver.engine.begin_close(2.0)
    else:
        deadline = START + 2.0
    driver.now += 3.0

    plan = driver.engine.deliver(a_request(driver.core), deadline=deadline)
    with pytest.raises(moesifapi.ShutdownTimeoutError) as caught:
        driver.run(plan)

    assert driver.effects == []
    assert caught.value.__cause__ is None


def test_a_close_during_a_backoff_wait_gives_up_when_the_rest_does_not_fit() -> None:
    driver = Driver(script(retry_after(503, "10")))
    driver.close_during_next_wait(after=3.0, timeout=2.0)  # 7 s left to wait, 2 s to close

    with pytest.raises(moesifapi.ShutdownTimeoutError) as caught:
        driver.run(driver.engine.deliver(a_request(driver.core)))

    assert type(caught.value.__cause__) is moesifapi.ServiceUnavailableError
    assert driver.waits == [10.0]
    assert len(driver.sends) == 1
    assert driver.now == START + 3.0


def test_a_close_during_a_backoff_wait_waits_only_the_rest_when_it_fits() -> None:
    driver = Driver(script(retry_after(503, "10"), 200))
    driver.close_during_next_wait(after=3.0, timeout=8.0)  # 7 s left to wait, 8 s to close

    response = driver.run(driver.engine.deliver(a_request(driver.core)))

    assert response.status_code == 200
    assert driver.waits == [10.0, 7.0]
    assert driver.sent_at == [START, START + 10.0]
    assert driver.sends[1].timeout.read == 1.0  # what the close left


def test_a_wait_that_would_use_up_the_deadline_gives_up_at_once() -> None:
    driver = Driver(script(retry_after(503, "10")))
    driver.close_during_next_wait(after=3.0, timeout=7.0)  # 7 s left to wait, 7 s to close

    with pytest.raises(moesifapi.ShutdownTimeoutError):
        driver.run(driver.engine.deliver(a_request(driver.core)))

    # No time would be left for the attempt after the wait: give up now, not in 7 s.
    assert driver.waits == [10.0]
    assert driver.now == START + 3.0


def test_a_second_close_never_moves_the_deadline_later() -> None:
    engine = Driver().engine
    assert not engine.closed

    assert engine.begin_close(2.0) == START + 2.0
    assert engine.begin_close(60.0) == START + 2.0
    assert engine.begin_close(0.5) == START + 0.5
    assert engine.closed
    assert engine.remaining() == 0.5
    assert engine.remaining(START + 0.25) == 0.25


# --- the queue's drain ---


class Reports:
    """An `on_error` that records each call: the error and the ids of its items."""

    def __init__(self) -> None:
        self.calls: list[tuple[Exception, list[str]]] = []

    def __call__(self, error: Exception, items: Sequence[QueueItem]) -> None:
        names = [
            item.user_id if isinstance(item, UserModel) else getattr(item, "transaction_id", "")
            for item in items
        ]
        self.calls.append((error, names))

    @property
    def items(self) -> list[str]:
        return [name for _, names in self.calls for name in names]


def a_queue(reports: Reports) -> QueueCore:
    settings = QueueSettings.resolve(
        flush_interval=1, max_queue_size=10000, on_error=reports, before_send=None, exit_timeout=5
    )
    return QueueCore(settings, 4096)


def enqueue(queue: QueueCore, endpoint: Endpoint[Any], items: Sequence[object]) -> None:
    accepted, _ = queue.put(endpoint, queue.prepare_all(endpoint, items))
    assert accepted == len(items)


@pytest.mark.parametrize(
    ("endpoint", "make"), [(USERS_BATCH, a_user), (EVENTS_BATCH, an_event)], ids=["users", "events"]
)
def test_a_failed_batch_is_reported_and_the_drain_goes_on(
    endpoint: Endpoint[Any], make: Callable[[int], dict[str, object]]
) -> None:
    reports = Reports()
    queue = a_queue(reports)
    items = [make(n) for n in range(10)]
    enqueue(queue, endpoint, items)
    bad = item_id(items[2])
    driver = Driver(by_items(lambda carries: 400 if bad in carries else 200))

    driver.run(driver.engine.drain(queue, closing=False))

    assert len(driver.sends) == 5  # every batch went out once
    ((error, names),) = reports.calls
    assert type(error) is moesifapi.BadRequestError
    assert names == ids(items[2:4])
    assert queue.stats == moesifapi.QueueStats(queued=10, sent=8, failed=2, pending=0)


@pytest.mark.parametrize(
    ("endpoint", "make"), [(USERS_BATCH, a_user), (EVENTS_BATCH, an_event)], ids=["users", "events"]
)
def test_connection_errors_while_closing_do_not_stop_the_drain(
    endpoint: Endpoint[Any], make: Callable[[int], dict[str, object]]
) -> None:
    reports = Reports()
    queue = a_queue(reports)
    items = [make(n) for n in range(10)]
    enqueue(queue, endpoint, items)
    unreachable = {item_id(items[0]), item_id(items[6])}
    driver = Driver(
        by_items(
            lambda carries: httpx.ConnectError("refused") if unreachable & set(carries) else 200
        )
    )
    driver.engine.begin_close(30.0)

    driver.run(driver.engine.drain(queue, closing=True))

    assert len(driver.sends) == 2 * 4 + 3  # two batches tried four times, three once
    assert [type(error) for error, _ in reports.calls] == [moesifapi.APIConnectionError] * 2
    assert sorted(reports.items) == sorted(ids(items[0:2] + items[6:8]))
    assert queue.stats == moesifapi.QueueStats(queued=10, sent=6, failed=4, retried=6, pending=0)


@pytest.mark.parametrize("how", ["close", "deadline"])
def test_past_the_deadline_every_batch_left_is_reported_unsent(how: str) -> None:
    reports = Reports()
    queue = a_queue(reports)
    users = [a_user(n) for n in range(10)]
    enqueue(queue, USERS_BATCH, users)
    driver = Driver()
    driver.latency = 1.0  # three answers fit in 3 s, then the deadline has passed
    deadline = None
    if how == "close":
        driver.engine.begin_close(3.0)
    else:
        deadline = START + 3.0

    driver.run(driver.engine.drain(queue, closing=True, deadline=deadline))

    assert [carried(send) for send in driver.sends] == [ids(users[i : i + 2]) for i in (0, 2, 4)]
    assert [type(error) for error, _ in reports.calls] == [moesifapi.ShutdownTimeoutError] * 2
    assert reports.items == ids(users[6:])
    stats = queue.stats
    assert (stats.pending, stats.sent, stats.failed) == (0, 6, 4)
    assert stats.sent + stats.failed == stats.queued == 10


def test_a_deadline_mid_drain_leaves_nothing_pending_and_nothing_counted_twice() -> None:
    reports = Reports()
    queue = a_queue(reports)
    events = [an_event(n) for n in range(10)]
    users = [a_user(n) for n in range(10)]
    enqueue(queue, EVENTS_BATCH, events)
    enqueue(queue, USERS_BATCH, users)
    driver = Driver()
    driver.latency = 1.0

    driver.run(driver.engine.drain(queue, closing=True, deadline=START + 2.5))

    stats = queue.stats
    assert stats.pending == 0
    assert stats.sent + stats.failed == stats.queued == 20
    assert 0 < stats.failed < 20
    assert {type(error) for error, _ in reports.calls} == {moesifapi.ShutdownTimeoutError}
    reported = reports.items
    assert len(reported) == len(set(reported)) == stats.failed
    # Nothing sent after the deadline; no request of those reported was answered in time.
    assert all(at < START + 2.5 for at in driver.sent_at)
    answered = {
        name
        for send, at in zip(driver.sends, driver.sent_at, strict=True)
        if at + 1.0 <= START + 2.5
        for name in carried(send)
    }
    assert answered.isdisjoint(reported)
    assert len(answered) == stats.sent


def test_user_batches_drain_one_at_a_time_in_order_while_events_go_together() -> None:
    reports = Reports()
    queue = a_queue(reports)
    events = [an_event(n) for n in range(10)]
    users = [a_user(n) for n in range(10)]
    enqueue(queue, USERS_BATCH, users)
    enqueue(queue, EVENTS_BATCH, events)
    driver = Driver()

    driver.run(driver.engine.drain(queue, closing=False))

    (together,) = [effect for effect in driver.effects if isinstance(effect, Concurrently)]
    assert together.limit == c.MAX_CONCURRENT_SUB_BATCHES
    assert len(together.lanes) == 5 + 1  # each event batch, and one run of user batches

    def is_users(send: Send) -> bool:
        return send.request.path == USERS_BATCH.path

    user_sends = [send for send in driver.sends if is_users(send)]
    assert [name for send in user_sends for name in carried(send)] == ids(users)
    for in_flight in driver.in_flight_at_send:
        assert sum(map(is_users, in_flight)) <= 1
    assert (
        max(sum(not is_users(s) for s in in_flight) for in_flight in driver.in_flight_at_send) > 1
    )
    assert reports.calls == []
    assert queue.stats == moesifapi.QueueStats(queued=20, sent=20, pending=0)


@pytest.mark.parametrize("closing", [True, False], ids=["closing", "not-closing"])
def test_only_a_closing_drain_goes_on_until_the_buffers_stay_empty(closing: bool) -> None:
    reports = Reports()
    queue = a_queue(reports)
    users = [a_user(n) for n in range(4)]
    late = [a_user(n) for n in range(10, 12)]
    enqueue(queue, USERS_BATCH, users)

    def answer(send: Send) -> Reply:
        if len(driver.sends) == 1:  # queued while the first batch is on its way
            enqueue(queue, USERS_BATCH, late)
        return 200

    driver = Driver(answer)

    driver.run(driver.engine.drain(queue, closing=closing))

    sent = [name for send in driver.sends for name in carried(send)]
    if closing:
        assert sent == ids(users + late)
        assert queue.stats == moesifapi.QueueStats(queued=6, sent=6, pending=0)
    else:  # one pass: what came later waits for the next one
        assert sent == ids(users)
        assert queue.stats == moesifapi.QueueStats(queued=6, sent=4, pending=2)


# --- a closed engine ---


PLANS: dict[str, Callable[[Engine], Plan[Any]]] = {
    "write": lambda engine: engine.write(EVENTS, an_event(0)),
    "events batch": lambda engine: engine.batch(EVENTS_BATCH, [an_event(n) for n in range(4)]),
    "users batch": lambda engine: engine.batch(USERS_BATCH, [a_user(n) for n in range(4)]),
    "read": lambda engine: engine.read("/config", lambda response: response.json()),
}


@pytest.mark.parametrize("make", PLANS.values(), ids=list(PLANS))
def test_a_closed_engine_refuses_new_calls_before_sending(
    make: Callable[[Engine], Plan[Any]],
) -> None:
    driver = Driver()
    driver.engine.begin_close(5.0)
    plan = make(driver.engine)

    with pytest.raises(moesifapi.ClientClosedError) as caught:
        plan.send(None)  # its very first step

    assert isinstance(caught.value, moesifapi.MoesifError)
    assert driver.effects == []


# --- the request log ---


def engine_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "moesifapi"]


def test_each_attempt_is_logged_with_its_outcome_and_the_retry_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="moesifapi")
    driver = Driver(script(503, httpx.ConnectError("refused"), 200))

    driver.run(driver.engine.write(EVENTS, an_event(0)))

    lines = engine_lines(caplog)
    assert len(lines) == 3
    expected = [("503", 1, "0.50"), ("APIConnectionError", 2, "1.00"), ("200", 3, None)]
    for line, (outcome, attempt, retry_in) in zip(lines, expected, strict=True):
        assert line.startswith("POST /events: ")
        assert outcome in line
        assert f"attempt {attempt} of 4" in line
        if retry_in is None:
            assert "retrying" not in line
        else:
            assert f"retrying in {retry_in} s" in line


@pytest.mark.parametrize(
    ("replies", "close", "outcome"),
    [((503,) * 4, None, "503"), ((400,), None, "400"), ((retry_after(503, "60"),), 2.0, "wait")],
    ids=["after-retries", "not-retryable", "out-of-time"],
)
def test_giving_up_is_logged(
    caplog: pytest.LogCaptureFixture,
    replies: tuple[Reply, ...],
    close: float | None,
    outcome: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="moesifapi")
    driver = Driver(script(*replies))
    if close is not None:
        driver.engine.begin_close(close)

    with pytest.raises(moesifapi.MoesifError):
        driver.run(driver.engine.deliver(a_request(driver.core)))

    last = engine_lines(caplog)[-1]
    assert last.startswith("POST /events: ")
    assert "giving up" in last
    assert outcome in last


def test_the_log_never_holds_the_application_id_or_the_payload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="moesifapi")
    driver = Driver(
        script(
            503,
            httpx.ConnectError("refused"),
            200,  # the write
            retry_after(429, "1"),
            200,
            200,
            200,  # the users batch: three requests, one retried
            *(503,) * 4,  # a delivery given up on
        )
    )
    driver.run(driver.engine.write(EVENTS, an_event(0)))
    driver.run(driver.engine.batch(USERS_BATCH, [a_user(n) for n in range(5)]))
    with pytest.raises(moesifapi.ServiceUnavailableError):
        driver.run(driver.engine.deliver(a_request(driver.core)))

    records = [record for record in caplog.records if record.name == "moesifapi"]
    assert len(records) >= 10
    for record in records:
        text = " ".join((record.getMessage(), repr(record.args), record.exc_text or ""))
        assert APP_ID not in text
        assert MARKER not in text
        assert "user-" not in text
        assert "txn-" not in text


@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("count", [1, 255, 256, 257, 1000])
def test_a_queued_batch_is_compressed_in_groups_to_the_bytes_of_the_whole(
    level: int, count: int
) -> None:
    # The queue's batches are compressed a group of items at a time, so that joining a
    # 12 MiB body never holds the GIL for long. With zlib the bytes must be the one-shot
    # ones; ISA-L's (level 1, with `isal` installed) split where the groups end, and
    # must inflate to the same array, and be the same bytes every time.
    settings = Settings.resolve(
        application_id="app",
        base_url="https://api.moesif.net/v1",
        timeout=1,
        max_retries=0,
        gzip=True,
        max_batch_bytes=1024,
        gzip_level=level,
    )
    encoded = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * (n % 37)) for n in range(count)]
    request = Core(settings).plan_encoded_batch(EVENTS_BATCH, encoded)
    whole = b"[" + b",".join(encoded) + b"]"
    assert gzip.decompress(request.content) == whole
    assert request.content[:10] == _gzip.compress(b"", level)[:10]
    if _gzip.streams_as_one(level):
        assert request.content == gzip.compress(whole, compresslevel=level, mtime=0)
    assert request.content == Core(settings).plan_encoded_batch(EVENTS_BATCH, encoded).content


@pytest.mark.parametrize("spare", [0, -1], ids=["fits exactly", "one byte over"])
def test_taken_events_are_one_batch_exactly_while_their_array_fits(spare: int) -> None:
    reports = Reports()
    queue = a_queue(reports)
    encoded = [b'{"n":%d}' % n + b" " * 300 for n in range(10)]
    array = b"[" + b",".join(encoded) + b"]"
    queue.max_batch_bytes = len(array) + spare
    for one in encoded:
        assert queue.put_event(one) == (1, False)

    batches = queue.take_all()

    assert [b for batch in batches for b in batch.encoded] == encoded  # all, in order
    assert len(batches) == (1 if spare == 0 else 2)
    for batch in batches:
        assert len(b"[" + b",".join(batch.encoded) + b"]") <= queue.max_batch_bytes
