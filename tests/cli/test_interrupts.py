"""Ctrl-C during `moesif send`, at several moments: nothing is ever lost track of.

The real command runs in a subprocess against a slowed sandbox; SIGINT is sent once a
given number of requests has arrived, so it lands while batches are in flight,
between batches, or while the next records are read from the spool. Every time, what was
confirmed plus what was saved is the whole input, and a rerun of the saved file
completes the set, each event under a single transaction id (Moesif deduplicates).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    APP_ID,
    RUN_TIMEOUT,
    MoesifRunner,
    Sandbox,
    clean_environment,
    moesif_command,
    read_ndjson,
    sigint_as_default,
    write_ndjson,
)

TOTAL = 3000


def events_without_ids(count: int) -> list[dict[str, Any]]:
    """`count` recent events with no transaction_id, told apart by their URI."""
    now = datetime.now(timezone.utc)
    return [
        {
            "request": {
                "time": (now - timedelta(seconds=count - number)).isoformat(),
                "uri": f"https://api.example.com/items/{number}",
                "verb": "GET",
                "headers": {},
            },
            "response": {"time": now.isoformat(), "status": 200, "headers": {}},
        }
        for number in range(count)
    ]


def interrupted_send(
    sandbox: Sandbox, tmp_path: Path, *, chunk_size: int, after_requests: int, pause: float
) -> str:
    """Run ``moesif send``, SIGINT it `pause` seconds after `after_requests` requests
    arrived; its stderr."""
    events = write_ndjson(tmp_path / "events.ndjson", events_without_ids(TOTAL))
    env = clean_environment(MOESIF_APPLICATION_ID=APP_ID, MOESIF_BASE_URL=sandbox.base_url)
    with subprocess.Popen(
        [*moesif_command(), "send", str(events), "--chunk-size", str(chunk_size)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
        preexec_fn=sigint_as_default,
    ) as process:
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while (
                len(sandbox.collector.requests) < after_requests
                and process.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.002)
            time.sleep(pause)
            assert process.poll() is None, "the send finished before it could be interrupted"
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=RUN_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, stderr
    return stderr


def transaction_ids_by_uri(sandbox: Sandbox) -> dict[str, set[str]]:
    stored: dict[str, set[str]] = defaultdict(set)
    for event in sandbox.collector.events:
        stored[event["request"]["uri"]].add(event["transaction_id"])
    return stored


@pytest.mark.parametrize(
    ("latency", "chunk_size", "after_requests", "pause"),
    [
        (0.2, 100, 1, 0.0),  # inside the first batch call
        pytest.param(0.05, 100, 6, 0.0, marks=pytest.mark.slow),  # a later call, or between two
        pytest.param(0.0, 20, 15, 0.0, marks=pytest.mark.slow),  # as the next, bigger chunks
        (0.0, 5, 40, 0.0),  # tiny chunks: between chunks, or reading
        pytest.param(0.01, 50, 25, 0.0, marks=pytest.mark.slow),
        # Several batches in flight at once (events go up to four at a time): some
        # answered, some not, and the next batches read from the spool.
        (0.05, 300, 1, 0.07),
        pytest.param(0.02, 100, 8, 0.0, marks=pytest.mark.slow),
    ],
)
def test_sent_plus_saved_is_the_input_and_a_rerun_completes_it(
    sandbox: Sandbox,
    tmp_path: Path,
    moesif: MoesifRunner,
    latency: float,
    chunk_size: int,
    after_requests: int,
    pause: float,
) -> None:
    sandbox.collector.latency = latency
    stderr = interrupted_send(
        sandbox, tmp_path, chunk_size=chunk_size, after_requests=after_requests, pause=pause
    )

    match = re.search(rf"delivery stopped after (\d+) of {TOTAL} events: interrupted", stderr)
    assert match, stderr
    confirmed = int(match.group(1))
    saved_path = tmp_path / "events.undelivered.ndjson"
    saved = read_ndjson(saved_path) if saved_path.exists() else []
    assert confirmed + len(saved) == TOTAL, stderr
    if saved:
        assert f"{len(saved)} events not delivered, saved to" in stderr
    assert all(record.get("transaction_id") for record in saved)

    all_uris = {f"https://api.example.com/items/{n}" for n in range(TOTAL)}
    saved_ids = {record["request"]["uri"]: record["transaction_id"] for record in saved}
    assert len(saved_ids) == len(saved)  # no record saved twice
    stored = transaction_ids_by_uri(sandbox)
    # What the server has and what was saved cover the input; a record may be in both
    # when its request reached the server but the answer did not reach us.
    assert set(stored) | set(saved_ids) == all_uris
    assert len(set(stored) - set(saved_ids)) == confirmed
    for uri in set(stored) & set(saved_ids):
        assert stored[uri] == {saved_ids[uri]}  # saved with the id it was sent with

    sandbox.collector.latency = 0.0
    rerun = moesif("send", str(saved_path)) if saved else None
    if rerun is not None:
        assert rerun.status == 0, rerun.stderr
    stored = transaction_ids_by_uri(sandbox)
    assert set(stored) == all_uris
    # Each event reached the server under one transaction id only, however many
    # times it was sent, so Moesif keeps one copy of each.
    assert all(len(ids) == 1 for ids in stored.values())
