"""Relay Segment webhooks into Moesif: Segment posts a batch, Moesif gets users and actions.

Runs offline: the sandbox collector stands in for Moesif and urllib for Segment.

    python examples/segment_relay.py
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from moesifapi import MoesifClient
from moesifapi.segment import relay_app
from moesifapi.testing import Collector

SHARED_SECRET = "example-write-key"

# What Segment's tracking API (and its libraries) post to /v1/batch.
SEGMENT_BATCH = {
    "batch": [
        {
            "type": "identify",
            "messageId": "msg-1",
            "userId": "userId123",
            "timestamp": "2024-05-01T12:00:00Z",
            "traits": {
                "first_name": "John",
                "last_name": "Doe",
                "email": "john@example.com",
                "company": {"id": "67890", "plan": "Free"},
            },
        },
        {
            "type": "track",
            "messageId": "msg-2",
            "userId": "userId123",
            "timestamp": "2024-05-01T12:00:05Z",
            "event": "Login Button Clicked",
            "properties": {"button": "primary"},
        },
        {"type": "page", "messageId": "msg-3", "userId": "userId123", "name": "Pricing"},
    ],
    "context": {"ip": "203.0.113.9"},  # batch-wide: applies to every message
}


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def post_as_segment(url: str, payload: object) -> dict[str, Any]:
    """POST like Segment's libraries do: JSON, Basic auth with the write key as username."""
    credentials = base64.b64encode(f"{SHARED_SECRET}:".encode()).decode()
    request = urllib.request.Request(
        url + "/v1/batch",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {credentials}"},
    )
    # Straight to 127.0.0.1, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        report: dict[str, Any] = json.loads(answer.read())
        return report


def main() -> None:
    sandbox = Collector()
    with sandbox.serve() as moesif_url:
        client = MoesifClient(application_id=sandbox.application_id, base_url=moesif_url)
        relay = make_server(
            "127.0.0.1",
            0,
            relay_app(client, shared_secret=SHARED_SECRET),
            handler_class=QuietHandler,
        )
        serving = threading.Thread(target=relay.serve_forever, daemon=True)
        serving.start()
        relay_url = f"http://127.0.0.1:{relay.server_port}"
        print(f"relay at {relay_url}, forwarding to the sandbox at {moesif_url}")

        report = post_as_segment(relay_url, SEGMENT_BATCH)
        print(f"the relay answered: {json.dumps(report)}")

        relay.shutdown()
        serving.join(timeout=5)
        relay.server_close()
        client.close()  # delivers what the relay queued

    user = sandbox.users["userId123"]
    company = sandbox.companies["67890"]
    (action,) = sandbox.actions
    print(f"user {user['user_id']}: company {user['company_id']}, ip {user['ip_address']}")
    print(f"  metadata {json.dumps(user['metadata'])}")
    print(f"company {company['company_id']}: metadata {json.dumps(company['metadata'])}")
    print(f"action {action['action_name']!r} at {action['request']['time']}")
    print(
        f"the sandbox holds {len(sandbox.users)} user, {len(sandbox.companies)} company"
        f" and {len(sandbox.actions)} action; the page call was skipped"
    )


if __name__ == "__main__":
    main()
