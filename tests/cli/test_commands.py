"""The rest of `moesif`: help texts, `config`, `sandbox`, and how progress is shown.

Every command runs in a subprocess with a time limit; the terminal tests give the
command a real pseudo-terminal, the way a person at a shell would run it.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import queue
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_support import (
    APP_ID,
    RECORDS,
    RUN_TIMEOUT,
    MoesifRunner,
    Sandbox,
    clean_environment,
    moesif_command,
    read_ndjson,
    write_ndjson,
)

# --- help ---


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        (
            [],
            [
                *("send", "import-har", "config", "sandbox"),
                *("--application-id", "--base-url", "--timeout", "--max-retries", "--debug"),
                *("MOESIF_APPLICATION_ID", "exit status:"),
            ],
        ),
        (
            ["send"],
            [
                *("FILE", "--type", "--skip-invalid", "--undelivered", "--chunk-size", "--quiet"),
                *("--application-id", "NDJSON", ".undelivered.ndjson", "examples:"),
            ],
        ),
        (
            ["import-har"],
            [
                *("FILE.har", "--user-id", "--company-id", "--api-version", "--dry-run"),
                *(":authority", "30 days", "examples:"),
            ],
        ),
        (["config"], ["etag", "--base-url", "examples:"]),
        (["sandbox"], ["--port", "--application-id", "--dump", "Ctrl-C", "examples:"]),
    ],
    ids=["moesif", "send", "import-har", "config", "sandbox"],
)
def test_help_exits_0_and_describes_the_options(
    moesif: MoesifRunner, command: list[str], mentions: list[str]
) -> None:
    run = moesif(*command, "--help")

    assert run.status == 0
    assert run.stdout.startswith(f"usage: moesif {' '.join(command)}".rstrip())
    missing = [text for text in mentions if text not in run.stdout]
    assert missing == []


def test_no_command_is_a_usage_error(moesif: MoesifRunner) -> None:
    run = moesif()

    assert run.status == 2
    assert "the following arguments are required: COMMAND" in run.stderr


def test_version_names_the_distribution(moesif: MoesifRunner) -> None:
    run = moesif("--version")

    assert run.status == 0
    assert run.stdout.startswith("moesif (moesifapi-typed) ")


# --- config ---


def test_config_prints_the_apps_config_and_its_etag(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    sandbox.collector.config = {**sandbox.collector.config, "sample_rate": 40}

    run = moesif("config")

    assert run.status == 0, run.stderr
    assert json.loads(run.stdout) == {
        "etag": sandbox.collector.config_etag,
        "config": sandbox.collector.config,
    }


def test_config_with_a_wrong_application_id_fails_in_one_line(moesif: MoesifRunner) -> None:
    run = moesif("config", "--application-id", "someone-else")

    assert run.status == 1
    assert len(run.stderr_lines) == 1
    assert run.stderr_lines[0].startswith("moesif: error: 401 Unauthorized from GET ")


# --- sandbox ---


def first_line(process: subprocess.Popen[str]) -> str:
    """The first line the process prints, waiting at most RUN_TIMEOUT for it."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=RUN_TIMEOUT).strip()
    except queue.Empty:
        process.kill()
        raise AssertionError("the sandbox printed no base URL") from None


def test_sandbox_serves_until_sigint_and_dumps_what_it_received(
    moesif: MoesifRunner, tmp_path: Path
) -> None:
    dump = tmp_path / "received.ndjson"
    command = [*moesif_command(), "sandbox", "--port", "0", "--dump", str(dump)]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    ) as server:
        try:
            base_url = first_line(server)
            assert base_url.startswith("http://127.0.0.1:")

            env = {"MOESIF_APPLICATION_ID": "sandbox-app-id", "MOESIF_BASE_URL": base_url}
            sent = moesif("send", str(RECORDS / "users.ndjson"), env=env)
            assert sent.status == 0, sent.stderr

            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=RUN_TIMEOUT) == 0
        finally:
            if server.poll() is None:
                server.kill()
    assert [record["data"]["user_id"] for record in read_ndjson(dump)] == ["u-1", "u-2"]


def test_sandbox_on_a_busy_port_fails_in_one_line(moesif: MoesifRunner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        run = moesif("sandbox", "--port", str(port))

    assert run.status != 0
    assert len(run.stderr_lines) == 1
    assert f"127.0.0.1:{port}" in run.stderr_lines[0]


# --- progress ---


def run_on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run moesif with stderr on a 100-column pseudo-terminal; its status and screen text."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen(
        [*moesif_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env=env,
        cwd=cwd,
    ) as process:
        os.close(terminal)
        screen = bytearray()
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            while True:
                remaining = deadline - time.monotonic()
                assert remaining > 0, "the command did not finish in time"
                readable, _, _ = select.select([controller], [], [], remaining)
                if not readable:
                    continue
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the command closed its end of the terminal
                    break
                if not data:
                    break
                screen += data
            status = process.wait(timeout=RUN_TIMEOUT)
        finally:
            os.close(controller)
            if process.poll() is None:
                process.kill()
    return status, screen.decode("utf-8", errors="replace")


def recent_users(count: int) -> list[dict[str, object]]:
    moment = datetime.now(timezone.utc) - timedelta(minutes=1)
    return [{"user_id": f"u-{n}", "modified_time": moment.isoformat()} for n in range(count)]


def test_a_terminal_gets_a_progress_bar(sandbox: Sandbox, tmp_path: Path) -> None:
    users = write_ndjson(tmp_path / "users.ndjson", recent_users(6))
    env = clean_environment(
        MOESIF_APPLICATION_ID=APP_ID, MOESIF_BASE_URL=sandbox.base_url, TERM="xterm-256color"
    )

    status, screen = run_on_a_terminal(["send", "--chunk-size", "2", str(users)], env, tmp_path)

    assert status == 0, screen
    assert "sending users" in screen
    assert "━" in screen  # rich's bar
    assert "6/6" in screen
    assert "users: 6 sent, 0 skipped as invalid, 0 failed; 3 requests" in screen


def test_without_rich_a_terminal_gets_a_plain_counter(sandbox: Sandbox, tmp_path: Path) -> None:
    # A `rich` that cannot be imported, ahead of the real one on the path.
    hidden = tmp_path / "no-rich" / "rich"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("rich is not installed here")\n')
    users = write_ndjson(tmp_path / "users.ndjson", recent_users(4))
    env = clean_environment(
        MOESIF_APPLICATION_ID=APP_ID,
        MOESIF_BASE_URL=sandbox.base_url,
        PYTHONPATH=str(hidden.parent),
    )

    status, screen = run_on_a_terminal(["send", "--chunk-size", "2", str(users)], env, tmp_path)

    assert status == 0, screen
    assert "\rsending users: 2/4 (50%)\rsending users: 4/4 (100%)" in screen
    assert "━" not in screen
    assert set(sandbox.collector.users) == {"u-0", "u-1", "u-2", "u-3"}


def test_quiet_shows_neither_progress_nor_summary(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = write_ndjson(tmp_path / "users.ndjson", recent_users(4))

    run = moesif("send", "--quiet", "--chunk-size", "2", str(users))

    assert run.status == 0
    assert run.stderr == ""
    assert len(sandbox.collector.users) == 4
