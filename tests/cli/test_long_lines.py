"""NDJSON lines past the per-record cap: an invalid record, never read into memory whole."""

from __future__ import annotations

import json
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

from cli_support import MoesifRunner, Sandbox

from moesifapi._constants import DEFAULT_MAX_BATCH_BYTES, MAX_EVENT_BYTES
from moesifapi.cli._checking import check_inputs
from moesifapi.cli._records import MAX_LINE_BYTES, InputFile
from moesifapi.cli._spool import Spool

HUGE_LINE_BYTES = 5 * 1024 * 1024


def event_line(number: int) -> bytes:
    now = datetime.now(timezone.utc).isoformat()
    event = {
        "request": {
            "time": now,
            "uri": f"https://api.example.com/items/{number}",
            "verb": "GET",
            "headers": {},
        },
        "response": {"time": now, "status": 200, "headers": {}},
    }
    return json.dumps(event).encode() + b"\n"


def file_with_a_huge_line(path: Path, *, newline: bool = True) -> Path:
    """Good events on lines 1-2 and 4-5, and on line 3 a 5 MB event, written in pieces."""
    with path.open("wb") as out:
        out.write(event_line(0) + event_line(1))
        out.write(b'{"request": {"verb": "GET", "uri": "https://api.example.com/')
        piece = b"x" * (1024 * 1024)
        for _ in range(HUGE_LINE_BYTES // len(piece)):
            out.write(piece)
        out.write(b'"}}' + (b"\n" if newline else b""))
        if newline:
            out.write(event_line(3) + event_line(4))
    return path


def test_the_line_cap_is_the_per_event_limit_and_a_little_more() -> None:
    assert MAX_EVENT_BYTES < MAX_LINE_BYTES <= MAX_EVENT_BYTES * 1.1


def test_a_huge_line_is_one_invalid_record_read_in_bounded_memory(tmp_path: Path) -> None:
    source = InputFile(file_with_a_huge_line(tmp_path / "big.ndjson"), "big.ndjson")

    tracemalloc.start()
    try:
        with Spool() as spool:
            checked = check_inputs(
                [source], None, max_item_bytes=DEFAULT_MAX_BATCH_BYTES, keep=spool.add
            )
            assert checked.kind is not None
            sent = [json.loads(item) for item in spool.items()]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert [str(problem) for problem in checked.problems] == [
        f"big.ndjson:3: line longer than {MAX_LINE_BYTES} bytes, the most one record may take"
    ]
    assert [event["request"]["uri"] for event in sent] == [
        f"https://api.example.com/items/{n}" for n in (0, 1, 3, 4)
    ]
    # The 5 MB line never sits in memory: at most one capped read of it does.
    assert peak < HUGE_LINE_BYTES // 2, peak


def test_a_file_without_a_newline_is_one_over_long_line(tmp_path: Path) -> None:
    path = file_with_a_huge_line(tmp_path / "one.ndjson", newline=False)
    source = InputFile(path, "one.ndjson")

    tracemalloc.start()
    try:
        checked = check_inputs([source], None, max_item_bytes=DEFAULT_MAX_BATCH_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert [str(problem.location) for problem in checked.problems] == ["one.ndjson:3"]
    assert checked.valid == 2
    assert peak < HUGE_LINE_BYTES // 2, peak


def test_send_refuses_a_huge_line_naming_it(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = file_with_a_huge_line(tmp_path / "big.ndjson")

    run = moesif("send", str(path))

    assert run.status == 2, run.stderr
    assert run.stderr_lines[0] == (
        f"{path}:3: line longer than {MAX_LINE_BYTES} bytes, the most one record may take"
    )
    assert run.stderr_lines[-1].startswith("moesif: error: 1 invalid record; nothing was sent")
    assert sandbox.collector.requests == []


def test_send_skip_invalid_sends_the_good_lines_around_a_huge_one(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = file_with_a_huge_line(tmp_path / "big.ndjson")

    run = moesif("send", "--skip-invalid", str(path))

    assert run.status == 0, run.stderr
    assert [event["request"]["uri"] for event in sandbox.collector.events] == [
        f"https://api.example.com/items/{n}" for n in (0, 1, 3, 4)
    ]
    assert "events: 4 sent, 1 skipped as invalid, 0 failed" in run.stderr
