"""Send to Moesif from ordinary blocking code, and handle what can go wrong.

Runs offline against the sandbox collector unless MOESIF_APPLICATION_ID is set.

    python examples/send_sync.py
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import moesifapi
from moesifapi import MoesifClient
from moesifapi.testing import Collector


def send(client: MoesifClient) -> None:
    # Plain dicts in the API's own format are validated exactly like models.
    result = client.update_user(
        {"user_id": "user-42", "metadata": {"email": "ada@example.com", "plan": "pro"}}
    )
    print(f"user updated: HTTP {result.status_code}, config etag {result.config_etag}")

    now = datetime.now(timezone.utc)
    events = [
        {
            "request": {
                "time": now,
                "uri": f"https://api.example.com/v1/items/{n}",
                "verb": "GET",
                "headers": {"Accept": "application/json"},
            },
            "response": {"time": now, "status": 200, "headers": {}, "body": {"id": n}},
            "user_id": "user-42",
        }
        for n in range(500)
    ]
    batch = client.create_events_batch(events)
    requests = "1 request" if batch.requests == 1 else f"{batch.requests} requests"
    print(f"{batch.items} events went out in {requests}")

    try:
        client.update_company({"company_id": "", "company_domain": "example.com"})
    except moesifapi.ValidationError as error:
        print(f"rejected before sending: {error} (field {error.field!r})")

    try:
        client.create_events_batch(events)
    except moesifapi.PartialBatchError as error:
        # Some sub-batches went out; resend only the rest later.
        print(f"{len(error.delivered)} delivered, {len(error.undelivered)} to retry")
    except moesifapi.RateLimitError as error:
        print(f"still rate limited after retries: {error.status_code}")
    except moesifapi.APIConnectionError as error:
        print(f"Moesif unreachable: {error}")


def main() -> None:
    if os.environ.get("MOESIF_APPLICATION_ID"):
        with MoesifClient() as client:
            send(client)
        return
    collector = Collector()
    with (
        collector.serve() as base_url,
        MoesifClient(application_id=collector.application_id, base_url=base_url) as client,
    ):
        send(client)
    print(f"the sandbox holds {len(collector.events)} events and {len(collector.users)} user")


if __name__ == "__main__":
    main()
