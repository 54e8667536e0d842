"""`close_on_sigterm()`: a process stopped with SIGTERM delivers what it queued first.

Each test runs a real program in its own interpreter, as a process manager would stop
it, against the sandbox collector's server on 127.0.0.1.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from moesifapi.testing import Collector

APP_ID = "sigterm-test-app-id"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SYNC_PROGRAM = """
import sys, threading
import moesifapi

client = moesifapi.MoesifClient(
    application_id=sys.argv[1], base_url=sys.argv[2], flush_interval=60, exit_timeout=5,
    on_error=lambda error, items: print("lost", len(items), flush=True),
)
client.queue_users([{"user_id": f"user-{n}"} for n in range(300)])
{install}
print("ready", flush=True)
threading.Event().wait(30)  # a server waiting for work, until it is stopped
print("not stopped", flush=True)
"""

ASYNC_PROGRAM = """
import asyncio, sys
import moesifapi

async def main():
    client = moesifapi.AsyncMoesifClient(
        application_id=sys.argv[1], base_url=sys.argv[2], flush_interval=60, exit_timeout=5,
        on_error=lambda error, items: print("lost", len(items), flush=True),
    )
    client.queue_users([{"user_id": f"user-{n}"} for n in range(300)])
    moesifapi.close_on_sigterm()
    print("ready", flush=True)
    await asyncio.sleep(30)
    print("not stopped", flush=True)

asyncio.run(main())
"""


@pytest.fixture
def collector() -> Collector:
    return Collector(application_id=APP_ID)


@pytest.fixture
def base_url(collector: Collector) -> Iterator[str]:
    with collector.serve() as url:
        yield url


def stop_with_sigterm(program: str, base_url: str) -> subprocess.CompletedProcess[str]:
    """Start `program`, wait until it says it is ready, send SIGTERM, wait for its end."""
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(program), APP_ID, base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first == "ready\n", first + (process.stderr.read() if process.stderr else "")
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_sync_client_delivers_its_queue_then_the_process_ends_by_the_signal(
    collector: Collector, base_url: str
) -> None:
    program = SYNC_PROGRAM.replace("{install}", "moesifapi.close_on_sigterm()")
    result = stop_with_sigterm(program, base_url)

    assert result.returncode == -signal.SIGTERM, result.stderr
    assert len(collector.users) == 300
    assert "lost" not in result.stdout
    assert "not stopped" not in result.stdout


def test_async_client_delivers_its_queue_then_the_process_ends_by_the_signal(
    collector: Collector, base_url: str
) -> None:
    result = stop_with_sigterm(ASYNC_PROGRAM, base_url)

    assert result.returncode == -signal.SIGTERM, result.stderr
    assert len(collector.users) == 300
    assert "lost" not in result.stdout


def test_a_handler_of_the_programs_own_runs_after_the_clients_are_closed(
    collector: Collector, base_url: str
) -> None:
    install = textwrap.dedent(
        """
        import os, signal
        def mine(signum, frame):
            print("own handler after", client.stats.sent, flush=True)
            os._exit(3)
        signal.signal(signal.SIGTERM, mine)
        moesifapi.close_on_sigterm()
        """
    )
    result = stop_with_sigterm(SYNC_PROGRAM.replace("{install}", install), base_url)

    assert result.returncode == 3, result.stderr
    assert "own handler after 300" in result.stdout
    assert len(collector.users) == 300


def test_without_the_opt_in_no_signal_handler_is_installed() -> None:
    program = textwrap.dedent(
        """
        import asyncio, signal
        import moesifapi

        async def main():
            client = moesifapi.AsyncMoesifClient(
                application_id="x" * 16, base_url="http://127.0.0.1:9/v1", exit_timeout=0
            )
            client.queue_user({"user_id": "u"})
            return signal.getsignal(signal.SIGTERM)

        sync = moesifapi.MoesifClient(application_id="x" * 16, base_url="http://127.0.0.1:9/v1")
        during = asyncio.run(main())
        print(during is signal.SIG_DFL, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.stdout.split() == ["True", "True"], result.stderr
