"""The capture benchmark's in-process part: the middleware's cost on the app's path.

    python benchmarks/capture_inproc.py asgi|wsgi --variant ours|official \
        --sink URL --requests 5000 --rounds 7 [--profile]

A trivial app that echoes a 1 kB JSON request body as its 1 kB JSON answer is called
directly, with no server: ASGI with a scope, `receive` and `send`; WSGI with an
environ and `start_response`, the answer iterated and closed as a server would. Each
round times `--requests` calls of the bare app and as many of the same app inside the
middleware, in turns (the order swapped every round); the cost is the median over the
rounds of (wrapped - bare) per request. That is what the middleware adds on the
request's own path: capture, event built, queued. Delivery runs in the background, to
the local sink (for ASGI the loop gets a turn after every request, for both sides, as
under a server); after the timed rounds the queue is drained and the events the sink
took are counted. Runs under this project's virtualenv for ``ours`` and under
``benchmarks/.venv-official-middleware`` for ``official``. Prints one JSON line.
With ``--profile``, cProfile's top functions of the wrapped side instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import capture_guard
from capture_payload import APPLICATION_ID, PAYLOAD_BYTES

BODY = PAYLOAD_BYTES
LENGTH = str(len(BODY))


def _clocks() -> tuple[float, float, float]:
    return time.perf_counter(), time.thread_time(), time.process_time()


def _since(started: tuple[float, float, float]) -> tuple[float, float, float]:
    now = _clocks()
    return now[0] - started[0], now[1] - started[1], now[2] - started[2]


# --- ASGI ---

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/items",
    "raw_path": b"/items",
    "query_string": b"",
    "root_path": "",
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"capture-benchmark"),
        (b"accept", b"application/json"),
        (b"content-type", b"application/json"),
        (b"content-length", LENGTH.encode()),
        (b"x-user-id", b"alice"),
    ],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
    "state": {},
}
ANSWER_HEADERS = [(b"content-type", b"application/json"), (b"content-length", LENGTH.encode())]


async def echo_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": ANSWER_HEADERS})
    await send({"type": "http.response.body", "body": body})


async def drive_asgi(app: Any, n: int) -> tuple[float, float, float]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    sleep = asyncio.sleep
    started = _clocks()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
        await sleep(0)  # the loop's turn, as between requests under a server
    return _since(started)


async def asgi_main(args: argparse.Namespace) -> dict[str, Any]:
    if args.variant == "ours":
        from moesifapi import AsyncMoesifClient
        from moesifapi.integrations.asgi import MoesifMiddleware

        client = AsyncMoesifClient(
            application_id=APPLICATION_ID,
            base_url=f"{args.sink}/v1",
            flush_interval=args.flush_interval,
            max_queue_size=args.max_queue_size,
        )
        wrapped: Any = MoesifMiddleware(echo_asgi, client=client)

        async def drain() -> dict[str, int]:
            await client.flush(30)
            stats = client.stats
            await client.aclose()
            return {"queued": stats.queued, "sent": stats.sent, "dropped": stats.dropped}
    else:
        from moesifasgi import MoesifMiddleware as Official

        settings = {"APPLICATION_ID": APPLICATION_ID, "BASE_URI": args.sink, "LOG_BODY": True}
        wrapped = Official(echo_asgi, settings=settings)

        async def drain() -> dict[str, int]:
            await asyncio.sleep(3)  # its worker pool sends every second; no flush call
            return {}

    return await _rounds(args, lambda app, n: drive_asgi(app, n), echo_asgi, wrapped, drain)


# --- WSGI ---

ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "POST",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/items",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "CONTENT_TYPE": "application/json",
    "CONTENT_LENGTH": LENGTH,
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "capture-benchmark",
    "HTTP_ACCEPT": "application/json",
    "HTTP_X_USER_ID": "alice",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
}
WSGI_HEADERS = [("Content-Type", "application/json"), ("Content-Length", LENGTH)]


def echo_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", WSGI_HEADERS)
    return [body]


def drive_wsgi(app: Any, n: int) -> tuple[float, float, float]:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return None

    bytes_io = io.BytesIO
    started = _clocks()
    for _ in range(n):
        environ = dict(ENVIRON)
        environ["wsgi.input"] = bytes_io(BODY)
        result = app(environ, start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return _since(started)


async def wsgi_main(args: argparse.Namespace) -> dict[str, Any]:
    if args.variant == "ours":
        from moesifapi import MoesifClient
        from moesifapi.integrations.wsgi import MoesifMiddleware

        client = MoesifClient(
            application_id=APPLICATION_ID,
            base_url=f"{args.sink}/v1",
            flush_interval=args.flush_interval,
            max_queue_size=args.max_queue_size,
        )
        wrapped: Any = MoesifMiddleware(echo_wsgi, client=client)

        async def drain() -> dict[str, int]:
            client.flush(30)
            stats = client.stats
            client.close()
            return {"queued": stats.queued, "sent": stats.sent, "dropped": stats.dropped}
    else:
        from moesifwsgi import MoesifMiddleware as Official

        settings = {"APPLICATION_ID": APPLICATION_ID, "BASE_URI": args.sink, "LOG_BODY": True}
        wrapped = Official(echo_wsgi, settings)

        async def drain() -> dict[str, int]:
            await asyncio.sleep(3)  # its worker pool sends every 2 seconds; no flush call
            return {}

    async def drive(app: Any, n: int) -> tuple[float, float, float]:
        return drive_wsgi(app, n)

    return await _rounds(args, drive, echo_wsgi, wrapped, drain)


# --- both ---


async def _rounds(
    args: argparse.Namespace, drive: Any, bare: Any, wrapped: Any, drain: Any
) -> dict[str, Any]:
    await drive(bare, args.warmup)
    await drive(wrapped, args.warmup)
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        await drive(wrapped, args.requests)
        profile.disable()
        await drain()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
        return {"profile": out.getvalue()}
    clocks = ("wall", "thread", "process")
    samples: dict[str, dict[str, list[float]]] = {
        side: {clock: [] for clock in clocks} for side in ("bare", "wrapped")
    }
    for round_ in range(args.rounds):
        pair = [("bare", bare), ("wrapped", wrapped)]
        for side, app in pair if round_ % 2 == 0 else reversed(pair):
            times = await drive(app, args.requests)
            for clock, seconds in zip(clocks, times, strict=True):
                samples[side][clock].append(seconds / args.requests * 1e6)
    delivered = await drain()
    figures: dict[str, Any] = {}
    for clock in clocks:
        bare_us, wrapped_us = samples["bare"][clock], samples["wrapped"][clock]
        key = "" if clock == "wall" else f"_{clock}"
        figures[f"bare_us{key}"] = statistics.median(bare_us)
        figures[f"wrapped_us{key}"] = statistics.median(wrapped_us)
        figures[f"cost_us{key}"] = statistics.median(
            w - b for w, b in zip(wrapped_us, bare_us, strict=True)
        )
    return {
        **figures,
        "requests": args.requests * args.rounds + args.warmup,
        **delivered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("asgi", "wsgi"))
    parser.add_argument("--variant", choices=("ours", "official"), default="ours")
    parser.add_argument("--sink", required=True)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--flush-interval", type=float, default=5.0)
    parser.add_argument("--max-queue-size", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    if not capture_guard.is_loopback(args.sink.split("//", 1)[-1].rsplit(":", 1)[0]):
        raise SystemExit("--sink must be a loopback address")
    main_ = asgi_main if args.kind == "asgi" else wsgi_main
    result = asyncio.run(main_(args))
    if "profile" in result:
        print(result["profile"])
    else:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
