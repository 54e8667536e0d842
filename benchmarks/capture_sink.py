"""The collector for the capture benchmark: `_sink.py`'s loop, with counters.

    python benchmarks/capture_sink.py

Prints ``http://127.0.0.1:PORT`` first; serves HTTP/1.1 keep-alive on 127.0.0.1
only. A POST (a batch of events) is read whole and answered 201 ``{}``; a GET is
answered 200 with an empty config (``{}``) or, for ``/v1/rules``, no rules (``[]``),
so both SDKs run with sampling at 100% and no governance rule. Nothing is parsed or
kept. When its standard input closes (or after ``--lifetime`` seconds) it prints one
JSON line of counts, requests and bytes per method and path, and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

_MAX_HEAD = 64 * 1024


def _answer(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_CREATED = _answer(b"201 Created", b"{}")
_CONFIG = _answer(b"200 OK", b"{}")
_RULES = _answer(b"200 OK", b"[]")

requests: Counter[str] = Counter()
received: Counter[str] = Counter()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.split(b"\r\n")
            method, _, rest = lines[0].partition(b" ")
            path = rest.partition(b" ")[0].split(b"?", 1)[0].decode("latin-1")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            remaining = length
            while remaining:
                chunk = await reader.read(min(remaining, 1 << 20))
                if not chunk:
                    return
                remaining -= len(chunk)
            key = f"{method.decode('latin-1')} {path}"
            requests[key] += 1
            received[key] += length
            if method == b"GET":
                writer.write(_RULES if path.endswith("/rules") else _CONFIG)
            else:
                writer.write(_CREATED)
            await writer.drain()
    except (ConnectionError, ValueError):
        return
    finally:
        writer.close()


async def _main(lifetime: float) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, limit=_MAX_HEAD)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stdin_closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    async with server:
        await asyncio.wait({stdin_closed}, timeout=lifetime)
    server.close()
    print(json.dumps({"requests": requests, "bytes": received}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetime", type=float, default=900.0)
    asyncio.run(_main(parser.parse_args().lifetime))


if __name__ == "__main__":
    main()
