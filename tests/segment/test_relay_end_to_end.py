"""The relay end to end: Segment's own library posts to it, the sandbox's real server receives.

Over real sockets on 127.0.0.1 only: wsgiref in a thread, and the command line in a subprocess.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from moesifapi import MoesifClient
from moesifapi.segment import relay_app
from moesifapi.testing import Collector

analytics = pytest.importorskip("segment.analytics")

WRITE_KEY = "segment-write-key"
SEED_TRAITS = {
    "first_name": "John",
    "last_name": "Doe",
    "email": "john@example.com",
    "company": {"id": "67890", "plan": "Free"},
}
BATCH = {
    "batch": [
        {"type": "identify", "messageId": "m-1", "userId": "userId123", "traits": SEED_TRAITS},
        {
            "type": "track",
            "messageId": "m-2",
            "userId": "userId123",
            "event": "Login Button Clicked",
        },
        {"type": "page", "messageId": "m-3", "userId": "userId123"},
    ]
}
BOUND = 30.0  # seconds any one wait in this module may take before the test fails


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy in the environment must not intercept


@pytest.fixture
def sandbox_url(moesif_collector: Collector) -> Iterator[str]:
    """The sandbox collector's real server: the Moesif the relay forwards to."""
    with moesif_collector.serve() as base_url:
        yield base_url


@pytest.fixture
def moesif_client(moesif_collector: Collector, sandbox_url: str) -> Iterator[MoesifClient]:
    with MoesifClient(
        application_id=moesif_collector.application_id, base_url=sandbox_url
    ) as client:
        yield client


def segment_library(url: str, write_key: str = WRITE_KEY, **options: Any) -> Any:
    """Segment's Python client, as a user would configure it, with the relay as its host."""
    settings: dict[str, Any] = {"sync_mode": True, "max_retries": 1, "timeout": 5}
    return analytics.Client(write_key, host=url, **{**settings, **options})


def call_the_library_as_a_user_would(segment: Any) -> None:
    segment.identify("userId123", SEED_TRAITS)
    segment.track("userId123", "Login Button Clicked", {"button": "primary"}, message_id="m-track")
    segment.group("userId123", "67890", {"name": "Acme"})


def assert_the_sandbox_holds_the_calls(collector: Collector) -> None:
    assert collector.users["userId123"]["metadata"] == SEED_TRAITS
    assert collector.users["userId123"]["company_id"] == "67890"
    assert collector.companies["67890"]["metadata"] == {"plan": "Free", "name": "Acme"}
    ((action),) = collector.actions
    assert (action["action_name"], action["metadata"], action["transaction_id"]) == (
        "Login Button Clicked",
        {"button": "primary"},
        "m-track",
    )


# --- the relay under wsgiref ---


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_the_segment_library_posting_to_the_relay_reaches_moesif(
    serve_wsgi: Callable[[Any], str],
    moesif_client: MoesifClient,
    moesif_collector: Collector,
    gzip: bool,
) -> None:
    url = serve_wsgi(relay_app(moesif_client, shared_secret=WRITE_KEY))
    call_the_library_as_a_user_would(segment_library(url, gzip=gzip))
    moesif_client.close()  # delivers what the relay queued
    assert_the_sandbox_holds_the_calls(moesif_collector)


def test_the_librarys_own_batching_reaches_moesif_in_one_post(
    serve_wsgi: Callable[[Any], str],
    moesif_client: MoesifClient,
    moesif_collector: Collector,
) -> None:
    posts: list[int] = []
    relay = relay_app(moesif_client, shared_secret=WRITE_KEY)

    def counting_relay(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        posts.append(1)
        return relay(environ, start_response)

    # The library's background consumer posts a batch once it holds upload_size messages.
    segment = segment_library(serve_wsgi(counting_relay), sync_mode=False, upload_size=3)
    call_the_library_as_a_user_would(segment)
    flushing = threading.Thread(target=segment.flush)  # the library's flush has no timeout
    flushing.start()
    flushing.join(BOUND)
    assert not flushing.is_alive()
    for consumer in segment.consumers:  # segment.join(), with a bound
        consumer.pause()
        consumer.join(BOUND)

    moesif_client.close()
    assert len(posts) == 1
    assert_the_sandbox_holds_the_calls(moesif_collector)


def test_the_library_with_a_wrong_write_key_gets_the_relays_401(
    serve_wsgi: Callable[[Any], str], moesif_client: MoesifClient, moesif_collector: Collector
) -> None:
    url = serve_wsgi(relay_app(moesif_client, shared_secret=WRITE_KEY))
    with pytest.raises(analytics.request.APIError) as refused:
        segment_library(url, write_key="someone-elses-key").track("userId123", "Signed Up")
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    moesif_client.close()
    assert moesif_collector.actions == []


# --- the command line ---


def relay_environment(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MOESIF_", "SEGMENT_")) and "proxy" not in key.lower()
    }
    return {**env, **extra}


@pytest.fixture
def start_cli() -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Start ``python -m moesifapi.segment relay`` and read the URL it prints first."""
    started: list[subprocess.Popen[str]] = []

    def start(
        *arguments: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "moesifapi.segment", "relay", "--port", "0", *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env if env is not None else relay_environment(),
        )
        started.append(process)
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], BOUND)
        assert readable, "the relay printed no URL in time"
        return process, process.stdout.readline().strip()

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=BOUND)


def post_json(url: str, payload: object) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url + "/v1/batch",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with opener.open(request, timeout=BOUND) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_cli_relays_until_signalled_then_delivers_its_queue(
    start_cli: Callable[..., tuple[subprocess.Popen[str], str]],
    moesif_collector: Collector,
    sandbox_url: str,
    stop_signal: signal.Signals,
) -> None:
    process, url = start_cli(
        "--application-id", moesif_collector.application_id, "--base-url", sandbox_url
    )
    assert url.startswith("http://127.0.0.1:")

    answer = post_json(url, BATCH)
    assert (answer["messages"], answer["users"], answer["companies"], answer["actions"]) == (
        3,
        1,
        1,
        1,
    )

    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=BOUND)
    assert process.returncode == 0, stderr
    assert "stopped" in stderr
    assert list(moesif_collector.users) == ["userId123"]
    assert [action["transaction_id"] for action in moesif_collector.actions] == ["m-2"]


def test_the_segment_library_reaches_moesif_through_the_cli_relay(
    start_cli: Callable[..., tuple[subprocess.Popen[str], str]],
    moesif_collector: Collector,
    sandbox_url: str,
) -> None:
    environment = relay_environment(SEGMENT_RELAY_SHARED_SECRET=WRITE_KEY)
    process, url = start_cli(
        "--application-id",
        moesif_collector.application_id,
        "--base-url",
        sandbox_url,
        env=environment,
    )
    call_the_library_as_a_user_would(segment_library(url))

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=BOUND)
    assert process.returncode == 0, stderr
    assert_the_sandbox_holds_the_calls(moesif_collector)


def test_the_cli_without_an_application_id_says_so_and_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "moesifapi.segment", "relay", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=BOUND,
        env=relay_environment(),
        check=False,
    )
    assert result.returncode == 2
    assert "application_id" in result.stderr
