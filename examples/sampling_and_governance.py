"""Sampling and governance: send the share of API calls the app's config asks for, and
see what its governance rules say about a request.

Runs offline: it starts the bundled sandbox collector on 127.0.0.1 and gives it a
config (keep 25 % of user-1's calls) and one rule (block the users on the free plan),
as Moesif's servers would.

    python examples/sampling_and_governance.py
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from moesifapi import EventModel, EventRequestModel, EventResponseModel, MoesifClient
from moesifapi.testing import Collector

FREE_PLAN_RULE = {
    "_id": "free-plan",
    "name": "No API access on the free plan",
    "type": "user",
    "block": True,
    "applied_to": "matching",
    "applied_to_unidentified": False,
    "variables": [{"name": "plan", "path": "user.metadata.plan"}],
    "response": {
        "status": 402,
        "headers": {"X-Plan": "{{plan}}"},
        "body": {"error": "The {{plan}} plan has no API access."},
    },
    "regex_config": [],
}


def api_call(n: int, user_id: str) -> EventModel:
    started = datetime.now(timezone.utc)
    return EventModel(
        request=EventRequestModel(
            time=started,
            uri=f"https://api.example.com/items/{n}",
            verb="GET",
            headers={"Accept": "application/json"},
        ),
        response=EventResponseModel(
            time=started + timedelta(milliseconds=12), status=200, headers={}
        ),
        user_id=user_id,
    )


def main() -> None:
    collector = Collector()
    collector.config = {
        **collector.config,
        "user_sample_rate": {"user-1": 25},
        "user_rules": {"user-free": [{"rules": "free-plan", "values": {"plan": "free"}}]},
    }
    collector.rules = [FREE_PLAN_RULE]
    with (
        collector.serve() as base_url,
        MoesifClient(
            application_id=collector.application_id, base_url=base_url, sampling=True
        ) as client,
    ):
        # Both calls return at once and start keeping config and rules fresh in the
        # background. A real app just goes on; this example waits for the first fetch
        # so that its output is the same every time.
        client.governance_rules()
        deadline = time.monotonic() + 10
        while not client.governance_rules() or client.app_config().etag is None:
            if time.monotonic() > deadline:
                raise SystemExit("the sandbox did not answer with the config and rules")
            time.sleep(0.01)

        config = client.app_config()
        print(f"user-1's sample rate: {config.sample_rate_for(api_call(0, 'user-1'))} %")
        for n in range(1000):
            client.queue_event(api_call(n, "user-1"))
        client.flush()
        weights = {event["weight"] for event in collector.events}
        sent, left_out = len(collector.events), client.stats.sampled_out
        print(f"queued 1000: sent {sent} with weight {weights}, sampled out {left_out}")

        request = api_call(1, "user-free").request
        rules = client.governance_rules()
        for user in ("user-free", "user-paid"):
            decision = rules.evaluate(request, user_id=user, config=config)
            if decision.blocked:
                print(
                    f"{user}: blocked by {decision.blocked_by!r} with {decision.status}, "
                    f"headers {dict(decision.headers)}, body {decision.body_bytes().decode()}"
                )
            else:
                print(f"{user}: allowed")


if __name__ == "__main__":
    main()
