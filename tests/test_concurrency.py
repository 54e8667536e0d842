"""One client shared by many threads or tasks, over a real loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from moesifapi import AsyncMoesifClient, MoesifClient
from moesifapi.testing import Collector

APP_ID = "concurrency-app-id"


@pytest.fixture
def collector() -> Collector:
    return Collector(application_id=APP_ID)


@pytest.fixture
def base_url(collector: Collector) -> Iterator[str]:
    with collector.serve() as url:
        yield url


def a_user(worker: int, n: int) -> dict[str, object]:
    return {"user_id": f"w{worker}-u{n}", "metadata": {"worker": worker, "n": n}}


def test_one_sync_client_shared_by_8_threads_delivers_everything(
    collector: Collector, base_url: str
) -> None:
    with MoesifClient(application_id=APP_ID, base_url=base_url) as client:

        def work(worker: int) -> int:
            for n in range(50):
                client.update_user(a_user(worker, n))
            client.update_users_batch([a_user(worker, n) for n in range(50, 250)])
            return worker

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert sorted(pool.map(work, range(8))) == list(range(8))

    assert len(collector.users) == 8 * 250
    assert all(r.status == 201 for r in collector.requests)


@pytest.mark.slow  # a load test: CI runs it in its `pytest -m slow` step
async def test_one_async_client_shared_by_100_tasks_delivers_everything(
    collector: Collector, base_url: str
) -> None:
    async with AsyncMoesifClient(application_id=APP_ID, base_url=base_url) as client:

        async def work(task: int) -> None:
            for n in range(5):
                await client.update_user(a_user(task, n))
            await client.update_users_batch([a_user(task, n) for n in range(5, 25)])

        await asyncio.gather(*(work(t) for t in range(100)))

    assert len(collector.users) == 100 * 25
    assert all(r.status == 201 for r in collector.requests)
