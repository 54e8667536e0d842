"""Log the API calls your app makes itself, with an httpx transport.

`MoesifTransport` wraps httpx's own transport: every call through the httpx client is
queued as an "Outgoing" event on the Moesif client (credentials masked, bodies
captured as they stream, up to a cap), and failures are logged without a response
before their exception goes on. Calls to Moesif itself are never logged.

Runs offline: a sandbox collector and a tiny "third-party API" on 127.0.0.1.

    python examples/outgoing_httpx.py
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from moesifapi import MoesifClient
from moesifapi.integrations.httpx import MoesifTransport
from moesifapi.testing import Collector


class WeatherAPI(BaseHTTPRequestHandler):
    """The "third-party API" the app calls: GET /weather, POST /alerts."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, {"city": "Oslo", "celsius": 4})

    def do_POST(self) -> None:
        alert = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer(201, {"id": 7, "alert": alert})


@contextmanager
def weather_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WeatherAPI)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def a_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    collector = Collector()
    with (
        collector.serve() as moesif_url,
        weather_api() as api,
        MoesifClient(application_id=collector.application_id, base_url=moesif_url) as moesif,
    ):
        transport = MoesifTransport(client=moesif, identify_user=lambda req, res: "user-42")
        with httpx.Client(transport=transport, timeout=5) as http:
            print("GET /weather ->", http.get(f"{api}/weather").json())
            created = http.post(
                f"{api}/alerts",
                json={"level": "storm", "api_key": "k-123"},
                headers={"Authorization": "Bearer my-token"},
            )
            print("POST /alerts ->", created.status_code)
            try:
                http.get(f"http://127.0.0.1:{a_closed_port()}/down")
            except httpx.ConnectError as error:
                print("GET /down ->", type(error).__name__)
        moesif.flush(timeout=5)

    events = collector.events
    print(f"the sandbox got {len(events)} outgoing events:")
    for event in events:
        request, response = event["request"], event.get("response")
        status = response["status"] if response else "no response"
        auth = request["headers"].get("Authorization")
        print(
            f"  {event['direction']} {request['verb']} {request['uri']} -> {status}"
            f" user={event.get('user_id')}" + (f" Authorization={auth}" if auth else "")
        )
        if "body" in request:
            print(f"    request body: {json.dumps(request['body'])}")


if __name__ == "__main__":
    main()
