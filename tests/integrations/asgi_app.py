"""A FastAPI app behind `MoesifMiddleware`, served by uvicorn in its own process.

test_asgi.py runs it with ``python -m uvicorn asgi_app:app --app-dir tests/integrations``.
It logs to the sandbox collector named by the environment:

- ``ASGI_TEST_BASE_URL``: the sandbox's base URL (``http://127.0.0.1:PORT/v1``);
- ``ASGI_TEST_APPLICATION_ID``: the application id;
- ``ASGI_TEST_FLUSH_INTERVAL``: the client's flush interval in seconds (default 0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, UploadFile
from fastapi.responses import PlainTextResponse, StreamingResponse

from moesifapi import AsyncMoesifClient
from moesifapi.integrations.asgi import MoesifMiddleware

client = AsyncMoesifClient(
    application_id=os.environ["ASGI_TEST_APPLICATION_ID"],
    base_url=os.environ["ASGI_TEST_BASE_URL"],
    flush_interval=float(os.environ.get("ASGI_TEST_FLUSH_INTERVAL", "0.1")),
)

state: dict[str, Any] = {"governed_calls": 0, "release": None}


def release_event() -> asyncio.Event:
    if state["release"] is None:
        state["release"] = asyncio.Event()
    event: asyncio.Event = state["release"]
    return event


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    client.governance_rules()  # start fetching the rules (and config) at startup
    yield


api = FastAPI(lifespan=lifespan)


@api.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@api.get("/steering")
async def steering() -> dict[str, object]:
    """Whether the client has fetched the rules and the config yet."""
    return {
        "rules": len(client.governance_rules()),
        "config": client.app_config().etag is not None,
    }


@api.post("/items", status_code=201)
async def create_item(request: Request) -> dict[str, object]:
    return {"created": await request.json()}


@api.post("/upload")
async def upload(file: UploadFile) -> dict[str, object]:
    data = await file.read()
    return {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


@api.get("/stream")
async def stream() -> StreamingResponse:
    release = release_event()
    release.clear()

    async def events() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await release.wait()  # set by POST /release once the caller read the first event
        yield b"data: second\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@api.post("/release")
async def release() -> dict[str, bool]:
    release_event().set()
    return {"released": True}


@api.get("/boom")
async def boom() -> None:
    raise RuntimeError("boom")


@api.get("/governed")
async def governed() -> PlainTextResponse:
    state["governed_calls"] += 1
    return PlainTextResponse("handled")


@api.get("/governed/calls")
async def governed_calls() -> dict[str, int]:
    return {"calls": state["governed_calls"]}


app = MoesifMiddleware(
    api,
    client=client,
    identify_user=lambda req, resp: req.headers.get("x-user-id"),
    skip_paths=["/health", "/steering", "/governed/calls"],
)
