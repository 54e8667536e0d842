"""Log a FastAPI app's API calls to Moesif with the ASGI middleware.

`MoesifMiddleware` wraps the app (any ASGI app: FastAPI, Starlette, Litestar, ...),
turns each call into an event and queues it; a background task delivers them. A
governance rule blocks one user before the app is called. The client is flushed at
the lifespan's shutdown, so nothing queued is lost when uvicorn stops.

Runs offline: it starts the bundled sandbox collector on 127.0.0.1, serves the app
with uvicorn on 127.0.0.1, makes a few calls with httpx and prints what the sandbox
received.

    python examples/fastapi_app.py
"""

from __future__ import annotations

import asyncio
import time

import httpx
import uvicorn
from fastapi import FastAPI, Request

from moesifapi import AsyncMoesifClient
from moesifapi.integrations.asgi import MoesifMiddleware
from moesifapi.testing import Collector

BLOCK_MALLORY = {
    "_id": "block-mallory",
    "name": "Out of credit",
    "type": "user",
    "block": True,
    "applied_to": "matching",
    "applied_to_unidentified": False,
    "response": {"status": 402, "headers": {}, "body": {"error": "out of credit"}},
    "regex_config": [],
}


def build_app(client: AsyncMoesifClient) -> MoesifMiddleware:
    api = FastAPI()

    @api.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @api.post("/items", status_code=201)
    async def create_item(request: Request) -> dict[str, object]:
        return {"created": await request.json()}

    @api.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, object]:
        return {"id": item_id, "name": "widget"}

    return MoesifMiddleware(
        api,
        client=client,
        # Hooks get typed views of the request (and the response, None before the app).
        identify_user=lambda request, response: request.headers.get("x-user-id"),
        skip_paths=["/health"],
    )


async def demo(base_url: str, application_id: str) -> None:
    client = AsyncMoesifClient(application_id=application_id, base_url=base_url)
    config = uvicorn.Config(
        build_app(client), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            raise SystemExit("uvicorn did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    # The rules are fetched in the background on first use; a real app just goes on.
    # This demo waits for them so that its output is the same every time.
    deadline = time.monotonic() + 10
    while not client.governance_rules() or client.app_config().etag is None:
        if time.monotonic() > deadline:
            raise SystemExit("the sandbox did not answer with the rules")
        await asyncio.sleep(0.01)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        await http.get("/health")  # skipped: not logged
        created = await http.post(
            "/items",
            json={"name": "widget"},
            headers={"X-User-Id": "alice", "Authorization": "Bearer not-logged"},
        )
        print(
            f"POST /items: {created.status_code}, transaction id "
            f"{created.headers['x-moesif-transaction-id']}"
        )
        await http.get("/items/1", headers={"X-User-Id": "bob"})
        blocked = await http.get("/items/2", headers={"X-User-Id": "mallory"})
        print(f"mallory: {blocked.status_code} {blocked.json()}")

    server.should_exit = True  # the lifespan's shutdown flushes the client
    await serving
    await client.aclose()


def main() -> None:
    collector = Collector()
    collector.rules = [BLOCK_MALLORY]
    collector.config = {
        **collector.config,
        "user_rules": {"mallory": [{"rules": "block-mallory", "values": {}}]},
    }
    with collector.serve() as base_url:
        asyncio.run(demo(base_url, collector.application_id))
    events = collector.events
    print(f"the sandbox received {len(events)} events:")
    for event in events:
        request, response = event["request"], event["response"]
        path = request["uri"].split("://", 1)[1].split("/", 1)[1]
        line = f"  {request['verb']} /{path} -> {response['status']} user={event.get('user_id')}"
        if "blocked_by" in event:
            line += f" blocked_by={event['blocked_by']}"
        print(line)
        if "authorization" in request["headers"]:
            print(f"    Authorization logged as {request['headers']['authorization']!r}")


if __name__ == "__main__":
    main()
