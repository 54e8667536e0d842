"""`moesif send` checks a large NDJSON file in parts, side by side in forked processes.

Each test runs the real command on a small file with the size threshold lowered
(MOESIF_CLI_PARALLEL_MIN_BYTES, internal) and a set number of parts, through
parallel_driver.py, which has each child tell its pid and can make it fail. What the
run says and sends is compared with the single pass over the same file: the same
stderr, byte for byte, and the same records at the sandbox in the same order.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import select
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_support import APP_ID, RUN_TIMEOUT, Run, Sandbox, clean_environment

from moesifapi.cli._spool import Spool

DRIVER = Path(__file__).with_name("parallel_driver.py")
SINGLE_PASS = {"MOESIF_CLI_PARALLEL_MIN_BYTES": str(1 << 60)}


def in_parts(parts: int) -> dict[str, str]:
    return {"MOESIF_CLI_PARALLEL_MIN_BYTES": "1", "MOESIF_CLI_PARALLEL_PARTS": str(parts)}


def run_driver(
    sandbox: Sandbox, workdir: Path, mode: str, *args: str, env: dict[str, str]
) -> tuple[Run, list[int]]:
    """``moesif ARGS...`` through the driver; the run, and the pids of its children."""
    read_end, write_end = os.pipe()
    environment = clean_environment(
        MOESIF_APPLICATION_ID=APP_ID,
        MOESIF_BASE_URL=sandbox.base_url,
        MOESIF_TEST_NOTIFY_FD=str(write_end),
        **env,
    )
    try:
        completed = subprocess.run(
            [sys.executable, str(DRIVER), mode, *args],
            capture_output=True,
            cwd=workdir,
            env=environment,
            timeout=RUN_TIMEOUT,
            check=False,
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as notes:
        pids = [int(line) for line in notes.read().split()]
    run = Run(completed.returncode, completed.stdout.decode(), completed.stderr.decode())
    return run, pids


def sent_batches(sandbox: Sandbox) -> list[bytes]:
    """The body of every batch the sandbox received, decompressed, in arrival order."""
    bodies = []
    for request in sandbox.collector.requests:
        if request.path.endswith("/batch"):
            body = request.body
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            bodies.append(body)
    return bodies


def without_timing(stderr: str) -> str:
    return re.sub(r"in \d+\.\d s$", "in N s", stderr, flags=re.MULTILINE)


def compare_with_single_pass(
    sandbox: Sandbox,
    tmp_path: Path,
    *args: str,
    variants: tuple[tuple[str, int], ...] = (("check", 2),),
    inputs: int = 1,
) -> Run:
    """Run ``moesif ARGS`` in one pass, then in parts once per (driver mode, number of
    parts) of `variants`; assert that each said and sent what the single pass did. The
    last run, whose records the sandbox holds. Each of the `inputs` is checked in parts."""
    single, single_pids = run_driver(sandbox, tmp_path, "check", *args, env=SINGLE_PASS)
    assert single_pids == []
    single_sent = sent_batches(sandbox)
    for mode, parts in variants:
        sandbox.collector.reset()
        parallel, pids = run_driver(sandbox, tmp_path, mode, *args, env=in_parts(parts))
        assert len(pids) == (0 if mode == "nofork" else (parts - 1) * inputs), parallel.stderr
        assert os.getpid() not in pids
        assert (parallel.status, without_timing(parallel.stderr)) == (
            single.status,
            without_timing(single.stderr),
        )
        assert parallel.stdout == single.stdout == "no child left\n"
        assert sent_batches(sandbox) == single_sent
    return parallel


NOW = datetime.now(timezone.utc)


def event(number: int, *, days_old: float = 0) -> dict[str, Any]:
    when = NOW - timedelta(days=days_old, seconds=number)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return {
        "request": {
            "time": stamp,
            "uri": f"https://api.example.com/items/{number}",
            "verb": "GET",
            "headers": {},
        },
        "response": {"time": stamp, "status": 200, "headers": {}},
        "transaction_id": f"txn-{number}",
    }


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def event_lines(count: int, **bad: str) -> list[str]:
    """`count` events, one a line; `bad` replaces line N (1-based, as "lineN")."""
    lines = [json.dumps(event(number)) for number in range(count)]
    for key, text in bad.items():
        lines[int(key.removeprefix("line")) - 1] = text
    return lines


def test_a_big_file_is_checked_in_parts_and_sent_as_in_one_pass(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    lines = event_lines(300)
    lines[10] = json.dumps(event(10, days_old=40))  # stale, in the first part
    lines[200] = json.dumps(event(200, days_old=45.5))  # the oldest, in the second
    lines[250] = json.dumps(event(250, days_old=35))
    lines[260] = json.dumps(event(260, days_old=33))  # the fourth: counted, not shown
    lines.insert(150, "   ")  # a blank line shifts the line numbers after it
    path = write_lines(tmp_path / "events.ndjson", ["\ufeff" + lines[0], *lines[1:]])
    more = [json.dumps(event(number)) for number in range(300, 400)]
    more_path = write_lines(tmp_path / "more.ndjson", more)  # checked in parts too

    run = compare_with_single_pass(
        sandbox, tmp_path, "send", path.name, more_path.name, variants=(("check", 2),), inputs=2
    )

    assert run.status == 0, run.stderr
    assert "warning: 4 of 400 events are older than 30 days" in run.stderr
    assert "events.ndjson:11, events.ndjson:202, events.ndjson:252, ...;" in run.stderr
    assert "events: 400 sent, 0 skipped as invalid, 0 failed" in run.stderr
    transaction_ids = [item["transaction_id"] for item in sandbox.collector.events]
    assert transaction_ids == [f"txn-{n}" for n in range(400)]


BAD_LINES = {"line7": "{not json", "line170": '{"request": {"verb": "GET"}}', "line290": "[1, 2]"}


def test_bad_records_in_later_parts_are_named_by_their_lines(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "events.ndjson", event_lines(300, **BAD_LINES))

    refused = compare_with_single_pass(
        sandbox, tmp_path, "send", path.name, variants=(("check", 3),)
    )

    assert refused.status != 0
    assert "events.ndjson:7: not JSON" in refused.stderr
    assert "events.ndjson:170: " in refused.stderr
    assert "events.ndjson:290: must be a JSON object, got an array" in refused.stderr
    assert "3 invalid records; nothing was sent" in refused.stderr


@pytest.mark.slow  # as the tests beside it, another outcome of the same merge
def test_bad_records_in_later_parts_are_skipped_when_asked(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "events.ndjson", event_lines(300, **BAD_LINES))

    sent = compare_with_single_pass(
        sandbox, tmp_path, "send", "--skip-invalid", path.name, variants=(("check", 3),)
    )

    assert sent.status == 0, sent.stderr
    assert "events: 297 sent, 3 skipped as invalid, 0 failed" in sent.stderr
    uris = [item["request"]["uri"] for item in sandbox.collector.events]
    assert uris == [
        f"https://api.example.com/items/{n}" for n in range(300) if n not in (6, 169, 289)
    ]


def test_a_kind_settled_only_in_the_second_part_is_the_same(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # The first half looks like no kind; the users in the second half settle it, and the
    # unrecognised records are then named as invalid users.
    unclear = [json.dumps({"name": f"n{n}", "note": "x" * 80}) for n in range(100)]
    users = [json.dumps({"user_id": f"u{n}", "metadata": {"n": n}}) for n in range(100)]
    path = write_lines(tmp_path / "users.ndjson", unclear + users)

    run = compare_with_single_pass(sandbox, tmp_path, "send", "--skip-invalid", path.name)

    assert run.status == 0, run.stderr
    assert "users.ndjson:1: " in run.stderr
    assert len(sandbox.collector.users) == 100


@pytest.mark.slow  # as the tests beside it, another outcome of the same merge
def test_mixed_kinds_across_the_parts_are_refused_alike(sandbox: Sandbox, tmp_path: Path) -> None:
    users = [json.dumps({"user_id": f"u{n}"}) for n in range(100)]
    companies = [json.dumps({"company_id": f"c{n}"}) for n in range(100)]
    path = write_lines(tmp_path / "mixed.ndjson", users + companies)

    run = compare_with_single_pass(sandbox, tmp_path, "send", path.name, variants=(("check", 3),))

    assert run.status != 0
    assert "mixed.ndjson:1 looks like users, mixed.ndjson:101 looks like companies" in run.stderr
    assert sent_batches(sandbox) == []


def test_a_failing_child_loses_and_repeats_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    # Each child spools a few records, then raises, or ends reporting nothing, or
    # cannot be started: the parent checks its part itself, and spools none of the
    # child's records.
    path = write_lines(tmp_path / "events.ndjson", event_lines(300, line250="{oops"))

    run = compare_with_single_pass(
        sandbox,
        tmp_path,
        "send",
        "--skip-invalid",
        path.name,
        variants=(("raise", 3), ("crash", 3), ("nofork", 2)),
    )

    assert run.status == 0, run.stderr
    assert "events.ndjson:250: not JSON" in run.stderr
    transaction_ids = [item["transaction_id"] for item in sandbox.collector.events]
    assert transaction_ids == [f"txn-{n}" for n in range(300) if n != 249]


@pytest.mark.parametrize("mode", ["wait", "hang"])
def test_ctrl_c_while_checking_leaves_no_child(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    # The children get the SIGINT too: they stop, or ignore it and are killed.
    path = write_lines(tmp_path / "events.ndjson", event_lines(300))
    read_end, write_end = os.pipe()
    env = clean_environment(
        MOESIF_APPLICATION_ID=APP_ID,
        MOESIF_BASE_URL=sandbox.base_url,
        MOESIF_TEST_NOTIFY_FD=str(write_end),
        **in_parts(3),
    )
    with subprocess.Popen(
        [sys.executable, str(DRIVER), mode, "send", path.name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
        pass_fds=(write_end,),
        start_new_session=True,  # its own process group, as a shell's foreground job
    ) as process:
        os.close(write_end)
        try:
            with os.fdopen(read_end, "rb") as notes:
                pids: list[int] = []
                while len(pids) < 2:
                    ready, _, _ = select.select([notes], [], [], RUN_TIMEOUT)
                    assert ready, "the children did not start"
                    pids += [int(line) for line in os.read(notes.fileno(), 100).split()]
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stderr.strip() == (
        "moesif: error: interrupted while checking the records; nothing was sent"
    )
    assert stdout == "no child left\n"
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert sandbox.collector.requests == []


def test_a_spool_adopts_a_part_in_its_place_among_late_records() -> None:
    with Spool() as spool, Spool() as part:
        spool.add((0, 0), b"a")
        spool.add((0, 1), b"b")
        part.add((0, 0), b"c")  # records 2 and 4 of the input, numbered in their part
        part.add((0, 2), b"e")
        part.flush()
        spool.adopt(part, 2, count=2, last=(0, 2))
        spool.add((1, 0), b"f")  # the next input, after the part
        spool.add((0, 3), b"d")  # late: between the part's two
        assert spool.count == 6
        assert list(spool.items()) == [b"a", b"b", b"c", b"d", b"e", b"f"]
        assert list(part.items()) == []
