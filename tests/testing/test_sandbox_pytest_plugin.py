"""The `moesif_collector` fixture, as a user's own test suite gets it from the plugin.

The plugin is found through the package's ``pytest11`` entry point, so these tests
run pytest in a subprocess on a throwaway project, exactly as a user would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

USER_TESTS = """
import threading

import httpx

from moesifapi.testing import Collector

HEADERS = {"X-Moesif-Application-Id": "sandbox-app-id"}


def test_the_fixture_is_a_collector_that_stores_what_a_client_sends(moesif_collector):
    assert isinstance(moesif_collector, Collector)
    with httpx.Client(
        transport=moesif_collector.transport(), base_url=moesif_collector.base_url
    ) as client:
        response = client.post("/users", json={"user_id": "u1"}, headers=HEADERS)
    assert response.status_code == 201
    assert list(moesif_collector.users) == ["u1"]


def test_each_test_gets_a_fresh_collector(moesif_collector):
    assert moesif_collector.users == {}
    assert moesif_collector.requests == []


held_thread = []


def test_a_test_that_forgets_to_release(moesif_collector):
    moesif_collector.hold(timeout=None)

    def send():
        transport = moesif_collector.transport()
        with httpx.Client(transport=transport, base_url=moesif_collector.base_url) as client:
            client.post("/users", json={"user_id": "u1"}, headers=HEADERS)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    assert moesif_collector.wait_until_held(1, timeout=10)
    held_thread.append(thread)


def test_the_fixture_released_the_previous_tests_hold():
    held_thread[0].join(10)
    assert not held_thread[0].is_alive()
"""


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    registered = {ep.name: ep.value for ep in entry_points(group="pytest11")}

    assert registered.get("moesifapi") == "moesifapi.testing.pytest_plugin"


def test_a_users_test_suite_gets_the_moesif_collector_fixture(tmp_path: Path) -> None:
    (tmp_path / "test_with_sandbox.py").write_text(textwrap.dedent(USER_TESTS))

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_with_sandbox.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
