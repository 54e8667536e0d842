"""The FastAPI hello-world of the capture benchmark: ``GET /hello`` answers ~1 kB JSON.

Served by uvicorn as ``capture_fastapi_app:app`` from this folder. The variant comes
from the environment: ``CAPTURE_VARIANT`` is ``bare``, ``ours`` (this project's
`MoesifMiddleware`, run from the project's virtualenv) or ``official`` (moesifasgi, run
from ``benchmarks/.venv-official-middleware``); ``CAPTURE_SINK`` is the local
collector both middlewares deliver to. For ``capture.py --parts``, four variants of
ours stop partway: ``ours-adapter`` follows each exchange and records nothing;
``ours-drop`` writes each event and lets it go, unqueued (the capture alone);
``ours-nogzip`` queues and delivers with gzip off; ``ours-zlib`` gzips with the
standard library's zlib (``MOESIFAPI_STDLIB_GZIP=1``, set by `capture.py`) instead of
ISA-L.
"""

from __future__ import annotations

import os

import capture_guard  # noqa: F401  (first: loopback only)
from capture_payload import APPLICATION_ID, OURS, PAYLOAD, stop_partway
from fastapi import FastAPI

VARIANT = os.environ.get("CAPTURE_VARIANT", "bare")
SINK = os.environ.get("CAPTURE_SINK", "http://127.0.0.1:9")

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, object]:
    return PAYLOAD


if VARIANT in OURS:
    from moesifapi import AsyncMoesifClient
    from moesifapi.integrations.asgi import MoesifMiddleware

    assert hasattr(MoesifMiddleware, "_govern"), "not this project's middleware"
    client = AsyncMoesifClient(
        application_id=APPLICATION_ID, base_url=f"{SINK}/v1", gzip=VARIANT != "ours-nogzip"
    )
    stop_partway(client, VARIANT)
    app.add_middleware(MoesifMiddleware, client=client)
elif VARIANT == "official":
    from moesifasgi import MoesifMiddleware as OfficialMiddleware

    import moesifapi

    assert not hasattr(moesifapi, "MoesifClient"), "this project's moesifapi shadows the official"
    settings = {"APPLICATION_ID": APPLICATION_ID, "BASE_URI": SINK, "LOG_BODY": True}
    app.add_middleware(OfficialMiddleware, settings=settings)
elif VARIANT != "bare":
    raise SystemExit(f"unknown CAPTURE_VARIANT {VARIANT!r}")
