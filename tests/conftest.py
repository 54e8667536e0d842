"""Fixtures shared by the client, queue and sandbox tests."""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

import moesifapi
from moesifapi import AsyncMoesifClient, MoesifClient


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile the package once, as a regular install does: the suite starts the
    `moesif` command and example scripts in a few hundred subprocesses, and an
    editable install under PYTHONDONTWRITEBYTECODE=1 would have each of them compile
    every module again. Up-to-date caches are left alone; two xdist workers writing
    one at once is safe (each is written to a temporary name and moved into place)."""
    compileall.compile_dir(Path(moesifapi.__file__).parent, quiet=1)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Run the test once with `MoesifClient` and once with `AsyncMoesifClient`."""
    return str(request.param)


@pytest.fixture
def backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries still happen, but both clients' backoff waits are recorded, not waited."""
    asked: list[float] = []

    def sleep(client: object, seconds: float) -> bool:
        asked.append(seconds)
        return False  # slept in full: no close woke it

    async def async_sleep(client: object, seconds: float) -> bool:
        return sleep(client, seconds)

    monkeypatch.setattr(MoesifClient, "_sleep", sleep)
    monkeypatch.setattr(AsyncMoesifClient, "_sleep", async_sleep)
    return asked
