"""A minimal collector for the delivery benchmarks: accept any POST, answer 201.

Run as its own process (so it never competes with a client for the GIL):

    python benchmarks/_sink.py [--port 0]

It prints ``http://127.0.0.1:PORT`` on its first line, then serves HTTP/1.1 with
keep-alive on 127.0.0.1 only. It reads each body whole (``Content-Length``) and
throws it away: no decompression, no parsing, no storage. That keeps the server's
share of the time near zero, so a delivery benchmark measures the client. The
sandbox collector (`moesifapi.testing`) validates and stores every item and would
dominate. It stops by itself after ``--lifetime`` seconds (default 15 minutes) or
when its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

_RESPONSE = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
_MAX_HEAD = 64 * 1024


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            remaining = length
            while remaining:
                chunk = await reader.read(min(remaining, 1 << 20))
                if not chunk:
                    return
                remaining -= len(chunk)
            writer.write(_RESPONSE)
            await writer.drain()
    except (ConnectionError, ValueError):
        return
    finally:
        writer.close()


async def _main(port: int, lifetime: float) -> None:
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", port, limit=_MAX_HEAD)
    bound = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{bound}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)  # returns at EOF
    async with server:
        await asyncio.wait({stdin_closed}, timeout=lifetime)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=900.0)
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.lifetime))


if __name__ == "__main__":
    main()
