"""Helpers to drive either client from one async test body."""

from __future__ import annotations

import inspect
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
