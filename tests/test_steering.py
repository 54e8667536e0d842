"""The app's config and rules, kept fresh in the background; sampling in the queue.

The schedule is tested on `Steering` alone with a fake clock; the clients (both, by
parametrization) against the sandbox collector in process, with the same fake clock
standing in for the minutes between refreshes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from clients import Client, call, close

from moesifapi import (
    AppConfig,
    AsyncMoesifClient,
    EventModel,
    GovernanceRules,
    MoesifClient,
    UnauthorizedError,
    ValidationError,
    from_dict,
)
from moesifapi._steering import AT_LEAST_EVERY, AT_MOST_EVERY, CONFIG, RULES, Steering
from moesifapi.testing import Collector

APP_ID = "steering-app-id"

pytestmark = pytest.mark.usefixtures("backoff_sleeps")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(user_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request": {
            "time": "2024-05-01T12:00:00Z",
            "uri": "https://api.example.com/items?page=2",
            "verb": "GET",
            "headers": {},
        },
        "response": {"time": "2024-05-01T12:00:00.050Z", "status": 200, "headers": {}},
        **extra,
    }
    if user_id is not None:
        body["user_id"] = user_id
    return body


# --- the schedule, alone ---


def test_nothing_is_fetched_until_something_wants_it() -> None:
    steering = Steering(clock=FakeClock())
    assert steering.due() == ()
    steering.saw_tags("etag-1", "tag-1")
    assert steering.due() == ()


def test_the_first_use_fetches_at_once_and_only_once_while_in_flight() -> None:
    steering = Steering(clock=FakeClock())
    steering.want(CONFIG)
    assert steering.due() == (CONFIG,)
    assert steering.due() == ()  # in flight
    steering.want(RULES)
    assert steering.due() == (RULES,)


def fetched_once(clock: FakeClock, etag: str = "etag-1") -> Steering:
    steering = Steering(clock=clock)
    steering.want(CONFIG)
    assert steering.due() == (CONFIG,)
    steering.fetched(CONFIG, AppConfig(sample_rate=50, etag=etag))
    return steering


def test_a_new_etag_is_fetched_once_a_minute_has_passed_not_before() -> None:
    clock = FakeClock()
    steering = fetched_once(clock)
    assert steering.config.sample_rate == 50
    clock.now += 10
    steering.saw_tags("etag-2", None)
    clock.now += AT_MOST_EVERY - 10 - 0.001
    assert steering.due() == ()
    clock.now += 0.001
    assert steering.due() == (CONFIG,)


def test_the_same_etag_is_not_fetched_again_until_five_minutes_have_passed() -> None:
    clock = FakeClock()
    steering = fetched_once(clock)
    steering.saw_tags("etag-1", None)
    clock.now += AT_LEAST_EVERY - 0.001
    assert steering.due() == ()
    clock.now += 0.001
    assert steering.due() == (CONFIG,)


def test_a_failed_fetch_keeps_the_defaults_and_is_tried_again_a_minute_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    steering = Steering(clock=clock)
    steering.want(CONFIG)
    assert steering.due() == (CONFIG,)
    with caplog.at_level(logging.INFO, logger="moesifapi"):
        steering.failed(CONFIG, httpx.ConnectError("refused"))
    assert steering.config == AppConfig()
    assert "could not fetch the app config" in caplog.text
    clock.now += AT_MOST_EVERY - 1
    assert steering.due() == ()
    clock.now += 1
    assert steering.due() == (CONFIG,)


def test_an_unauthorized_answer_is_a_warning_once(caplog: pytest.LogCaptureFixture) -> None:
    steering = Steering(clock=FakeClock())
    unauthorized = UnauthorizedError("401", response=httpx.Response(401), body=None)
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        steering.failed(CONFIG, unauthorized)
        steering.failed(RULES, unauthorized)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "check your application id" in warnings[0].getMessage()


def test_a_fetch_that_could_not_start_is_due_again_at_once() -> None:
    steering = Steering(clock=FakeClock())
    steering.want(CONFIG)
    kinds = steering.due()
    steering.not_started(kinds)
    assert steering.due() == (CONFIG,)


def test_sampling_keeps_at_the_rate_and_sets_the_weight_on_a_copy() -> None:
    draws = iter([0.10, 0.50, 0.249, 0.25])
    steering = Steering(clock=FakeClock(), rand=lambda: next(draws))
    steering.config = AppConfig(sample_rate=25)
    model = from_dict(EventModel, event())
    kept = [steering.sample(model) for _ in range(4)]
    assert [k is not None for k in kept] == [True, False, True, False]
    assert {k.weight for k in kept if k is not None} == {4}
    assert model.weight is None  # the caller's model is left alone
    own_weight = from_dict(EventModel, event(weight=7))
    steering.config = AppConfig(sample_rate=100)
    assert steering.sample(own_weight) is own_weight


# --- on both clients, against the sandbox ---


@pytest.fixture
def collector() -> Collector:
    return Collector(application_id=APP_ID)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sync", "async"])
def make_client(
    request: pytest.FixtureRequest, collector: Collector, clock: FakeClock
) -> Iterator[Callable[..., Client]]:
    """A client on the sandbox in process, whose refresh schedule runs on `clock`."""
    made: list[Client] = []

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("application_id", APP_ID)
        kwargs.setdefault("base_url", collector.base_url)
        client: Client
        if request.param == "sync":
            http = httpx.Client(transport=collector.transport())
            client = MoesifClient(http_client=http, **kwargs)
        else:
            ahttp = httpx.AsyncClient(transport=collector.async_transport())
            client = AsyncMoesifClient(http_client=ahttp, **kwargs)
        client._steering.clock = clock
        made.append(client)
        return client

    yield make
    collector.release()
    for client in made:
        if isinstance(client, MoesifClient):
            client.close()


class Fetches:
    """Counts the client's finished fetches (succeeded or failed), and waits for them."""

    def __init__(self, client: Client) -> None:
        self.finished = 0
        self.errors: list[BaseException] = []
        self._changed = threading.Condition()
        steering = client._steering
        fetched, failed = steering.fetched, steering.failed

        def on_fetched(kind: str, value: Any) -> None:
            fetched(kind, value)
            self._count()

        def on_failed(kind: str, error: BaseException) -> None:
            failed(kind, error)
            self.errors.append(error)
            self._count()

        steering.fetched = on_fetched  # type: ignore[method-assign]
        steering.failed = on_failed  # type: ignore[method-assign]

    def _count(self) -> None:
        with self._changed:
            self.finished += 1
            self._changed.notify_all()

    async def wait(self, count: int) -> None:
        """Until `count` fetches have finished; on a thread, so the loop's tasks run."""

        def enough() -> bool:
            with self._changed:
                return self._changed.wait_for(lambda: self.finished >= count, timeout=5)

        assert await asyncio.to_thread(enough), f"{self.finished} of {count} fetches finished"


def config_fetches(collector: Collector) -> int:
    return sum(1 for r in collector.requests if r.method == "GET" and r.path == "/v1/config")


async def test_a_client_not_asked_for_config_never_fetches_it(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    client = make_client()
    client.queue_event(event("u1"))
    await call(client, "create_event", event("u1"))
    await call(client, "flush")
    assert config_fetches(collector) == 0
    await close(client)


async def test_a_changed_config_is_picked_up_within_one_refresh_without_blocking(
    make_client: Callable[..., Client], collector: Collector, clock: FakeClock
) -> None:
    client = make_client(sampling=True)
    fetches = Fetches(client)
    collector.hold()
    # The first use starts the fetch; neither call waits for it.
    assert client.queue_event(event("u1"))
    assert client.app_config() == AppConfig()
    assert await asyncio.to_thread(collector.wait_until_held, 1, 5)
    collector.release()
    await fetches.wait(1)
    assert client.app_config().etag == collector.config_etag

    collector.config = {**collector.config, "user_sample_rate": {"u1": 0}}
    await call(client, "flush")  # its answer carries the new ETag
    clock.now += AT_MOST_EVERY
    client.queue_event(event("u2"))  # the next use after a minute fetches
    await fetches.wait(2)
    assert client.app_config().user_sample_rate == {"u1": 0}
    for _ in range(5):
        assert client.queue_event(event("u1")) is False
    await call(client, "flush")
    assert client.stats.sampled_out == 5
    assert [e.get("user_id") for e in collector.events] == ["u1", "u2"]
    await close(client)


@pytest.mark.parametrize(
    ("config", "user", "sent_weights", "sampled_out"),
    [
        ({"user_sample_rate": {"u1": 0}}, "u1", [], 8),
        ({"user_sample_rate": {"u1": 0}}, "u2", [1] * 8, 0),
        ({"sample_rate": 25}, "u1", [4, 4], 6),
        ({"company_sample_rate": {"c1": 50}, "sample_rate": 100}, "u1", [2] * 4, 4),
    ],
)
async def test_queue_event_applies_the_sample_rate_and_the_weight(
    make_client: Callable[..., Client],
    collector: Collector,
    config: dict[str, Any],
    user: str,
    sent_weights: list[int],
    sampled_out: int,
) -> None:
    collector.config = {**collector.config, **config}
    client = make_client(sampling=True)
    fetches = Fetches(client)
    client.app_config()
    await fetches.wait(1)
    draws = iter([0.05, 0.3, 0.2, 0.6, 0.55, 0.8, 0.45, 0.95])  # 4 under 0.5, 2 under 0.25
    client._steering.rand = lambda: next(draws)
    for _ in range(8):
        client.queue_event(event(user, company_id="c1"))
    await call(client, "flush")
    assert [e.get("weight") for e in collector.events] == sent_weights
    stats = client.stats
    assert (stats.sampled_out, stats.failed, stats.dropped) == (sampled_out, 0, 0)
    await close(client)


async def test_an_event_with_its_own_weight_keeps_it(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.config = {**collector.config, "sample_rate": 50}
    client = make_client(sampling=True)
    fetches = Fetches(client)
    client.app_config()
    await fetches.wait(1)
    client._steering.rand = lambda: 0.0
    model = from_dict(EventModel, event("u1", weight=10))
    client.queue_event(model)
    client.queue_event(event("u1"))
    await call(client, "flush")
    assert [e["weight"] for e in collector.events] == [10, 2]
    assert model.weight == 10
    await close(client)


async def test_batch_calls_never_sample(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.config = {**collector.config, "sample_rate": 0}
    client = make_client(sampling=True)
    fetches = Fetches(client)
    client.app_config()
    await fetches.wait(1)
    await call(client, "create_events_batch", [event("u1"), event("u2")])
    await call(client, "create_event", event("u3"))
    assert len(collector.events) == 3
    assert all("weight" not in e for e in collector.events)
    await close(client)


@pytest.mark.parametrize("failure", ["500", "timeout"])
async def test_a_failed_config_fetch_never_reaches_the_caller_and_sampling_stays_at_100(
    make_client: Callable[..., Client],
    collector: Collector,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector.config = {**collector.config, "sample_rate": 0}
    if failure == "500":
        client = make_client(sampling=True, max_retries=0)
        collector.fail_next(1, status=500)
    else:
        client = make_client(sampling=True, max_retries=0, timeout=0.2)
        collector.hold()
    fetches = Fetches(client)
    with caplog.at_level(logging.INFO, logger="moesifapi"):
        assert client.queue_event(event("u1"))
        await fetches.wait(1)
    collector.release()
    assert fetches.errors
    assert "could not fetch the app config" in caplog.text
    assert client.app_config() == AppConfig()
    assert client.queue_event(event("u2"))
    await call(client, "flush")
    assert [e["user_id"] for e in collector.events] == ["u1", "u2"]
    assert client.stats.sampled_out == 0
    await close(client)


async def test_a_wrong_application_id_warns_once_and_keeps_the_defaults(
    make_client: Callable[..., Client], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(application_id="not-the-app", sampling=True)
    fetches = Fetches(client)
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        client.app_config()
        await fetches.wait(1)
        clock.now += AT_MOST_EVERY
        client.app_config()
        await fetches.wait(2)
    assert all(isinstance(e, UnauthorizedError) for e in fetches.errors)
    assert caplog.text.count("check your application id") == 1
    assert client.app_config() == AppConfig()
    await close(client)


async def test_governance_rules_are_fetched_with_the_config_and_evaluate(
    make_client: Callable[..., Client], collector: Collector
) -> None:
    collector.rules = [
        {
            "_id": "free-tier",
            "type": "user",
            "block": True,
            "applied_to": "matching",
            "applied_to_unidentified": False,
            "variables": [{"name": "plan", "path": "user.metadata.plan"}],
            "response": {"status": 402, "headers": {}, "body": {"error": "{{plan}} plan"}},
            "regex_config": [],
        }
    ]
    collector.config = {
        **collector.config,
        "user_rules": {"u1": [{"rules": "free-tier", "values": {"plan": "free"}}]},
    }
    client = make_client()
    fetches = Fetches(client)
    collector.hold()
    assert client.governance_rules() == GovernanceRules(())
    collector.release()
    await fetches.wait(2)  # the rules, and the config that says who is in their cohort
    rules, config = client.governance_rules(), client.app_config()
    assert rules.tag == collector.rules_tag
    request = from_dict(EventModel, event("u1")).request
    decision = rules.evaluate(request, user_id="u1", config=config)
    assert (decision.blocked_by, decision.status, decision.body) == (
        "free-tier",
        402,
        {"error": "free plan"},
    )
    assert not rules.evaluate(request, user_id="u2", config=config).blocked
    await close(client)


async def test_a_changed_rules_tag_on_a_write_answer_refreshes_the_rules(
    make_client: Callable[..., Client], collector: Collector, clock: FakeClock
) -> None:
    client = make_client()
    fetches = Fetches(client)
    client.governance_rules()
    await fetches.wait(2)
    collector.rules = [{"_id": "r1", "type": "regex", "block": False, "regex_config": []}]
    await call(client, "create_event", event("u1"))
    clock.now += AT_MOST_EVERY
    await call(client, "create_event", event("u1"))  # the next use after a minute
    await fetches.wait(3)
    assert [rule.id for rule in client.governance_rules()] == ["r1"]
    await close(client)


def test_sampling_must_be_a_bool() -> None:
    for make in (MoesifClient, AsyncMoesifClient):
        with pytest.raises(ValidationError) as raised:
            make(application_id=APP_ID, sampling="yes")  # type: ignore[arg-type]
        assert raised.value.field == "sampling"


async def test_aclose_cancels_a_fetch_in_flight_quietly(collector: Collector) -> None:
    client = AsyncMoesifClient(
        application_id=APP_ID,
        base_url=collector.base_url,
        http_client=httpx.AsyncClient(transport=collector.async_transport()),
        sampling=True,
    )
    collector.hold()
    client.app_config()
    assert await asyncio.to_thread(collector.wait_until_held, 1, 5)
    await client.aclose(timeout=1)
    collector.release()
    assert not client._fetches
