"""The Flask hello-world of the capture benchmark: ``GET /hello`` answers ~1 kB JSON.

Served by gunicorn as ``capture_flask_app:app`` from this folder; ``CAPTURE_VARIANT``
(``bare``, ``ours``, ``official`` for moesifwsgi) and ``CAPTURE_SINK`` as in
`capture_fastapi_app`, and the same variants of ours for ``capture.py --parts``.
Each gunicorn worker imports this after the fork, so each has its own client and
queue.
"""

from __future__ import annotations

import os

import capture_guard  # noqa: F401  (first: loopback only)
from capture_payload import APPLICATION_ID, OURS, PAYLOAD, stop_partway
from flask import Flask

VARIANT = os.environ.get("CAPTURE_VARIANT", "bare")
SINK = os.environ.get("CAPTURE_SINK", "http://127.0.0.1:9")

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, object]:
    return PAYLOAD


if VARIANT in OURS:
    from moesifapi import MoesifClient
    from moesifapi.integrations.wsgi import MoesifMiddleware

    client = MoesifClient(
        application_id=APPLICATION_ID, base_url=f"{SINK}/v1", gzip=VARIANT != "ours-nogzip"
    )
    stop_partway(client, VARIANT)
    app.wsgi_app = MoesifMiddleware(app.wsgi_app, client=client)  # type: ignore[method-assign]
elif VARIANT == "official":
    from moesifwsgi import MoesifMiddleware as OfficialMiddleware

    import moesifapi

    assert not hasattr(moesifapi, "MoesifClient"), "this project's moesifapi shadows the official"
    settings = {"APPLICATION_ID": APPLICATION_ID, "BASE_URI": SINK, "LOG_BODY": True}
    app.wsgi_app = OfficialMiddleware(app.wsgi_app, settings)  # type: ignore[method-assign]
elif VARIANT != "bare":
    raise SystemExit(f"unknown CAPTURE_VARIANT {VARIANT!r}")
