"""Fixtures for the `moesif` command's tests: a sandbox on a real socket, and a runner.

Every test runs the installed ``moesif`` console script in a subprocess (falling back
to ``python -m moesifapi.cli`` if the script is missing) against a sandbox collector
served on 127.0.0.1; every run and every wait has a time limit.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import APP_ID, FIXTURES, MoesifRunner, Sandbox, make_runner

from moesifapi.testing import Collector


@pytest.fixture(autouse=True)
def fixtures_stay_untouched() -> Iterator[None]:
    """No test may leave files (an undelivered file, say) among the committed fixtures."""
    before = sorted(FIXTURES.rglob("*"))
    yield
    assert sorted(FIXTURES.rglob("*")) == before


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh collector served on 127.0.0.1, stopped when the test ends."""
    collector = Collector(APP_ID)
    try:
        with collector.serve() as base_url:
            yield Sandbox(collector, base_url)
    finally:
        collector.release()


@pytest.fixture
def moesif(sandbox: Sandbox, tmp_path: Path) -> MoesifRunner:
    """Runs ``moesif ARGS...`` in `tmp_path`, pointed at the sandbox by environment.

    ``stdin`` feeds standard input; ``env`` replaces the MOESIF_* variables.
    """
    return make_runner(sandbox, tmp_path)


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
