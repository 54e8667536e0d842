"""One benchmark run in a fresh process; prints its measurements as one JSON line.

    python benchmarks/_worker.py SIDE WORKLOAD [--events N] [--base-url URL]

SIDE is ``ours``, ``official`` (run with the official SDK's virtualenv, where the
import name ``moesifapi`` is the official package) or ``limit`` (orjson on prebuilt
dicts). Only the standard library is imported at module level, so the same file runs
on both sides. `run.py` starts one of these per measurement, alternating sides.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import _events

WARMUP_OFFSET = 1_000_000  # warm-up events are other events, with other timestamps
WARMUP_EVENTS = 200


# --- building each side's models from the same inputs ---


def ours_builder() -> Callable[[dict[str, Any]], Any]:
    from moesifapi import EventModel, EventRequestModel, EventResponseModel

    def build(parts: dict[str, Any]) -> Any:
        return EventModel(
            request=EventRequestModel(**parts["request"]),
            response=EventResponseModel(**parts["response"]),
            user_id=parts["user_id"],
            session_token=parts["session_token"],
            transaction_id=parts["transaction_id"],
            metadata=parts["metadata"],
        )

    return build


def official_builder() -> Callable[[dict[str, Any]], Any]:
    from moesifapi.models import EventModel, EventRequestModel, EventResponseModel

    def build(parts: dict[str, Any]) -> Any:
        return EventModel(
            request=EventRequestModel(**parts["request"]),
            response=EventResponseModel(**parts["response"]),
            user_id=parts["user_id"],
            session_token=parts["session_token"],
            transaction_id=parts["transaction_id"],
            metadata=parts["metadata"],
        )

    return build


def builder(side: str) -> Callable[[dict[str, Any]], Any]:
    return official_builder() if side == "official" else ours_builder()


def serializer(side: str) -> Callable[[list[Any]], bytes]:
    if side == "official":
        from moesifapi.api_helper import APIHelper

        # What the official create_events_batch does before gzip: json.dumps, encode.
        return lambda models: APIHelper.json_serialize(models).encode("utf-8")
    from moesifapi import _wire, to_json

    # run.py sets MOESIFAPI_PURE_PYTHON for these sides; make sure it took.
    if side in ("ours-pure", "ours-stdlib") and _wire.SPEEDUPS:
        raise SystemExit(f"{side}: the C speed-up is still on")
    if side == "ours-stdlib":
        _wire._dumps = _wire._dumps_std  # the fallback path, as without orjson

    return to_json


def parts_list(count: int, offset: int = 0) -> list[dict[str, Any]]:
    return [_events.event_parts(offset + n) for n in range(count)]


def settle() -> None:
    """Pay, before the clock starts, the collection the setup's allocations made due:
    building 100,000 events leaves a full pass owed, which otherwise lands inside
    whichever side's timed call allocates first (by chance, not by its own work)."""
    gc.collect()


def timed(fn: Callable[[], object]) -> float:
    settle()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- workloads ---


def serialize(side: str, events: int) -> dict[str, float]:
    """(a) prebuilt models (or, for the limit, prebuilt dicts) to a batch body."""
    if side == "limit":
        import orjson

        warm = [_events.wire_dict(WARMUP_OFFSET + n) for n in range(WARMUP_EVENTS)]
        orjson.dumps(warm)
        dicts = [_events.wire_dict(n) for n in range(events)]
        return {"seconds": timed(lambda: orjson.dumps(dicts))}
    build = builder(side)
    dumps = serializer(side)
    dumps([build(p) for p in parts_list(WARMUP_EVENTS, WARMUP_OFFSET)])
    models = [build(p) for p in parts_list(events)]
    return {"seconds": timed(lambda: dumps(models))}


def build_and_serialize(side: str, events: int) -> dict[str, float]:
    """(b) from datetimes and dicts to a batch body: model construction included."""
    build = builder(side)
    dumps = serializer(side)
    dumps([build(p) for p in parts_list(WARMUP_EVENTS, WARMUP_OFFSET)])
    inputs = parts_list(events)
    return {"seconds": timed(lambda: dumps([build(p) for p in inputs]))}


def deliver(side: str, events: int, base_url: str) -> dict[str, float]:
    """(c) deliver prebuilt models through the batch call(s) to the loopback sink."""
    build = builder(side)
    models = [build(p) for p in parts_list(events)]
    warm = [build(p) for p in parts_list(WARMUP_EVENTS, WARMUP_OFFSET)]
    if side == "official":
        from moesifapi.configuration import Configuration

        from moesifapi.moesif_api_client import MoesifAPIClient

        Configuration.BASE_URI = base_url
        api = MoesifAPIClient("benchmark-application-id").api
        chunk = 10_000  # about our sub-batch size (12 MiB); one request per call

        def run() -> None:
            for start in range(0, len(models), chunk):
                api.create_events_batch(models[start : start + chunk])

        api.create_events_batch(warm)
        return {"seconds": timed(run)}

    from moesifapi import AsyncMoesifClient, MoesifClient
    from moesifapi import _constants as constants

    url = base_url + "/v1"
    level = int(side.rsplit("-gz", 1)[1]) if "-gz" in side else constants.GZIP_LEVEL
    if side.startswith("limit"):
        return {"seconds": _deliver_floor(events, url, level, isal=side.endswith("-isal1"))}
    if side in ("ours", "ours-zlib") or side.startswith("ours-gz"):
        with MoesifClient(
            application_id="benchmark-application-id", base_url=url, gzip_level=level
        ) as client:
            client.create_events_batch(warm)
            return {"seconds": timed(lambda: client.create_events_batch(models))}

    async def run_async() -> float:
        async with AsyncMoesifClient(
            application_id="benchmark-application-id", base_url=url
        ) as client:
            await client.create_events_batch(warm)
            settle()
            start = time.perf_counter()
            await client.create_events_batch(models)
            return time.perf_counter() - start

    return {"seconds": asyncio.run(run_async())}


def _deliver_floor(events: int, url: str, level: int, *, isal: bool = False) -> float:
    """The least a delivery can do: orjson on prebuilt wire dicts, 10,000 a request,
    gzip at `level` (by zlib, or with `isal` by ISA-L at level 1), one POST each to the
    sink; no validation, no retries."""
    import gzip

    import httpx
    import orjson

    if isal:
        from isal import isal_zlib

        def compress(data: bytes, level: int, mtime: int = 0) -> bytes:
            out: bytes = isal_zlib.compress(data, 1, 31)
            return out
    else:
        compress = gzip.compress

    dicts = [_events.wire_dict(n) for n in range(events)]
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with httpx.Client() as http:
        http.post(url + "/events/batch", content=compress(b"[]", level), headers=headers)

        def run() -> None:
            for start in range(0, len(dicts), 10_000):
                body = compress(orjson.dumps(dicts[start : start + 10_000]), level, mtime=0)
                http.post(url + "/events/batch", content=body, headers=headers)

        return timed(run)


def _ndjson_file(folder: str, name: str, count: int, offset: int = 0) -> str:
    """`count` events in the wire format, one JSON object per line, as a file."""
    path = f"{folder}/{name}"
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps(_events.wire_dict(offset + n), separators=(",", ":")) + "\n")
    return path


def _send_floor(path: str, url: str) -> None:
    """The least `moesif send` can do: check each line parses (orjson), batch the lines
    by bytes (12 MiB), gzip each body at the client's level, post it to the sink."""
    import gzip

    import httpx
    import orjson

    from moesifapi import _constants

    limit = 12 * 1024 * 1024
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "X-Moesif-Application-Id": "benchmark-application-id",
    }
    with httpx.Client() as http, open(path, "rb") as lines:

        def post(batch: list[bytes]) -> None:
            body = gzip.compress(
                b"[" + b",".join(batch) + b"]", compresslevel=_constants.GZIP_LEVEL, mtime=0
            )
            http.post(url + "/events/batch", content=body, headers=headers).raise_for_status()

        batch: list[bytes] = []
        used = 2
        for line in lines:
            line = line.strip()
            if not line:
                continue
            orjson.loads(line)
            if batch and used + len(line) + 1 > limit:
                post(batch)
                batch, used = [], 2
            batch.append(line)
            used += len(line) + 1
        if batch:
            post(batch)


def send(side: str, events: int, base_url: str) -> dict[str, float]:
    """(h) `moesif send` of an NDJSON file of `events` events to the sink, in this
    process; the limit is `_send_floor` on the same file."""
    import tempfile

    url = base_url + "/v1"
    with tempfile.TemporaryDirectory(prefix="moesif-bench-") as folder:
        warm = _ndjson_file(folder, "warm.ndjson", WARMUP_EVENTS, WARMUP_OFFSET)
        path = _ndjson_file(folder, "events.ndjson", events)
        if side == "limit":
            _send_floor(warm, url)
            return {"seconds": timed(lambda: _send_floor(path, url))}
        from moesifapi.cli import main as moesif

        def run(file: str) -> None:
            argv = ["send", file, "-q", "--application-id", "benchmark-application-id"]
            status = moesif([*argv, "--base-url", url])
            if status != 0:
                raise SystemExit(f"moesif send exited with {status}")

        run(warm)
        return {"seconds": timed(lambda: run(path))}


def _percentile(sorted_ns: list[int], share: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(share * len(sorted_ns)))] / 1e9


def queue(side: str, events: int, base_url: str) -> dict[str, float]:
    """(d) queue_event on the caller's thread, each call timed: with the worker
    draining to the sink ("ours"), and with the server stalled ("ours-stalled", the
    worker holding a batch in flight while the rest waits)."""
    import httpx

    from moesifapi import MoesifClient

    build = builder("ours")
    models = [build(p) for p in parts_list(events)]
    held = _HeldTransport() if side == "ours-stalled" else None
    http = httpx.Client(transport=held) if held is not None else None  # type: ignore[arg-type]
    with MoesifClient(
        application_id="benchmark-application-id",
        base_url=base_url + "/v1",
        max_queue_size=events + WARMUP_EVENTS,
        http_client=http,
    ) as client:
        for model in [build(p) for p in parts_list(WARMUP_EVENTS, WARMUP_OFFSET)]:
            client.queue_event(model)
        if held is None:
            client.flush(60)
        clock = time.perf_counter_ns
        calls: list[int] = []
        record = calls.append
        queue_event = client.queue_event
        settle()
        start = time.perf_counter()
        for model in models:
            before = clock()
            queue_event(model)
            record(clock() - before)
        queued = time.perf_counter()
        if held is not None:
            held.release.set()
        delivered = client.flush(120)
        done = time.perf_counter()
        if not delivered or client.stats.sent != events + WARMUP_EVENTS:
            raise SystemExit(f"queue benchmark lost events: {client.stats}")
    if http is not None:
        http.close()
    calls.sort()
    return {
        "per_call_seconds": (queued - start) / events,
        "p50_seconds": _percentile(calls, 0.50),
        "p99_seconds": _percentile(calls, 0.99),
        "max_seconds": calls[-1] / 1e9,
        "drain_seconds": done - start,
    }


def dicts(side: str, events: int) -> dict[str, float]:
    """(i) wire-format dicts (as parsed from JSON) to an events batch body, before gzip:
    ours validates them (`create_events_batch`'s plan); the official SDK serializes
    whatever it is given; the limit is orjson on the dicts."""
    warm = [_events.wire_dict(WARMUP_OFFSET + n) for n in range(WARMUP_EVENTS)]
    items = [_events.wire_dict(n) for n in range(events)]
    if side == "limit":
        import orjson

        orjson.dumps(warm)
        return {"seconds": timed(lambda: orjson.dumps(items))}
    if side == "official":
        from moesifapi.api_helper import APIHelper

        def official(batch: list[Any]) -> bytes:
            return APIHelper.json_serialize(batch).encode("utf-8")

        official(warm)
        return {"seconds": timed(lambda: official(items))}
    from moesifapi import EventModel, _wire

    if side in ("ours-pure",) and _wire.SPEEDUPS:
        raise SystemExit(f"{side}: the C speed-up is still on")
    _wire.encode_inputs(EventModel, warm)
    return {"seconds": timed(lambda: _wire.encode_inputs(EventModel, items))}


def split(side: str, events: int) -> dict[str, float]:
    """(e) the whole batch plan (validate, encode, split, join, gzip) at one size."""
    from moesifapi import _protocol as p

    core = p.Core(
        p.Settings.resolve(
            application_id="benchmark-application-id",
            base_url="http://127.0.0.1:9/v1",
            timeout=5.0,
            max_retries=0,
            gzip=True,
            max_batch_bytes=12 * 1024 * 1024,
        )
    )
    build = builder(side)
    core.plan_batch(p.EVENTS_BATCH, [build(x) for x in parts_list(WARMUP_EVENTS, WARMUP_OFFSET)])
    models = [build(x) for x in parts_list(events)]
    return {"seconds": timed(lambda: core.plan_batch(p.EVENTS_BATCH, models))}


def import_time(side: str, events: int) -> dict[str, float]:
    """(f) `import moesifapi` in this fresh process (interpreter start-up excluded)."""
    start = time.perf_counter()
    import moesifapi  # noqa: F401

    return {"seconds": time.perf_counter() - start}


def import_client_time(side: str, events: int) -> dict[str, float]:
    """(f) importing the package and getting its client class, ready to construct.

    Ours loads httpx only when a client is first asked for, so this is the import cost
    a program that sends anything pays; the official package loads `requests` up front.
    """
    start = time.perf_counter()
    if side == "official":
        from moesifapi import MoesifAPIClient  # noqa: F401
    else:
        from moesifapi import MoesifClient  # noqa: F401
    return {"seconds": time.perf_counter() - start}


class _HeldTransport:
    """An httpx transport whose every request waits until released (a stalled server)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def handle_request(self, request: Any) -> Any:
        import httpx

        self.release.wait(60)  # bounded: never hangs a benchmark
        return httpx.Response(201, request=request)

    def close(self) -> None:
        self.release.set()


def memory(side: str, events: int) -> dict[str, float]:
    """(g) memory held with `events` events waiting for delivery.

    Ours: queued with queue_event while the server stalls (the worker holds one batch
    in flight; the rest waits in the queue as encoded bytes). The official SDK has no
    queue, so its figure is what holding its models in a list until a batch call costs.
    """
    build = builder(side)
    gc.collect()
    if side == "official":
        tracemalloc.start()
        held = [build(_events.event_parts(n)) for n in range(events)]
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del held
        return {"current_bytes": current, "peak_bytes": peak}

    import httpx

    from moesifapi import MoesifClient

    transport = _HeldTransport()
    client = MoesifClient(
        application_id="benchmark-application-id",
        base_url="http://127.0.0.1:9/v1",
        max_queue_size=events,
        http_client=httpx.Client(transport=transport),  # type: ignore[arg-type]
    )
    tracemalloc.start()
    for n in range(events):
        client.queue_event(build(_events.event_parts(n)))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if client.stats.queued != events:
        raise SystemExit(f"memory benchmark dropped events: {client.stats}")
    transport.release.set()
    client.close()
    return {"current_bytes": current, "peak_bytes": peak}


WORKLOADS: dict[str, Callable[..., dict[str, float]]] = {
    "serialize": serialize,
    "build": build_and_serialize,
    "deliver": deliver,
    "queue": queue,
    "split": split,
    "import": import_time,
    "import-client": import_client_time,
    "memory": memory,
    "send": send,
    "dicts": dicts,
}
NEEDS_SERVER = {"deliver", "queue", "send"}


def _check_official_package() -> None:
    """Refuse a figure taken from anything but the official SDK's own virtualenv."""
    import moesifapi

    where = moesifapi.__file__ or ""
    if not where.startswith(sys.prefix):
        raise SystemExit(f"the official side imported moesifapi from {where}, not {sys.prefix}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "side",
        choices=[
            "ours",
            "ours-async",
            "ours-pure",
            "ours-stdlib",
            "ours-stalled",
            "ours-gz6",
            "ours-zlib",
            "official",
            "limit",
            "limit-gz1",
            "limit-gz6",
            "limit-isal1",
        ],
    )
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--base-url", default="")
    args = parser.parse_args()
    workload = WORKLOADS[args.workload]
    if args.workload in NEEDS_SERVER:
        result = workload(args.side, args.events, args.base_url)
    else:
        result = workload(args.side, args.events)
    if args.side == "official":
        _check_official_package()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
