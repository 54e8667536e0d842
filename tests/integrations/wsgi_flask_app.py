"""A Flask app behind the WSGI `MoesifMiddleware`, served by gunicorn in its own process.

test_wsgi.py runs it with ``gunicorn --preload -w 3 --chdir tests/integrations
wsgi_flask_app:app``: the client is made here, in gunicorn's master, before the fork.
It logs to the sandbox collector named by the environment:

- ``WSGI_TEST_BASE_URL``: the sandbox's base URL (``http://127.0.0.1:PORT/v1``);
- ``WSGI_TEST_APPLICATION_ID``: the application id;
- ``WSGI_TEST_FLUSH_INTERVAL``: the client's flush interval in seconds (default 0.2).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, request, stream_with_context

from moesifapi import MoesifClient
from moesifapi.integrations import CapturedRequest, CapturedResponse
from moesifapi.integrations.wsgi import MoesifMiddleware

client = MoesifClient(
    application_id=os.environ["WSGI_TEST_APPLICATION_ID"],
    base_url=os.environ["WSGI_TEST_BASE_URL"],
    flush_interval=float(os.environ.get("WSGI_TEST_FLUSH_INTERVAL", "0.2")),
)

app = Flask(__name__)


@app.get("/health")
def health() -> str:
    return "ok"


@app.get("/hello/<int:n>")
def hello(n: int) -> str:
    return f"hello {n}"


@app.post("/json")
def echo_json() -> dict[str, Any]:
    return {"got": request.get_json()}


@app.post("/upload")
def upload() -> dict[str, Any]:
    data = request.get_data()
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@app.get("/stream")
def stream() -> Response:
    """Yields one chunk, then waits (boundedly) for the client to say it got it by
    creating the file named in ``?signal=``: a buffering middleware never would."""
    signal = Path(request.args["signal"])

    def chunks() -> Iterator[str]:
        yield "first\n"
        deadline = time.monotonic() + 5
        while not signal.exists():
            if time.monotonic() > deadline:
                yield "timed out\n"
                return
            time.sleep(0.01)
        yield "second\n"
        yield "third\n"

    return Response(stream_with_context(chunks()), mimetype="text/plain")


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("the handler failed")


def user_from_header(req: CapturedRequest, resp: CapturedResponse | None) -> str | None:
    return req.headers.get("x-user-id")


def worker_pid(req: CapturedRequest, resp: CapturedResponse | None) -> dict[str, Any]:
    return {"pid": os.getpid()}


app.wsgi_app = MoesifMiddleware(  # type: ignore[method-assign]
    app.wsgi_app,
    client=client,
    skip_paths=["/health"],
    identify_user=user_from_header,
    metadata=worker_pid,
)
