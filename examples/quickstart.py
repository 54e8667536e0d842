"""Quickstart: send every kind of Moesif data, sync and asyncio, then read the app config.

With no MOESIF_APPLICATION_ID set, this starts the bundled sandbox collector on
127.0.0.1 and sends there, so it runs offline with no account. With the variable set,
it sends to the real Moesif API (or to MOESIF_BASE_URL).

    python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from moesifapi import (
    ActionModel,
    ActionRequestModel,
    AsyncMoesifClient,
    BatchResult,
    CompanyModel,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    MoesifClient,
    SubscriptionModel,
    UserModel,
)
from moesifapi.testing import Collector


def api_call(n: int, user_id: str) -> EventModel:
    """An API call like the one in Moesif's API reference."""
    started = datetime.now(timezone.utc)
    return EventModel(
        request=EventRequestModel(
            time=started,
            uri=f"https://api.acmeinc.com/items/{n}/reviews/",
            verb="POST",
            api_version="1.1.0",
            ip_address="61.48.220.123",
            headers={"Host": "api.acmeinc.com", "Content-Type": "application/json"},
            body={"items": [{"item_id": f"item-{n}", "liked": n % 2 == 0}]},
        ),
        response=EventResponseModel(
            time=started + timedelta(milliseconds=42),
            status=201,
            headers={"Content-Type": "application/json; charset=utf-8"},
            body={"id": n},
        ),
        user_id=user_id,
        company_id="acme",
        metadata={"plan": "pro"},
    )


def profiles(user_id: str) -> tuple[UserModel, CompanyModel, ActionModel, SubscriptionModel]:
    return (
        UserModel(user_id=user_id, company_id="acme", metadata={"email": f"{user_id}@acme.test"}),
        CompanyModel(company_id="acme", company_domain="acme.test", metadata={"seats": 12}),
        ActionModel(
            action_name="Clicked Sign Up",
            user_id=user_id,
            request=ActionRequestModel(uri="https://acme.test/signup"),
        ),
        SubscriptionModel(subscription_id="sub-acme", company_id="acme", status="active"),
    )


def requests(batch: BatchResult) -> str:
    return "1 request" if batch.requests == 1 else f"{batch.requests} requests"


def send_sync(application_id: str, base_url: str | None) -> None:
    with MoesifClient(application_id=application_id, base_url=base_url) as client:
        client.create_event(api_call(0, "sync-user"))
        batch = client.create_events_batch([api_call(n, "sync-user") for n in range(1_000)])
        user, company, action, subscription = profiles("sync-user")
        client.update_user(user)
        client.update_company(company)
        client.create_action(action)
        client.update_subscription(subscription)
        config = client.get_app_config()
    print(f"sync:  1 + {batch.items} events in {requests(batch)}, profiles sent")
    print(f"       app config sample_rate={config.sample_rate} etag={config.etag}")


async def send_async(application_id: str, base_url: str | None) -> None:
    async with AsyncMoesifClient(application_id=application_id, base_url=base_url) as client:
        await client.create_event(api_call(0, "async-user"))
        batch = await client.create_events_batch([api_call(n, "async-user") for n in range(1_000)])
        user, company, action, subscription = profiles("async-user")
        await asyncio.gather(
            client.update_user(user),
            client.update_company(company),
            client.create_action(action),
            client.update_subscription(subscription),
        )
        config = await client.get_app_config()
    print(f"async: 1 + {batch.items} events in {requests(batch)}, profiles sent")
    print(f"       app config sample_rate={config.sample_rate} etag={config.etag}")


@contextlib.contextmanager
def target() -> Iterator[tuple[str, str | None, Collector | None]]:
    """The real API when MOESIF_APPLICATION_ID is set, else a sandbox on loopback."""
    application_id = os.environ.get("MOESIF_APPLICATION_ID")
    if application_id:
        yield application_id, os.environ.get("MOESIF_BASE_URL"), None
        return
    collector = Collector()
    with collector.serve() as base_url:
        print(f"No MOESIF_APPLICATION_ID set: using the sandbox collector at {base_url}")
        yield collector.application_id, base_url, collector


def main() -> None:
    started = time.perf_counter()
    with target() as (application_id, base_url, sandbox):
        send_sync(application_id, base_url)
        asyncio.run(send_async(application_id, base_url))
        if sandbox is not None:
            print(
                f"The sandbox holds {len(sandbox.events)} events, {len(sandbox.actions)} "
                f"actions, {len(sandbox.users)} users, {len(sandbox.companies)} company, "
                f"{len(sandbox.subscriptions)} subscription."
            )
    print(f"Done in {time.perf_counter() - started:.2f} s.")


if __name__ == "__main__":
    main()
