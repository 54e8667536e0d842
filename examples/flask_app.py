"""Log a Flask app's API calls to Moesif with the WSGI middleware.

`MoesifMiddleware` wraps ``app.wsgi_app``: each request becomes one event, queued
and delivered in the background, with the user taken from a header, credentials
masked and the health check left out. Runs offline: it starts a sandbox collector,
serves the app on 127.0.0.1, makes a few requests and prints what the sandbox got.

    python examples/flask_app.py

In production, drop the sandbox and set MOESIF_APPLICATION_ID; under gunicorn the
client may be made at import, with ``--preload`` too: each worker delivers its own.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import httpx
from flask import Flask, request
from werkzeug.serving import WSGIRequestHandler, make_server

from moesifapi import MoesifClient
from moesifapi.integrations import CapturedRequest, CapturedResponse
from moesifapi.integrations.wsgi import MoesifMiddleware
from moesifapi.testing import Collector

app = Flask(__name__)


@app.get("/health")
def health() -> str:
    return "ok"


@app.get("/orders/<int:order_id>")
def get_order(order_id: int) -> dict[str, Any]:
    return {"id": order_id, "status": "shipped"}


@app.post("/orders")
def create_order() -> tuple[dict[str, Any], int]:
    return {"id": 42, **request.get_json()}, 201


@app.get("/report")
def report() -> str:
    return "a plain text report\n"


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # keep the demo's output to what the sandbox received


def user_from_header(req: CapturedRequest, resp: CapturedResponse | None) -> str | None:
    return req.headers.get("x-user-id")


def describe(event: dict[str, Any]) -> str:
    req, resp = event["request"], event["response"]
    path = "/" + req["uri"].split("/", 3)[3]
    body = resp.get("body")
    if resp.get("transfer_encoding") == "base64":
        body = base64.b64decode(body).decode()
    return (
        f"{req['verb']} {path} {resp['status']} user={event.get('user_id', '-')}"
        f" Authorization={req['headers'].get('Authorization', '-')} response={body!r}"
    )


def main() -> None:
    collector = Collector()
    with collector.serve() as collector_url:
        moesif = MoesifClient(application_id=collector.application_id, base_url=collector_url)
        app.wsgi_app = MoesifMiddleware(  # type: ignore[method-assign]
            app.wsgi_app,
            client=moesif,
            identify_user=user_from_header,
            skip_paths=["/health"],
        )
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}"
        print(f"serving the Flask app at {url}; the sandbox collector at {collector_url}")
        try:
            with httpx.Client(base_url=url, headers={"X-User-Id": "alice"}) as http:
                http.get("/health")
                http.get("/orders/7")
                http.post(
                    "/orders", json={"item": "book"}, headers={"Authorization": "Bearer secret"}
                )
                http.get("/report")
                http.get("/orders/8", headers={"X-User-Id": "bob"})
        finally:
            server.shutdown()
            thread.join()
        moesif.close()
        events = collector.events
        print(f"the sandbox received {len(events)} events (the health check is skipped):")
        for event in events:
            print("  " + describe(event))


if __name__ == "__main__":
    main()
