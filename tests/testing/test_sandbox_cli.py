"""`python -m moesifapi.testing serve`: prints its URL, serves, stops on a signal, dumps.

Runs the real command in a subprocess; every read and wait is bounded.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

WAIT = 20.0


def _first_line(process: subprocess.Popen[str]) -> str:
    """The first line of stdout, without risking a readline that never returns."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=WAIT).strip()
    except queue.Empty:
        process.kill()
        raise AssertionError("the CLI printed no base URL") from None


def _post(base_url: str, path: str, body: object, app_id: str) -> int:
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        headers={"X-Moesif-Application-Id": app_id, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return int(response.status)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_prints_its_url_and_dumps_what_it_stored_on_a_signal(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    dump = tmp_path / "received.ndjson"
    command = [
        sys.executable,
        "-m",
        "moesifapi.testing",
        "serve",
        "--port",
        "0",
        "--application-id",
        "cli-app",
        "--dump",
        str(dump),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            base_url = _first_line(process)
            assert base_url.startswith("http://127.0.0.1:")
            assert base_url.endswith("/v1")

            assert (
                _post(base_url, "/users", {"user_id": "u1", "session_token": "t"}, "cli-app") == 201
            )
            assert (
                _post(
                    base_url,
                    "/actions/batch",
                    [{"action_name": "a", "request": {"uri": "/x"}}],
                    "cli-app",
                )
                == 201
            )

            process.send_signal(stop_signal)
            _, errors = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=WAIT)

    assert process.returncode == 0, errors
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    assert records == [
        {"type": "action", "data": {"action_name": "a", "request": {"uri": "/x"}}},
        {"type": "user", "data": {"user_id": "u1", "session_token": "t"}, "session_tokens": ["t"]},
    ]
    assert "wrote 2 stored items" in errors


def test_serve_rejects_other_application_ids(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "moesifapi.testing", "serve", "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            base_url = _first_line(process)
            with pytest.raises(urllib.error.HTTPError) as caught:
                _post(base_url, "/users", {"user_id": "u1"}, "not-the-sandbox-id")
            caught.value.close()
            assert caught.value.code == 401
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=WAIT)

    assert process.returncode == 0


def test_the_command_needs_a_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "moesifapi.testing"], capture_output=True, text=True, timeout=WAIT
    )

    assert result.returncode == 2
    assert "serve" in result.stderr


def test_a_port_in_use_is_a_clear_error_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "moesifapi.testing", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
