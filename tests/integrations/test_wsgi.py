"""The WSGI middleware: a Flask app under a real gunicorn (``--preload``, 3 workers)
logging to the sandbox over HTTP, and hand-written WSGI apps driven in process.

The gunicorn tests share one gunicorn for the module; the last one stops it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from moesifapi import MoesifClient, ValidationError
from moesifapi.integrations.wsgi import MoesifMiddleware, request_headers, request_url
from moesifapi.testing import Collector

HERE = Path(__file__).resolve().parent
TID = "X-Moesif-Transaction-Id"


# --- gunicorn, one for the module ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """``gunicorn --preload -w 3 wsgi_flask_app:app`` on a free loopback port."""

    def __init__(self, collector: Collector, collector_url: str) -> None:
        self.collector = collector
        self.collector_url = collector_url
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOESIF_", "WSGI_TEST_"))}
        env.update(
            WSGI_TEST_BASE_URL=self.collector_url,
            WSGI_TEST_APPLICATION_ID=self.collector.application_id,
            WSGI_TEST_FLUSH_INTERVAL="0.2",
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "--preload", "--workers", "3"),
                *("--worker-class", "sync", "--bind", f"127.0.0.1:{port}"),
                *("--chdir", str(HERE), "--graceful-timeout", "10", "--log-level", "warning"),
                "wsgi_flask_app:app",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "gunicorn exited at start"
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("gunicorn did not answer within 15 s")

    def ensure_running(self) -> str:
        if self.process is None or self.process.poll() is not None:
            self.start()
        return self.url

    def stop(self) -> int:
        """SIGTERM, as a container runtime would, and wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Collector, str]]:
    collector = Collector()
    with collector.serve() as url:
        yield collector, url


@pytest.fixture(scope="module")
def gunicorn(sandbox: tuple[Collector, str]) -> Iterator[Gunicorn]:
    server = Gunicorn(*sandbox)
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


@pytest.fixture
def served(sandbox: tuple[Collector, str], gunicorn: Gunicorn) -> tuple[Collector, str]:
    """The sandbox and the URL of a running gunicorn (started again if a test stopped it)."""
    return sandbox[0], gunicorn.ensure_running()


def events_for(collector: Collector, tid: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The sandbox's events with transaction id `tid`, once at least one arrived."""
    collector.wait_until(
        lambda c: any(e.get("transaction_id") == tid for e in c.events), timeout=timeout
    )
    return [e for e in collector.events if e.get("transaction_id") == tid]


def one_event(collector: Collector, response: httpx.Response) -> dict[str, Any]:
    found = events_for(collector, response.headers[TID])
    assert len(found) == 1, found
    return found[0]


def tids_seen(collector: Collector, wanted: set[str]) -> Counter[str]:
    return Counter(
        e["transaction_id"] for e in collector.events if e.get("transaction_id") in wanted
    )


def test_show_300_requests_under_gunicorn_preload_give_300_events_each_once(
    served: tuple[Collector, str],
) -> None:
    collector, url = served
    with httpx.Client(base_url=url, timeout=10) as http:

        def get(n: int) -> str:
            response = http.get(f"/hello/{n}")
            assert response.status_code == 200
            assert response.text == f"hello {n}"
            return response.headers[TID]

        with ThreadPoolExecutor(max_workers=6) as pool:
            tids = list(pool.map(get, range(300)))

    wanted = set(tids)
    assert len(wanted) == 300
    assert collector.wait_until(lambda c: sum(tids_seen(c, wanted).values()) >= 300, timeout=10)
    time.sleep(0.5)  # a worker that sent some twice would have done so by now
    seen = tids_seen(collector, wanted)
    assert len(seen) == 300
    assert set(seen.values()) == {1}, [tid for tid, n in seen.items() if n != 1]
    mine = [e for e in collector.events if e.get("transaction_id") in wanted]
    assert {e["request"]["uri"] for e in mine} == {f"{url}/hello/{n}" for n in range(300)}
    assert {e["response"]["status"] for e in mine} == {200}
    pids = {e["metadata"]["pid"] for e in mine}
    assert len(pids) >= 2, "each worker delivers its own events"


def test_json_body_is_captured_as_json_and_authorization_is_masked(
    served: tuple[Collector, str],
) -> None:
    collector, url = served
    sent = {"name": "widget", "tags": ["a", "b"], "password": "hunter2"}
    response = httpx.post(
        f"{url}/json", json=sent, headers={"Authorization": "Bearer s3cret", "X-User-Id": "alice"}
    )
    assert response.status_code == 200
    assert response.json() == {"got": sent}
    event = one_event(collector, response)
    assert event["request"]["verb"] == "POST"
    assert event["request"]["body"] == {"name": "widget", "tags": ["a", "b"], "password": "***"}
    assert event["request"]["headers"]["Authorization"] == "***"
    assert event["request"]["ip_address"] == "127.0.0.1"
    assert event["response"]["body"]["got"]["name"] == "widget"
    assert event["response"]["headers"][TID] == response.headers[TID]
    assert event["user_id"] == "alice"
    assert event["direction"] == "Incoming"


def test_a_2_mb_upload_reaches_the_app_exactly_and_is_logged_as_its_size(
    served: tuple[Collector, str],
) -> None:
    collector, url = served
    data = os.urandom(2_000_000)
    response = httpx.post(
        f"{url}/upload", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.json() == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    event = one_event(collector, response)
    marker = event["request"]["body"]["moesif_body_omitted"]
    assert marker["size"] == len(data)
    assert "max_body_bytes" in marker["reason"]


def test_a_streaming_response_passes_each_chunk_through_as_it_is_made(
    served: tuple[Collector, str], tmp_path: Path
) -> None:
    collector, url = served
    signal_file = tmp_path / "got-first-chunk"
    with httpx.stream("GET", f"{url}/stream", params={"signal": str(signal_file)}) as response:
        lines = response.iter_lines()
        assert next(lines) == "first"  # the app is now waiting for us
        signal_file.touch()
        assert list(lines) == ["second", "third"]
    event = one_event(collector, response)
    assert base64.b64decode(event["response"]["body"]) == b"first\nsecond\nthird\n"


def test_an_endpoint_that_raises_is_logged_as_a_500(served: tuple[Collector, str]) -> None:
    collector, url = served
    response = httpx.get(f"{url}/boom")
    assert response.status_code == 500
    assert one_event(collector, response)["response"]["status"] == 500


def test_skip_paths_are_not_logged(served: tuple[Collector, str]) -> None:
    collector, url = served
    skipped = httpx.get(f"{url}/health", headers={TID: "health-probe-1"})
    assert skipped.status_code == 200
    assert skipped.headers[TID] == "health-probe-1"
    later = httpx.get(f"{url}/hello/1")
    one_event(collector, later)
    time.sleep(0.3)  # a flush interval: the probe's event would be in by now
    assert events_for(collector, "health-probe-1", timeout=0) == []
    assert not [e for e in collector.events if e["request"]["uri"].endswith("/health")]


def test_stopping_gunicorn_delivers_what_each_worker_still_held(
    served: tuple[Collector, str], gunicorn: Gunicorn
) -> None:
    # Last in the module: it stops the shared gunicorn.
    collector, url = served
    with httpx.Client(base_url=url) as http, ThreadPoolExecutor(max_workers=6) as pool:
        tids = set(pool.map(lambda n: http.get(f"/hello/{n}").headers[TID], range(60)))
    assert gunicorn.stop() == 0  # at once: the workers' queues still hold events
    # Each worker's exit hook closed its client before the worker exited.
    seen = tids_seen(collector, tids)
    assert len(seen) == 60
    assert set(seen.values()) == {1}
    # And over the whole module, with every worker gone: no event arrived twice.
    everything = Counter(e["transaction_id"] for e in collector.events)
    assert set(everything.values()) == {1}


# --- in process: hand-written WSGI apps ---

StartResponse = Callable[..., Callable[[bytes], object]]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Server:
    """A WSGI server's side of a call, as a test sees it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []
        self.written: list[bytes] = []
        self.headers_sent = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None and self.headers_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.calls.append((status, headers, exc_info))
        return self.written.append

    @property
    def status(self) -> str:
        return self.calls[-1][0]

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.calls[-1][1])


def environ_for(
    path: str = "/",
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    stream: io.BytesIO | None = None,
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body) if stream is None else stream,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        if name.lower() == "content-type":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    return environ


def serve(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], server: Server) -> bytes:
    """Call `app` as a server would: iterate, then close."""
    result = app(environ, server.start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return b"".join(server.written) + body


@pytest.fixture
def collector() -> Collector:
    return Collector()


def make_client(collector: Collector) -> MoesifClient:
    return MoesifClient(
        application_id=collector.application_id,
        base_url=collector.base_url,
        http_client=httpx.Client(transport=collector.transport()),
        flush_interval=0.05,
    )


@pytest.fixture
def client(collector: Collector) -> Iterator[MoesifClient]:
    with make_client(collector) as client:
        yield client


def delivered(client: MoesifClient, collector: Collector) -> list[dict[str, Any]]:
    assert client.flush(timeout=5)
    return collector.events


def text_body(part: dict[str, Any]) -> bytes:
    assert part.get("transfer_encoding") == "base64", part
    return base64.b64decode(part["body"])


class ClosingBody:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed += 1


def test_the_apps_iterable_is_closed_and_the_event_queued_at_close(
    client: MoesifClient, collector: Collector
) -> None:
    body = ClosingBody([b"hello ", b"world"])

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return body

    server = Server()
    result = MoesifMiddleware(app, client=client)(environ_for("/things"), server.start_response)
    assert b"".join(result) == b"hello world"
    assert client.flush(timeout=5)
    assert collector.events == []  # not before the server closes the response
    result.close()  # type: ignore[attr-defined]
    assert body.closed == 1
    [event] = delivered(client, collector)
    assert event["response"]["status"] == 201
    assert text_body(event["response"]) == b"hello world"
    assert event["request"]["uri"] == "http://127.0.0.1/things"
    assert event["response"]["headers"][TID] == server.headers[TID] == event["transaction_id"]


def test_a_list_answer_keeps_its_length_for_the_server(client: MoesifClient) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [b"one chunk"]

    result = MoesifMiddleware(app, client=client)(environ_for(), Server().start_response)
    assert len(result) == 1  # type: ignore[arg-type]
    result.close()  # type: ignore[attr-defined]


def test_chunks_pass_through_one_at_a_time(client: MoesifClient, collector: Collector) -> None:
    made: list[int] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for n in range(3):
            made.append(n)
            yield f"{n};".encode()

    result = MoesifMiddleware(app, client=client)(environ_for(), Server().start_response)
    iterator = iter(result)
    assert next(iterator) == b"0;"
    assert made == [0]
    assert next(iterator) == b"1;"
    assert made == [0, 1]
    assert list(iterator) == [b"2;"]
    result.close()  # type: ignore[attr-defined]
    [event] = delivered(client, collector)
    assert text_body(event["response"]) == b"0;1;2;"


def test_exc_info_goes_to_the_server_and_the_second_status_is_logged(
    client: MoesifClient, collector: Collector
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Service Unavailable", [("Retry-After", "1")], sys.exc_info())
        return [b"try later"]

    server = Server()
    serve(MoesifMiddleware(app, client=client), environ_for(), server)
    assert server.status == "503 Service Unavailable"
    exc_info = server.calls[-1][2]
    assert exc_info is not None
    assert isinstance(exc_info[1], ValueError)
    assert server.headers[TID]
    [event] = delivered(client, collector)
    assert event["response"]["status"] == 503
    assert event["response"]["headers"]["Retry-After"] == "1"


def test_exc_info_after_the_headers_went_out_is_re_raised_by_the_server(
    client: MoesifClient, collector: Collector
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise ValueError("mid-stream failure")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())

    server = Server()
    result = MoesifMiddleware(app, client=client)(environ_for(), server.start_response)
    iterator = iter(result)
    assert next(iterator) == b"partial"
    server.headers_sent = True
    with pytest.raises(ValueError, match="mid-stream failure"):
        next(iterator)
    result.close()  # type: ignore[attr-defined]
    [event] = delivered(client, collector)
    assert event["response"]["status"] == 200  # what the client was sent
    assert text_body(event["response"]) == b"partial"


def test_the_write_callable_is_teed(client: MoesifClient, collector: Collector) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        write(b"then ")
        return [b"returned"]

    server = Server()
    assert serve(MoesifMiddleware(app, client=client), environ_for(), server) == (
        b"written, then returned"
    )
    assert server.written == [b"written, ", b"then "]
    [event] = delivered(client, collector)
    assert text_body(event["response"]) == b"written, then returned"


def test_an_app_that_raises_before_start_response_is_a_500_and_the_error_passes_through(
    client: MoesifClient, collector: Collector
) -> None:
    error = RuntimeError("broken")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raise error

    with pytest.raises(RuntimeError) as raised:
        MoesifMiddleware(app, client=client)(environ_for("/x"), Server().start_response)
    assert raised.value is error
    [event] = delivered(client, collector)
    assert event["response"]["status"] == 500


def test_a_generator_that_raises_before_its_first_chunk_is_a_500(
    client: MoesifClient, collector: Collector
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        raise RuntimeError("broken")
        yield b""  # pragma: no cover

    result = MoesifMiddleware(app, client=client)(environ_for(), Server().start_response)
    with pytest.raises(RuntimeError):
        list(result)
    result.close()  # type: ignore[attr-defined]
    [event] = delivered(client, collector)
    assert event["response"]["status"] == 500


LINES = b"first line\nsecond line\n\nfourth, no newline at the end"


def echo_input(reader: Callable[[Any], list[bytes]]) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        pieces = reader(environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps([p.decode() for p in pieces]).encode()]

    return app


def read_in_sevens(stream: Any) -> list[bytes]:
    pieces = []
    while piece := stream.read(7):
        pieces.append(piece)
    return pieces


def read_mixed(stream: Any) -> list[bytes]:
    return [stream.readline(), stream.read(5), stream.readline(4), *stream.readlines(), b""]


READERS: dict[str, Callable[[Any], list[bytes]]] = {
    "read()": lambda stream: [stream.read()],
    "read(n)": lambda stream: [stream.read(len(LINES))],
    "read(7) loop": read_in_sevens,
    "readline()": lambda stream: [stream.readline(), stream.readline(), stream.read()],
    "readline(5)": lambda stream: [stream.readline(5), stream.readline(), stream.read()],
    "readlines()": lambda stream: stream.readlines(),
    "iteration": list,
    "mixed": read_mixed,
}


@pytest.mark.parametrize("name", READERS)
def test_the_app_reads_wsgi_input_as_sent_and_the_event_has_it(
    name: str, client: MoesifClient, collector: Collector
) -> None:
    reader = READERS[name]
    expected = reader(io.BytesIO(LINES))
    environ = environ_for("/in", "POST", LINES, {"Content-Type": "text/plain"})
    got = serve(MoesifMiddleware(echo_input(reader), client=client), environ, Server())
    assert json.loads(got) == [p.decode() for p in expected]
    [event] = delivered(client, collector)
    assert text_body(event["request"]) == LINES
    assert event["request"]["headers"]["Content-Type"] == "text/plain"
    assert event["request"]["headers"]["Content-Length"] == str(len(LINES))


# --- governance ---

USER_RULE = {
    "_id": "block-alice",
    "name": "block alice",
    "type": "user",
    "block": True,
    "applied_to": "matching",
    "response": {"status": 429, "headers": {"X-Blocked-By": "moesif"}, "body": {"error": "slow"}},
}
BODY_RULE = {
    "_id": "no-deletes",
    "name": "no deletes",
    "type": "regex",
    "block": True,
    "regex_config": [{"conditions": [{"path": "request.body.action", "value": "^delete$"}]}],
    "response": {"status": 403, "headers": {}, "body": {"error": "no deletes"}},
}
TAG_RULE = {
    "_id": "tag-all",
    "name": "tag everything",
    "type": "regex",
    "block": False,
    "regex_config": [{"conditions": [{"path": "request.verb", "value": ".*"}]}],
    "response": {"headers": {"X-Governed": "yes"}},
}


def governed_client(collector: Collector, *rules: dict[str, Any]) -> MoesifClient:
    collector.rules = list(rules)
    config = collector.config
    config["user_rules"] = {"alice": [{"rules": "block-alice", "values": {}}]}
    collector.config = config
    client = make_client(collector)
    deadline = time.monotonic() + 5
    while len(client.governance_rules().rules) < len(rules) or not client.app_config().user_rules:
        assert time.monotonic() < deadline, "the rules were not fetched"
        time.sleep(0.01)
    return client


def from_header(req: Any, resp: Any) -> str | None:
    return req.headers.get("x-user-id")  # type: ignore[no-any-return]


def test_a_governance_rule_blocks_before_the_app_runs(collector: Collector) -> None:
    called: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        called.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"ok"]

    with governed_client(collector, USER_RULE) as client:
        middleware = MoesifMiddleware(app, client=client, identify_user=from_header)
        server = Server()
        body = serve(middleware, environ_for("/a", headers={"X-User-Id": "alice"}), server)
        assert called == []
        assert server.status == "429 Too Many Requests"
        assert json.loads(body) == {"error": "slow"}
        assert server.headers["X-Blocked-By"] == "moesif"
        assert server.headers["Content-Type"] == "application/json"
        assert server.headers[TID]
        assert serve(middleware, environ_for("/b", headers={"X-User-Id": "bob"}), Server()) == b"ok"
        assert called == ["/b"]
        events = {e["request"]["uri"]: e for e in delivered(client, collector)}
    blocked = events["http://127.0.0.1/a"]
    assert blocked["blocked_by"] == "block-alice"
    assert blocked["response"]["status"] == 429
    assert blocked["response"]["body"] == {"error": "slow"}
    assert blocked["user_id"] == "alice"
    assert "blocked_by" not in events["http://127.0.0.1/b"]


def test_the_headers_of_a_rule_that_does_not_block_are_added(collector: Collector) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with governed_client(collector, TAG_RULE) as client:
        server = Server()
        serve(MoesifMiddleware(app, client=client), environ_for(), server)
        assert server.headers["X-Governed"] == "yes"
        assert server.headers["Content-Type"] == "text/plain"
        [event] = delivered(client, collector)
    assert event["response"]["headers"]["X-Governed"] == "yes"


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("max_body_bytes", [8, 1000])
def test_when_a_rule_reads_the_body_the_app_still_reads_exactly_what_was_sent(
    name: str, max_body_bytes: int, collector: Collector
) -> None:
    reader = READERS[name]
    expected = reader(io.BytesIO(LINES))
    environ = environ_for("/in", "POST", LINES, {"Content-Type": "text/plain"})
    with governed_client(collector, BODY_RULE) as client:
        middleware = MoesifMiddleware(
            echo_input(reader), client=client, max_body_bytes=max_body_bytes
        )
        got = serve(middleware, environ, Server())
        [event] = delivered(client, collector)
    assert json.loads(got) == [p.decode() for p in expected]
    if max_body_bytes > len(LINES):
        assert text_body(event["request"]) == LINES
    else:
        assert event["request"]["body"]["moesif_body_omitted"]["size"] == len(LINES)


@pytest.mark.parametrize(("max_body_bytes", "read_ahead"), [(8, 9), (1000, len(LINES))])
def test_reading_the_body_for_a_rule_stops_at_content_length(
    max_body_bytes: int, read_ahead: int, collector: Collector
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])  # a generator: it reads when first iterated
        yield environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))

    trailing = io.BytesIO(LINES + b"NOT THE BODY")  # a raw socket stream, say
    environ = environ_for("/in", "POST", LINES, {"Content-Type": "text/plain"}, stream=trailing)
    with governed_client(collector, BODY_RULE) as client:
        middleware = MoesifMiddleware(app, client=client, max_body_bytes=max_body_bytes)
        result = middleware(environ, Server().start_response)
        assert trailing.tell() == read_ahead  # before the app ran: max_body_bytes + 1 at most
        assert b"".join(result) == LINES
        result.close()  # type: ignore[attr-defined]
        delivered(client, collector)
    assert trailing.tell() == len(LINES)


def test_a_rule_on_a_json_body_blocks_by_the_body(collector: Collector) -> None:
    seen: list[bytes] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("200 OK", [])
        return [b"done"]

    with governed_client(collector, BODY_RULE) as client:
        middleware = MoesifMiddleware(app, client=client)
        json_type = {"Content-Type": "application/json"}
        delete = json.dumps({"action": "delete", "id": 7}).encode()
        read = json.dumps({"action": "read", "id": 7}).encode()
        server = Server()
        assert json.loads(serve(middleware, environ_for("/", "POST", delete, json_type), server))
        assert server.status == "403 Forbidden"
        assert serve(middleware, environ_for("/", "POST", read, json_type), Server()) == b"done"
        events = delivered(client, collector)
    assert seen == [read]
    assert [(e["request"]["body"]["action"], e.get("blocked_by")) for e in events] == [
        ("delete", "no-deletes"),
        ("read", None),
    ]


# --- hooks, failures, the request's parts ---


def hello_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_a_hook_that_raises_does_not_break_the_request(
    client: MoesifClient, collector: Collector
) -> None:
    def broken(req: Any, resp: Any) -> str:
        raise RuntimeError("hook bug")

    middleware = MoesifMiddleware(
        hello_app, client=client, identify_user=broken, metadata=broken, skip=broken
    )
    assert serve(middleware, environ_for(), Server()) == b"hello"
    [event] = delivered(client, collector)
    assert "user_id" not in event
    assert event["response"]["status"] == 200


def test_a_capture_that_fails_serves_the_request_uncaptured(
    client: MoesifClient, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    middleware = MoesifMiddleware(hello_app, client=client)

    def fail(headers: Any) -> str:
        raise RuntimeError("capture bug")

    monkeypatch.setattr(middleware.capture, "transaction_id", fail)
    assert serve(middleware, environ_for(), Server()) == b"hello"
    assert delivered(client, collector) == []


def test_without_a_client_one_is_made_from_the_environment_and_closed_with_the_middleware(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    with collector.serve() as url:
        monkeypatch.setenv("MOESIF_APPLICATION_ID", collector.application_id)
        monkeypatch.setenv("MOESIF_BASE_URL", url)
        middleware = MoesifMiddleware(hello_app)
        assert serve(middleware, environ_for(), Server()) == b"hello"
        middleware.close()  # delivers what it queued
        assert len(collector.events) == 1


def test_an_unknown_setting_is_refused_by_name(client: MoesifClient) -> None:
    with pytest.raises(ValidationError, match="skip_path"):
        MoesifMiddleware(hello_app, client=client, skip_path=["/health"])  # type: ignore[call-arg]


def test_the_requests_own_transaction_id_is_kept(
    client: MoesifClient, collector: Collector
) -> None:
    server = Server()
    environ = environ_for(headers={TID: "given-id-1"})
    serve(MoesifMiddleware(hello_app, client=client), environ, server)
    assert server.headers[TID] == "given-id-1"
    [event] = delivered(client, collector)
    assert event["transaction_id"] == "given-id-1"


def test_no_transaction_id_header_when_it_is_turned_off(client: MoesifClient) -> None:
    server = Server()
    serve(
        MoesifMiddleware(hello_app, client=client, transaction_id_header=None),
        environ_for(),
        server,
    )
    assert TID not in server.headers


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({"HTTP_HOST": "example.com:8080", "PATH_INFO": "/a"}, "http://example.com:8080/a"),
        (
            {"SERVER_NAME": "example.com", "SERVER_PORT": "80", "PATH_INFO": "/"},
            "http://example.com/",
        ),
        (
            {"wsgi.url_scheme": "https", "SERVER_NAME": "h", "SERVER_PORT": "443"},
            "https://h/",
        ),
        ({"wsgi.url_scheme": "https", "SERVER_NAME": "h", "SERVER_PORT": "80"}, "https://h:80/"),
        (
            {"HTTP_HOST": "h", "SCRIPT_NAME": "/app", "PATH_INFO": "/a b", "QUERY_STRING": "x=1&y"},
            "http://h/app/a%20b?x=1&y",
        ),
        # PEP 3333: PATH_INFO holds the raw bytes decoded as latin-1 ("é" in UTF-8 here)
        ({"HTTP_HOST": "h", "PATH_INFO": "/caf\xc3\xa9"}, "http://h/caf%C3%A9"),
    ],
)
def test_the_url_is_rebuilt_as_pep_3333_says(environ: dict[str, Any], url: str) -> None:
    assert request_url({"wsgi.url_scheme": "http", **environ}) == url


def test_headers_come_from_http_keys_and_content_type_and_length() -> None:
    headers = request_headers(
        {
            "HTTP_X_API_KEY": "k",
            "HTTP_ACCEPT": "*/*",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "2",
            "HTTP_CONTENT_LENGTH": "2",
            "SERVER_NAME": "not a header",
        }
    )
    assert headers.to_dict() == {
        "X-Api-Key": "k",
        "Accept": "*/*",
        "Content-Type": "application/json",
        "Content-Length": "2",
    }


def test_a_header_the_plain_path_cannot_write_gets_the_model_paths_error(
    client: MoesifClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    def odd_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Odd", "a\udcffb")])
        return [b"hello"]

    middleware = MoesifMiddleware(odd_app, client=client)
    assert middleware.capture.plain  # no hook: what was seen goes as it is
    with caplog.at_level("ERROR", logger="moesifapi"):
        assert serve(middleware, environ_for(), Server()) == b"hello"
    assert delivered(client, collector) == []
    assert "response.headers.X-Odd" in caplog.text  # the model path says what is wrong


def test_a_plain_capture_writes_what_a_capture_with_hooks_writes(
    client: MoesifClient, collector: Collector
) -> None:
    environ = {
        **environ_for("/items?page=2", "POST", b'{"a": 1, "password": "pw"}'),
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": "Bearer x",
        "HTTP_X_TAG": "one",
    }

    def reading_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input"].read()
        return hello_app(environ, start_response)

    plain = MoesifMiddleware(reading_app, client=client, governance=False)
    hooked = MoesifMiddleware(
        reading_app, client=client, governance=False, metadata=lambda req, resp: None
    )
    assert plain.capture.plain
    assert not hooked.capture.plain
    for middleware in (plain, hooked):
        environ["wsgi.input"] = io.BytesIO(b'{"a": 1, "password": "pw"}')
        assert serve(middleware, dict(environ), Server()) == b"hello"
    first, second = delivered(client, collector)
    for event in (first, second):
        del event["transaction_id"], event["response"]["headers"]["X-Moesif-Transaction-Id"]
        del event["request"]["time"], event["response"]["time"]
    assert first == second
    assert first["request"]["headers"]["Authorization"] == "***"
    assert first["request"]["body"] == {"a": 1, "password": "***"}


def test_a_generator_that_raises_after_a_chunk_keeps_its_status(
    client: MoesifClient, collector: Collector
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"half"
        raise RuntimeError("broken midway")

    result = MoesifMiddleware(app, client=client)(environ_for(), Server().start_response)
    iterator = iter(result)
    assert next(iterator) == b"half"
    with pytest.raises(RuntimeError, match="broken midway"):
        next(iterator)
    result.close()  # type: ignore[attr-defined]
    [event] = delivered(client, collector)
    assert event["response"]["status"] == 200
    assert text_body(event["response"]) == b"half"


class FailingClose(ClosingBody):
    def close(self) -> None:
        super().close()
        raise OSError("the app's close failed")


def test_an_iterable_whose_close_raises_is_still_recorded_and_the_error_goes_on(
    client: MoesifClient, collector: Collector
) -> None:
    body = FailingClose([b"x"])

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    result = MoesifMiddleware(app, client=client)(environ_for(), Server().start_response)
    assert list(result) == [b"x"]
    with pytest.raises(OSError, match="close failed"):
        result.close()  # type: ignore[attr-defined]
    assert body.closed == 1
    [event] = delivered(client, collector)
    assert text_body(event["response"]) == b"x"


def test_a_tuple_answer_with_no_close_is_sized_and_recorded_at_close(
    client: MoesifClient, collector: Collector
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"a", b"", b"b")

    result = MoesifMiddleware(app, client=client)(environ_for(), Server().start_response)
    assert len(result) == 3  # type: ignore[arg-type]
    assert list(result) == [b"a", b"", b"b"]
    assert list(result) == []  # an iterator: once through
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]  (a second close records nothing more)
    [event] = delivered(client, collector)
    assert text_body(event["response"]) == b"ab"
