"""Fixtures shared by the client, queue and sandbox tests."""

from __future__ import annotations

import pytest

from moesifapi import AsyncMoesifClient, MoesifClient


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
