"""Send to Moesif from asyncio code: one client shared by many tasks.

Runs offline against the sandbox collector unless MOESIF_APPLICATION_ID is set.

    python examples/send_async.py
"""

from __future__ import annotations

import asyncio
import os

import moesifapi
from moesifapi import ActionModel, ActionRequestModel, AsyncMoesifClient
from moesifapi.testing import Collector


async def signup(client: AsyncMoesifClient, n: int) -> None:
    user_id = f"user-{n}"
    await client.update_user({"user_id": user_id, "company_id": "acme"})
    await client.create_action(
        ActionModel(
            action_name="Signed Up",
            user_id=user_id,
            request=ActionRequestModel(uri="https://app.example.com/signup"),
        )
    )


async def send(client: AsyncMoesifClient) -> None:
    await asyncio.gather(*(signup(client, n) for n in range(50)))
    print("50 sign-ups sent concurrently through one client")
    rules = await client.get_governance_rules()
    print(f"{len(rules)} governance {'rule' if len(rules) == 1 else 'rules'}, tag {rules.tag}")
    try:
        await client.update_subscription({"subscription_id": "sub-1"})
    except moesifapi.ValidationError as error:
        print(f"rejected before sending: {error}")


async def main() -> None:
    if os.environ.get("MOESIF_APPLICATION_ID"):
        async with AsyncMoesifClient() as client:
            await send(client)
        return
    collector = Collector()
    with collector.serve() as base_url:
        async with AsyncMoesifClient(
            application_id=collector.application_id, base_url=base_url
        ) as client:
            await send(client)
    print(f"the sandbox holds {len(collector.users)} users and {len(collector.actions)} actions")


if __name__ == "__main__":
    asyncio.run(main())
