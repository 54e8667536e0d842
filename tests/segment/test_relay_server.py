"""The relay's own server and `moesif relay`: exposure rule, backlog, socket timeout, help.

Real servers on 127.0.0.1 (one subprocess binds 0.0.0.0 to show --no-auth); every wait is bounded.
"""

from __future__ import annotations

import json
import logging
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from moesifapi import MoesifClient, ValidationError
from moesifapi.cli import main as moesif_main
from moesifapi.segment import (
    DEFAULT_RELAY_BACKLOG,
    RelayServer,
    SegmentRelay,
    make_relay_server,
    relay_app,
)
from moesifapi.segment.__main__ import main as segment_main
from moesifapi.segment._server import is_loopback_host
from moesifapi.testing import Collector

BOUND = 30.0  # seconds any one wait in this module may take before the test fails
SECRET = "s3cret-write-key"
TRACK = {"type": "track", "messageId": "m-1", "userId": "userId123", "event": "Signed Up"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy in the environment must not intercept
    monkeypatch.delenv("SEGMENT_RELAY_SHARED_SECRET", raising=False)


@pytest.fixture
def client(moesif_collector: Collector) -> Iterator[MoesifClient]:
    http = httpx.Client(transport=moesif_collector.transport())
    with MoesifClient(
        application_id=moesif_collector.application_id,
        base_url=moesif_collector.base_url,
        http_client=http,
        max_queue_size=10_000,
    ) as client:
        yield client
    http.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[RelayServer, str]]]:
    """Start `make_relay_server(relay, "127.0.0.1", 0, **options)` in a thread; its URL."""
    running: list[tuple[RelayServer, threading.Thread]] = []

    def start(relay: SegmentRelay, **options: Any) -> tuple[RelayServer, str]:
        server = make_relay_server(relay, "127.0.0.1", 0, **options)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        running.append((server, thread))
        return server, f"http://127.0.0.1:{server.server_port}"

    try:
        yield start
    finally:
        for server, thread in running:
            server.shutdown()
            server.server_close()
            thread.join(BOUND)


def post(url: str, body: bytes, content_type: str = "application/json") -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with opener.open(request, timeout=BOUND) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


# --- exposure: no secret off loopback without an explicit --no-auth ---


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.0.2.10", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_the_api_refuses_a_non_loopback_address_without_a_secret(client: MoesifClient) -> None:
    with pytest.raises(ValidationError, match="no_auth") as refused:
        make_relay_server(relay_app(client), "0.0.0.0", 0)
    assert refused.value.field == "shared_secret"


def test_moesif_relay_refuses_a_non_loopback_address_without_a_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = moesif_main(["relay", "--host", "0.0.0.0", "--port", "0", "--application-id", "a"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("moesif: error: shared_secret: refusing to listen on 0.0.0.0")
    assert "--no-auth" in err


def test_the_old_spelling_refuses_the_same_way(capsys: pytest.CaptureFixture[str]) -> None:
    status = segment_main(["relay", "--host", "0.0.0.0", "--port", "0", "--application-id", "a"])
    assert status == 2
    assert "refusing to listen on 0.0.0.0 without a shared secret" in capsys.readouterr().err


def test_the_startup_log_says_authentication_is_on_with_a_secret(
    serve: Callable[..., tuple[RelayServer, str]],
    client: MoesifClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="moesifapi.segment"):
        server, _ = serve(relay_app(client, shared_secret=SECRET))
    (record,) = [r for r in caplog.records if r.name == "moesifapi.segment"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"listening on 127.0.0.1:{server.server_port}; authentication on:"
        " every request must carry the shared secret"
    )
    assert SECRET not in caplog.text


def test_the_startup_log_warns_that_authentication_is_off_on_loopback(
    serve: Callable[..., tuple[RelayServer, str]],
    client: MoesifClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="moesifapi.segment"):
        serve(relay_app(client))
    (record,) = [r for r in caplog.records if r.name == "moesifapi.segment"]
    assert record.levelno == logging.WARNING
    assert "authentication OFF: every request is accepted (loopback only)" in record.getMessage()


def test_moesif_relay_with_no_auth_serves_any_address_and_says_so(
    moesif_collector: Collector,
) -> None:
    env = {"PATH": "", "NO_PROXY": "127.0.0.1"}
    argv = ["relay", "--host", "0.0.0.0", "--port", "0", "--no-auth"]
    argv += ["--application-id", moesif_collector.application_id]
    with moesif_collector.serve() as base_url:
        process = subprocess.Popen(
            [sys.executable, "-m", "moesifapi.cli", *argv, "--base-url", base_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()  # the relay prints it once it listens
            port = url.rpartition(":")[2]
            assert url == f"http://0.0.0.0:{port}"
            body = json.dumps(TRACK).encode()
            assert post(f"http://127.0.0.1:{port}/v1/batch", body) == 200
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=BOUND)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=BOUND)
    assert process.returncode == 0, err
    first_line = err.splitlines()[0]
    assert first_line == (
        f"moesif segment relay: listening on 0.0.0.0:{port};"
        " authentication OFF: every request is accepted (no_auth)"
    )
    assert [action["transaction_id"] for action in moesif_collector.actions] == ["m-1"]


# --- capacity and stalled connections ---


def test_the_backlog_is_deep() -> None:
    assert DEFAULT_RELAY_BACKLOG >= 1000
    assert RelayServer.request_queue_size == DEFAULT_RELAY_BACKLOG


@pytest.mark.slow  # a load test: CI runs it in its `pytest -m slow` step
def test_a_thousand_concurrent_posts_to_a_fresh_relay_all_get_answers(
    serve: Callable[..., tuple[RelayServer, str]], client: MoesifClient
) -> None:
    _, url = serve(relay_app(client))
    answers: list[int | str] = []
    lock = threading.Lock()
    batch_size = 200  # threads released at once by the barrier: each batch is one burst

    def post_one(index: int, barrier: threading.Barrier) -> None:
        message = {**TRACK, "messageId": f"m-{index}"}
        barrier.wait(BOUND)
        try:
            outcome: int | str = post(url + "/v1/batch", json.dumps(message).encode())
        except OSError as error:  # a reset connection: what a shallow backlog gives
            outcome = type(error).__name__
        with lock:
            answers.append(outcome)

    for start in range(0, 1000, batch_size):
        barrier = threading.Barrier(batch_size)
        threads = [
            threading.Thread(target=post_one, args=(index, barrier))
            for index in range(start, start + batch_size)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND)
        assert not any(thread.is_alive() for thread in threads)

    assert len(answers) == 1000
    assert [answer for answer in answers if answer != 200] == []
    assert client.stats.queued == 1000


def relay_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def test_a_connection_stalled_in_its_headers_is_closed_after_the_socket_timeout(
    serve: Callable[..., tuple[RelayServer, str]], client: MoesifClient
) -> None:
    server, _ = serve(relay_app(client), socket_timeout=0.2)
    before = relay_threads()
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=BOUND) as stalled:
        stalled.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: relay\r\nContent-Le")
        assert stalled.recv(1024) == b""  # the server closed it; BOUND fails the test instead
    for thread in relay_threads() - before:
        thread.join(BOUND)
        assert not thread.is_alive()


def test_a_connection_stalled_in_its_body_gets_a_408_and_is_closed(
    serve: Callable[..., tuple[RelayServer, str]], client: MoesifClient
) -> None:
    server, _ = serve(relay_app(client), socket_timeout=0.2)
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=BOUND) as stalled:
        stalled.sendall(
            b"POST /v1/batch HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"type": '
        )
        answer = b""
        while chunk := stalled.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 408 ")
    assert b'"code":"request_timeout"' in answer
    assert client.stats.queued == 0


def drip(connection: socket.socket, head: bytes, interval: float = 0.1) -> tuple[bytes, float]:
    """Send `head`, then one byte every `interval` s until the server answers or closes;
    what it answered, and how long after connecting that was."""
    started = time.monotonic()
    connection.sendall(head)
    answer = b""
    for _ in range(int(BOUND / interval)):
        readable, _, _ = select.select([connection], [], [], interval)  # the drip's pace
        if readable:
            try:
                chunk = connection.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
            continue
        try:
            connection.sendall(b"a")
        except OSError:  # closed under us: as good as an answer
            break
    return answer, time.monotonic() - started


REQUEST_TIMEOUT = 0.5


def test_a_sender_dripping_its_headers_is_closed_after_the_request_timeout(
    serve: Callable[..., tuple[RelayServer, str]], client: MoesifClient
) -> None:
    server, _ = serve(relay_app(client), request_timeout=REQUEST_TIMEOUT)
    before = relay_threads()
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=BOUND) as slow:
        answer, elapsed = drip(slow, b"POST /v1/batch HTTP/1.1\r\nHost: relay\r\nX-Slow: ")
    assert answer == b""
    # Never silent for the 30 s socket timeout, yet cut off at the request timeout.
    assert REQUEST_TIMEOUT <= elapsed < REQUEST_TIMEOUT + 2.0
    for thread in relay_threads() - before:
        thread.join(BOUND)
        assert not thread.is_alive()
    assert client.stats.queued == 0


def test_a_sender_dripping_its_body_gets_a_408_after_the_request_timeout(
    serve: Callable[..., tuple[RelayServer, str]], client: MoesifClient
) -> None:
    server, _ = serve(relay_app(client), request_timeout=REQUEST_TIMEOUT)
    head = (
        b"POST /v1/batch HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
        b'Content-Length: 10000\r\n\r\n{"type": '
    )
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=BOUND) as slow:
        answer, elapsed = drip(slow, head)
        while chunk := slow.recv(4096):  # the rest of the answer, up to the close
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 408 ")
    assert b'"code":"request_timeout"' in answer
    assert REQUEST_TIMEOUT <= elapsed < REQUEST_TIMEOUT + 2.0
    assert client.stats.queued == 0


def test_a_request_arriving_in_time_is_answered_with_a_short_request_timeout(
    serve: Callable[..., tuple[RelayServer, str]], client: MoesifClient
) -> None:
    _, url = serve(relay_app(client), request_timeout=REQUEST_TIMEOUT)
    assert post(url, json.dumps(TRACK).encode()) == 200
    assert post(url, json.dumps(TRACK).encode()) == 200  # each connection has its own
    assert client.stats.queued == 2


@pytest.mark.parametrize("request_timeout", [0, -1, float("inf"), float("nan"), True, "30"])
def test_a_request_timeout_that_is_not_a_positive_finite_number_is_refused(
    client: MoesifClient, request_timeout: Any
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_relay_server(relay_app(client), request_timeout=request_timeout)
    assert refused.value.field == "request_timeout"


@pytest.mark.parametrize("socket_timeout", [0, -1, float("inf"), float("nan")])
def test_a_socket_timeout_that_is_not_a_positive_finite_number_is_refused(
    client: MoesifClient, socket_timeout: float
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_relay_server(relay_app(client), socket_timeout=socket_timeout)
    assert refused.value.field == "socket_timeout"


def test_a_wrong_content_type_is_a_415_over_http(
    serve: Callable[..., tuple[RelayServer, str]], client: MoesifClient
) -> None:
    _, url = serve(relay_app(client))
    body = json.dumps(TRACK).encode()
    assert post(url, body, content_type="application/x-www-form-urlencoded") == 415
    assert client.stats.queued == 0


# --- the command ---


def test_moesif_relay_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        moesif_main(["relay", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: moesif relay")
    options = ("--no-auth", "--shared-secret", "--socket-timeout", "--request-timeout", "--host")
    for option in (*options, "--port"):
        assert option in out


def test_moesif_help_lists_relay(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        moesif_main(["--help"])
    assert "relay" in capsys.readouterr().out


def test_the_old_spelling_still_has_the_same_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        segment_main(["relay", "--help"])
    assert exited.value.code == 0
    assert "--no-auth" in capsys.readouterr().out
