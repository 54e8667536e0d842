"""Helpers to drive either client from one async test body, and to record `on_error`."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from typing import Any, TypeAlias

from moesifapi import AsyncMoesifClient, MoesifClient

Client: TypeAlias = MoesifClient | AsyncMoesifClient


async def call(client: Client, method: str, *args: object) -> Any:
    """Call `method` on either client, awaiting it on the async one."""
    result = getattr(client, method)(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def close(client: Client) -> None:
    if isinstance(client, MoesifClient):
        client.close()
    else:
        await client.aclose()


class Errors:
    """An `on_error` callback that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[Exception, list[Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, error: Exception, items: Sequence[Any]) -> None:
        with self._lock:
            self.calls.append((error, list(items)))

    @property
    def items(self) -> list[Any]:
        return [item for _, batch in self.calls for item in batch]
