"""The load generator of the capture benchmark: GET a URL over N connections for a while.

    python benchmarks/capture_load.py http://127.0.0.1:PORT/hello \
        --connections 12 --warmup 1 --duration 4

One process, one asyncio loop, N connections each sending its next request when the
last answer is in (HTTP/1.1 keep-alive; a server that closes, as gunicorn's sync
workers do, gets a new connection). Requests are written as fixed bytes and answers
read by ``Content-Length``: a client this thin costs the server's cores as little as
a Python client can (httpx spends several times more per request, and would be what
was measured). Warm-up requests are not in the rate (their
count is reported apart). Bounded by ``--duration`` and by
``--max-requests``; the host must be a loopback address. Prints one JSON line:
requests per second, answers counted, errors, seconds. With ``--serve`` it takes one
run after another from its standard input instead (`serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

import capture_guard


class Tally:
    def __init__(self, limit: int) -> None:
        self.ok = 0
        self.bad = 0
        self.errors = 0
        self.limit = limit


async def _connection(
    host: str, port: int, request: bytes, deadline: float, tally: Tally, counting: bool
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < deadline and tally.ok + tally.bad < tally.limit:
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                status = int(lines[0].split(b" ", 2)[1])
                length = 0
                close = False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                await reader.readexactly(length)
                if counting:
                    if status == 200:
                        tally.ok += 1
                    else:
                        tally.bad += 1
                if close:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                if counting:
                    tally.errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
    finally:
        if writer is not None:
            writer.close()


async def _phase(
    host: str,
    port: int,
    request: bytes,
    connections: int,
    seconds: float,
    tally: Tally,
    counting: bool,
) -> float:
    started = time.perf_counter()
    deadline = started + seconds
    tasks = [
        _connection(host, port, request, deadline, tally, counting) for _ in range(connections)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 30)
    return time.perf_counter() - started


async def run(
    url: str, connections: int, warmup: float, duration: float, max_requests: int
) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if not capture_guard.is_loopback(host):
        raise SystemExit(f"{host} is not a loopback address")
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "User-Agent: capture-benchmark\r\nAccept: application/json\r\n\r\n"
    ).encode("latin-1")
    warm = Tally(max_requests)
    if warmup > 0:
        await _phase(host, port, request, connections, warmup, warm, True)
    tally = Tally(max_requests)
    elapsed = await _phase(host, port, request, connections, duration, tally, True)
    return {
        "rps": tally.ok / elapsed,
        "ok": tally.ok,
        "bad": tally.bad,
        "errors": tally.errors,
        "seconds": elapsed,
        "warmup_answers": warm.ok + warm.bad,
    }


def serve(connections: int, max_requests: int, max_runs: int) -> None:
    """One timed run per line of standard input (``{"url": ..., "duration": ...}``),
    one JSON line of results per run, until the input ends or `max_runs` were made:
    the benchmark's many short runs with no interpreter started for each."""
    import sys

    for runs, line in enumerate(sys.stdin):
        if runs >= max_runs:
            raise SystemExit(f"more than {max_runs} runs asked for")
        order = json.loads(line)
        duration = float(order["duration"])
        if not 0 < duration <= 60:
            raise SystemExit("a run's duration must be in (0, 60] seconds")
        result = asyncio.run(run(str(order["url"]), connections, 0, duration, max_requests))
        print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--connections", type=int, default=12)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--max-requests", type=int, default=500_000)
    parser.add_argument(
        "--serve", action="store_true", help="take runs from standard input (see `serve`)"
    )
    parser.add_argument("--max-runs", type=int, default=2_000)
    args = parser.parse_args()
    if args.serve:
        serve(args.connections, args.max_requests, args.max_runs)
        return
    if args.url is None:
        parser.error("a URL is needed, or --serve")
    if not 0 < args.duration <= 60 or not 0 <= args.warmup <= 30:
        raise SystemExit("--duration must be in (0, 60] and --warmup in [0, 30] seconds")
    result = asyncio.run(
        run(args.url, args.connections, args.warmup, args.duration, args.max_requests)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
