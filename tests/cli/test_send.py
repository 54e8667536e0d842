"""`moesif send`: records from NDJSON, JSON arrays and stdin, checked first, then delivered.

Each test runs the real command against a sandbox collector on 127.0.0.1 and checks
what the sandbox stored, what the command printed and its exit status.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    APP_ID,
    RECORDS,
    RUN_TIMEOUT,
    MoesifRunner,
    Sandbox,
    clean_environment,
    moesif_command,
    read_ndjson,
    seed_failing_request,
    sigint_as_default,
    write_ndjson,
)

from moesifapi.testing import RecordedRequest


def recent_events(count: int, *, padding: int = 0) -> list[dict[str, Any]]:
    """`count` events from the last minute, told apart by their URI."""
    now = datetime.now(timezone.utc)
    return [
        {
            "request": {
                "time": (now - timedelta(seconds=count - number)).isoformat(),
                "uri": f"https://api.example.com/items/{number}",
                "verb": "GET",
                "headers": {"X-Padding": "x" * padding},
            },
            "response": {"time": now.isoformat(), "status": 200, "headers": {}},
        }
        for number in range(count)
    ]


def batch_items(request: RecordedRequest) -> list[Any]:
    """The items a recorded batch request carried (the client gzips its bodies)."""
    body = request.body
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    items: list[Any] = json.loads(body)
    return items


def stored_uris(sandbox: Sandbox) -> list[str]:
    return [event["request"]["uri"] for event in sandbox.collector.events]


# --- each kind, each input form ---


def test_events_are_detected_and_delivered(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "events.ndjson"))

    assert run.status == 0, run.stderr
    assert [e["transaction_id"] for e in sandbox.collector.events] == ["evt-1", "evt-2", "evt-3"]
    assert sandbox.collector.events[1]["request"]["body"] == {"name": "widget"}
    assert "events: 3 sent, 0 skipped as invalid, 0 failed; 1 request" in run.stderr


def test_actions_are_detected_and_delivered(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "actions.ndjson"))

    assert run.status == 0, run.stderr
    assert [a["action_name"] for a in sandbox.collector.actions] == ["Signed Up", "Clicked Buy"]
    assert "actions: 2 sent" in run.stderr


def test_users_are_detected_and_delivered(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "users.ndjson"))

    assert run.status == 0, run.stderr
    users = sandbox.collector.users
    assert set(users) == {"u-1", "u-2"}
    assert users["u-1"]["company_id"] == "acme"
    assert users["u-2"]["campaign"] == {"utm_source": "newsletter"}


def test_companies_are_detected_and_delivered(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "companies.ndjson"))

    assert run.status == 0, run.stderr
    assert sandbox.collector.companies["globex"]["metadata"] == {"employees": 120}
    assert set(sandbox.collector.companies) == {"acme", "globex"}


def test_subscriptions_are_detected_and_delivered(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "subscriptions.ndjson"))

    assert run.status == 0, run.stderr
    subscriptions = sandbox.collector.subscriptions
    assert set(subscriptions) == {"sub-1", "sub-2"}
    assert subscriptions["sub-1"]["items"] == [{"plan_id": "pro", "unit_of_measure": "seat"}]


def test_a_json_array_file_is_sent_like_ndjson(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "companies.json"))

    assert run.status == 0, run.stderr
    assert sandbox.collector.companies == {
        "initech": {"company_id": "initech"},
        "hooli": {"company_id": "hooli", "metadata": {"industry": "search"}},
    }


def test_a_dash_reads_records_from_standard_input(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", "-", stdin=(RECORDS / "users.ndjson").read_bytes())

    assert run.status == 0, run.stderr
    assert set(sandbox.collector.users) == {"u-1", "u-2"}


def test_several_files_of_one_kind_go_out_together(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "companies.ndjson"), str(RECORDS / "companies.json"))

    assert run.status == 0, run.stderr
    assert set(sandbox.collector.companies) == {"acme", "globex", "initech", "hooli"}
    assert "companies: 4 sent" in run.stderr


# --- choosing the kind ---


def test_records_of_two_kinds_are_refused_with_a_request_for_type(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    run = moesif("send", str(RECORDS / "mixed_kinds.ndjson"))

    assert run.status == 2
    assert run.stderr_lines == [
        "moesif: error: the records are of more than one kind"
        f" ({RECORDS / 'mixed_kinds.ndjson'}:1 looks like users,"
        f" {RECORDS / 'mixed_kinds.ndjson'}:2 looks like companies); pass --type"
    ]
    assert sandbox.collector.requests == []


def test_type_option_sends_records_as_that_kind(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    mixed = RECORDS / "mixed_kinds.ndjson"

    run = moesif("send", "--type", "companies", "--skip-invalid", str(mixed))

    assert run.status == 0, run.stderr
    assert set(sandbox.collector.companies) == {"acme"}
    assert f"{mixed}:1: user_id: unknown key 'user_id' for CompanyModel" in run.stderr_lines


# --- invalid records ---


def test_invalid_records_are_each_reported_and_nothing_is_sent(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    ndjson = RECORDS / "invalid_users.ndjson"

    run = moesif("send", str(ndjson))

    assert run.status == 2
    assert run.stderr_lines == [
        f"{ndjson}:2: company_id: must be a string, got 7",
        f"{ndjson}:3: metdata: unknown key 'metdata' (did you mean 'metadata'?) for UserModel",
        f"{ndjson}:6: not JSON: Expecting property name enclosed in double quotes (column 23)",
        f"{ndjson}:7: modified_time: must be a datetime or an ISO 8601 timestamp, got 'yesterday'",
        "moesif: error: 4 invalid records; nothing was sent"
        " (fix them, or pass --skip-invalid to send the 2 valid records)",
    ]
    assert sandbox.collector.requests == []


def test_invalid_items_of_a_json_array_are_reported_by_line_and_index(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    array = RECORDS / "invalid_companies.json"

    run = moesif("send", str(array))

    assert run.status == 2
    assert run.stderr_lines[:2] == [
        f"{array}:3 [item 1]: company_id: must not be empty",
        f"{array}:4 [item 2]: campaign.utm_source: must be a string, got 12",
    ]
    assert sandbox.collector.requests == []


def test_skip_invalid_sends_the_valid_records_and_counts_the_others(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    run = moesif("send", "--skip-invalid", str(RECORDS / "invalid_users.ndjson"))

    assert run.status == 0, run.stderr
    assert set(sandbox.collector.users) == {"u-ok-1", "u-ok-2"}
    assert "users: 2 sent, 4 skipped as invalid, 0 failed; 1 request" in run.stderr
    # Skipped records are still listed, so they can be fixed.
    assert sum(line.startswith(str(RECORDS)) for line in run.stderr_lines) == 4


def test_a_json_array_that_does_not_parse_stops_the_run(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"user_id": "u-1"},\n  {"user_id": "u-2"\n]\n')

    run = moesif("send", "--skip-invalid", str(broken))

    assert run.status == 2
    assert run.stderr_lines == [
        f"moesif: error: {broken}:4: not a valid JSON array: Expecting ',' delimiter (column 1)"
    ]
    assert sandbox.collector.requests == []


def test_values_json_cannot_carry_are_invalid_records(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = tmp_path / "users.ndjson"
    users.write_text(
        '{"user_id": "u-1", "metadata": {"score": NaN}}\n'
        '{"user_id": "u-2", "metadata": {"name": "\\ud800"}}\n'
        '{"user_id": "u-3"}\n'
    )

    run = moesif("send", str(users))

    assert run.status == 2
    assert run.stderr_lines[:2] == [
        f"{users}:1: not JSON: NaN is not a JSON number",
        f"{users}:2: metadata.name: contains a lone surrogate; not valid UTF-8",
    ]
    assert sandbox.collector.requests == []


def test_a_record_too_large_for_any_batch_is_caught_before_sending(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = write_ndjson(
        tmp_path / "users.ndjson",
        [{"user_id": "small"}, {"user_id": "large", "metadata": {"notes": "x" * 2000}}],
    )

    run = moesif("send", "--max-batch-bytes", "1024", str(users))

    assert run.status == 2
    assert run.stderr_lines[0] == (
        f"{users}:2: encodes to 2043 bytes, over the 1024-byte batch limit (see --max-batch-bytes)"
    )
    assert sandbox.collector.requests == []


def test_events_older_than_30_days_get_a_warning(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "events.ndjson"))

    assert run.status == 0
    assert (
        f"warning: 3 of 3 events are older than 30 days ({RECORDS / 'events.ndjson'}:1,"
        f" {RECORDS / 'events.ndjson'}:2, {RECORDS / 'events.ndjson'}:3; oldest 2024-05-01);"
        " the live Moesif API rejects events that old"
    ) in run.stderr_lines


def test_recent_events_get_no_warning(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    run = moesif("send", str(write_ndjson(tmp_path / "recent.ndjson", recent_events(3))))

    assert run.status == 0
    assert not any(line.startswith("warning:") for line in run.stderr_lines)


# --- delivery in chunks, and failures part-way ---


def test_records_go_out_in_chunks_with_a_line_of_progress_each(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    events = write_ndjson(tmp_path / "events.ndjson", recent_events(7))

    run = moesif("send", "--chunk-size", "3", str(events))

    assert run.status == 0, run.stderr
    # Event batches go several at a time, so they may arrive in any order; progress
    # is told in order all the same.
    assert sorted(len(batch_items(request)) for request in sandbox.collector.requests) == [1, 3, 3]
    assert [line for line in run.stderr_lines if line.startswith("sending")] == [
        "sending events: 3/7",
        "sending events: 6/7",
        "sending events: 7/7",
    ]
    assert "events: 7 sent, 0 skipped as invalid, 0 failed; 3 requests" in run.stderr


@pytest.mark.parametrize(
    ("split_options", "per_request"),
    [
        # Requests of 5 events (--chunk-size).
        (["--chunk-size", "5"], 5),
        # Requests of 3 events, cut by size (an event encodes to ~560 bytes).
        (["--chunk-size", "100", "--max-batch-bytes", "2000"], 3),
    ],
    ids=["by-count", "by-size"],
)
def test_failure_part_way_saves_the_rest_and_a_rerun_sends_exactly_that(
    moesif: MoesifRunner,
    sandbox: Sandbox,
    tmp_path: Path,
    split_options: list[str],
    per_request: int,
) -> None:
    events = write_ndjson(tmp_path / "events.ndjson", recent_events(12, padding=300))
    every_uri = [f"https://api.example.com/items/{n}" for n in range(12)]
    # A 400 is never retried, so the second request fails for good. Event batches go
    # several at a time, so which batch that is, and whether the ones already on their
    # way get through (the sandbox draws at random after the second), may vary; what
    # may not is that every event is either delivered or saved, never both nor neither.
    sandbox.collector.fail_randomly(0.5, status=400, seed=seed_failing_request(2, 400))

    failed = moesif("send", *split_options, str(events))

    undelivered = tmp_path / "events.undelivered.ndjson"
    assert failed.status == 1
    delivered = stored_uris(sandbox)
    saved = read_ndjson(undelivered)
    saved_uris = [e["request"]["uri"] for e in saved]
    # The first request got through, the second did not (either may be the short
    # batch at the end).
    assert len(delivered) >= 12 % per_request
    assert len(saved) >= 12 % per_request
    assert sorted(delivered + saved_uris) == sorted(every_uri)
    assert saved_uris == [uri for uri in every_uri if uri in saved_uris]  # in input order
    assert failed.stderr_lines[-2].startswith(
        f"moesif: error: delivery stopped after {len(delivered)} of 12 events: 400 Bad Request"
    )
    assert failed.stderr_lines[-1] == (
        f"moesif: {len(saved)} events not delivered, saved to {undelivered};"
        f" to send them: moesif send {undelivered}"
    )

    sandbox.collector.clear_faults()
    rerun = moesif("send", str(undelivered))

    assert rerun.status == 0, rerun.stderr
    assert sorted(stored_uris(sandbox)) == sorted(every_uri)
    ids = [event["transaction_id"] for event in sandbox.collector.events]
    assert len(set(ids)) == 12
    # The rerun sent the very events that failed, transaction ids and all.
    assert sorted(ids[len(delivered) :]) == sorted(event["transaction_id"] for event in saved)


def test_a_rerun_that_fails_again_rewrites_its_own_undelivered_file(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    events = write_ndjson(tmp_path / "events.ndjson", recent_events(4))
    undelivered = tmp_path / "events.undelivered.ndjson"
    sandbox.collector.fail_next(1, status=400)
    assert moesif("send", str(events)).status == 1
    assert len(read_ndjson(undelivered)) == 4
    sandbox.collector.fail_randomly(0.5, status=400, seed=seed_failing_request(2, 400))

    again = moesif("send", "--chunk-size", "2", str(undelivered))

    assert again.status == 1
    assert again.stderr_lines[-1].endswith(f"to send them: moesif send {undelivered}")
    # The two batches go at once; the one that arrived second failed, and is saved.
    saved = [e["request"]["uri"] for e in read_ndjson(undelivered)]
    assert saved in (
        ["https://api.example.com/items/0", "https://api.example.com/items/1"],
        ["https://api.example.com/items/2", "https://api.example.com/items/3"],
    )
    assert sorted(stored_uris(sandbox) + saved) == [
        f"https://api.example.com/items/{n}" for n in range(4)
    ]
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_ctrl_c_during_delivery_saves_what_was_not_confirmed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    events = write_ndjson(tmp_path / "events.ndjson", recent_events(5))
    sandbox.collector.hold()
    env = clean_environment(MOESIF_APPLICATION_ID=APP_ID, MOESIF_BASE_URL=sandbox.base_url)
    with subprocess.Popen(
        [*moesif_command(), "send", str(events)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
        preexec_fn=sigint_as_default,
    ) as process:
        try:
            assert sandbox.collector.wait_until_held(1, timeout=RUN_TIMEOUT)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=RUN_TIMEOUT)
        finally:
            sandbox.collector.release()
            if process.poll() is None:
                process.kill()

    assert process.returncode == 130
    assert "delivery stopped after 0 of 5 events: interrupted" in stderr
    saved = read_ndjson(tmp_path / "events.undelivered.ndjson")
    assert [e["request"]["uri"] for e in saved] == [
        f"https://api.example.com/items/{n}" for n in range(5)
    ]


def test_undelivered_path_can_be_chosen(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.collector.fail_next(1, status=503)
    target = tmp_path / "retry-later.ndjson"

    run = moesif(
        "send", "--max-retries", "0", "--undelivered", str(target), str(RECORDS / "users.ndjson")
    )

    assert run.status == 1
    assert [record["user_id"] for record in read_ndjson(target)] == ["u-1", "u-2"]
    assert "users: 0 sent, 0 skipped as invalid, 2 failed; 1 request" in run.stderr


def test_retries_come_from_the_client_and_count_as_requests(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    sandbox.collector.fail_next(1, status=503, retry_after=0)

    run = moesif("send", "--max-retries", "1", str(RECORDS / "users.ndjson"))

    assert run.status == 0, run.stderr
    assert set(sandbox.collector.users) == {"u-1", "u-2"}
    assert "users: 2 sent, 0 skipped as invalid, 0 failed; 2 requests" in run.stderr


def test_records_from_stdin_that_fail_are_saved_in_the_working_directory(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.collector.fail_next(1, status=400)

    run = moesif("send", "-", stdin=(RECORDS / "companies.ndjson").read_bytes())

    assert run.status == 1
    saved = read_ndjson(tmp_path / "stdin.undelivered.ndjson")
    assert [record["company_id"] for record in saved] == ["acme", "globex"]


# --- connection options ---


def test_connection_options_work_before_or_after_the_command(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    options = ["--application-id", APP_ID, "--base-url", sandbox.base_url]
    users = str(RECORDS / "users.ndjson")

    before = moesif(*options, "send", users, env={})
    after = moesif("send", users, *options, env={})

    assert (before.status, after.status) == (0, 0), before.stderr + after.stderr
    assert len(sandbox.collector.requests) == 2


def test_options_win_over_the_environment(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    env = {"MOESIF_APPLICATION_ID": "not-this-one", "MOESIF_BASE_URL": sandbox.base_url}

    run = moesif("--application-id", APP_ID, "send", str(RECORDS / "users.ndjson"), env=env)

    assert run.status == 0, run.stderr


def test_a_missing_application_id_is_a_usage_error(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    run = moesif("send", str(RECORDS / "users.ndjson"), env={})

    assert run.status == 2
    assert run.stderr_lines == [
        "moesif: error: no application id: pass --application-id or set MOESIF_APPLICATION_ID"
    ]


def test_a_bad_base_url_names_the_option(moesif: MoesifRunner) -> None:
    run = moesif("send", "--base-url", "ftp://example.com", str(RECORDS / "users.ndjson"))

    assert run.status == 2
    assert run.stderr_lines == [
        "moesif: error: --base-url must be an http(s) URL such as https://api.moesif.net/v1,"
        " got 'ftp://example.com'"
    ]


def test_a_missing_file_is_a_usage_error(moesif: MoesifRunner, tmp_path: Path) -> None:
    run = moesif("send", str(tmp_path / "nope.ndjson"))

    assert run.status == 2
    assert run.stderr_lines == [
        f"moesif: error: cannot read {tmp_path / 'nope.ndjson'}: no such file"
    ]


def test_an_unreachable_server_is_one_line_and_exit_1(
    moesif: MoesifRunner, unused_port: int, tmp_path: Path
) -> None:
    env = {"MOESIF_APPLICATION_ID": APP_ID, "MOESIF_BASE_URL": f"http://127.0.0.1:{unused_port}/v1"}
    users = tmp_path / "users.ndjson"  # a copy: the undelivered file goes beside it
    shutil.copy(RECORDS / "users.ndjson", users)

    run = moesif("send", "--max-retries", "0", str(users), env=env)

    assert run.status == 1
    assert len(read_ndjson(tmp_path / "users.undelivered.ndjson")) == 2
    assert "Traceback" not in run.stderr
    assert run.stderr_lines[-2].startswith(
        f"moesif: error: delivery stopped after 0 of 2 users: could not reach"
        f" http://127.0.0.1:{unused_port}/v1"
    )


def test_debug_adds_the_traceback(moesif: MoesifRunner, unused_port: int) -> None:
    env = {"MOESIF_APPLICATION_ID": APP_ID, "MOESIF_BASE_URL": f"http://127.0.0.1:{unused_port}/v1"}

    run = moesif("--debug", "config", "--max-retries", "0", env=env)

    assert run.status == 1
    assert "Traceback (most recent call last)" in run.stderr
    assert run.stderr_lines[-1].startswith("moesif: error: could not reach")


def test_debug_logs_each_attempt_and_retry_but_never_the_application_id(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    sandbox.collector.fail_next(1, status=503, retry_after="0.05")

    run = moesif("--debug", "config")

    assert run.status == 0, run.stderr
    assert "moesifapi: GET /config: 503 (attempt 1 of 4), retrying in 0.05 s" in run.stderr_lines
    assert "moesifapi: GET /config: 200 (attempt 2 of 4)" in run.stderr_lines
    assert APP_ID not in run.stderr


def test_python_dash_m_runs_the_same_command(sandbox: Sandbox, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "moesifapi.cli", "send", str(RECORDS / "users.ndjson")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_environment(MOESIF_APPLICATION_ID=APP_ID, MOESIF_BASE_URL=sandbox.base_url),
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert set(sandbox.collector.users) == {"u-1", "u-2"}


def test_the_console_script_is_installed_beside_the_interpreter() -> None:
    assert Path(sys.executable).with_name("moesif").exists()
