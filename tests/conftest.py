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

    async def async_sleep(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(MoesifClient, "_sleep", staticmethod(asked.append))
    monkeypatch.setattr(AsyncMoesifClient, "_sleep", staticmethod(async_sleep))
    return asked
