"""`moesif import-har`: HAR entries captured by mitmproxy become events, printed or sent.

The fixtures are real captures: tests/cli/fixtures/make_har.py drove traffic through
``mitmdump --set hardump=...``. Each test reads the HAR itself to know what to expect,
and rewrites dates or headers only in a temporary copy.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_support import FIXTURES, MoesifRunner, Sandbox
from dateutil.parser import isoparse

API_SESSION = FIXTURES / "api_session.har"
ASSETS_AND_FAILURES = FIXTURES / "assets_and_failures.har"


def har_entries(path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(path.read_text())["log"]["entries"]
    return entries


def to_millis(moment: datetime) -> str:
    """The API's timestamp form: UTC, milliseconds (truncated), ``Z``."""
    moment = moment.astimezone(timezone.utc)
    moment -= timedelta(microseconds=moment.microsecond % 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def har_headers(pairs: list[dict[str, str]], name: str) -> list[str]:
    return [pair["value"] for pair in pairs if pair["name"].lower() == name.lower()]


def rewritten_copy(source: Path, target: Path, *, first_start: datetime) -> Path:
    """`source` with its entries moved in time so the first starts at `first_start`."""
    document = json.loads(source.read_text())
    entries = document["log"]["entries"]
    origin = isoparse(entries[0]["startedDateTime"])
    for entry in entries:
        moved = first_start + (isoparse(entry["startedDateTime"]) - origin)
        entry["startedDateTime"] = moved.isoformat()
    target.write_text(json.dumps(document, indent=2))
    return target


def dry_run(moesif: MoesifRunner, har: Path, *options: str) -> list[dict[str, Any]]:
    run = moesif("import-har", str(har), "--dry-run", *options)
    assert run.status == 0, run.stderr
    return run.stdout_json_lines()


# --- what each entry becomes ---


def test_each_entry_becomes_one_event_in_order(moesif: MoesifRunner) -> None:
    entries = har_entries(API_SESSION)

    events = dry_run(moesif, API_SESSION)

    assert [(e["request"]["verb"], e["request"]["uri"]) for e in events] == [
        (entry["request"]["method"], entry["request"]["url"]) for entry in entries
    ]
    assert [e["response"]["status"] for e in events] == [200, 201, 200, 302, 200]


def test_request_and_response_times_come_from_start_and_duration(moesif: MoesifRunner) -> None:
    entries = har_entries(API_SESSION) + har_entries(ASSETS_AND_FAILURES)

    events = dry_run(moesif, API_SESSION) + dry_run(moesif, ASSETS_AND_FAILURES)

    for entry, event in zip(entries, events, strict=True):
        started = isoparse(entry["startedDateTime"])
        assert event["request"]["time"] == to_millis(started)
        if "response" in event:
            ended = started + timedelta(milliseconds=entry["time"])
            assert event["response"]["time"] == to_millis(ended)


def test_json_bodies_are_parsed_and_other_bodies_kept_as_text(moesif: MoesifRunner) -> None:
    entries = har_entries(API_SESSION)

    get_item, create_item, search, _, _ = dry_run(moesif, API_SESSION)

    assert get_item["response"]["body"] == json.loads(entries[0]["response"]["content"]["text"])
    assert create_item["request"]["body"] == {"name": "gadget", "price": 9.5}
    assert create_item["response"]["body"] == {"id": 43, "name": "gadget", "price": 9.5}
    assert search["request"]["body"] == "q=blue+widgets&limit=3"
    assert search["response"]["body"] == "3 results for q=blue+widgets&limit=3"
    assert "transfer_encoding" not in search["response"]


def test_repeated_headers_are_joined_with_a_comma(moesif: MoesifRunner) -> None:
    entries = har_entries(API_SESSION)
    sent_tags = har_headers(entries[0]["request"]["headers"], "X-Request-Tag")
    set_cookies = har_headers(entries[3]["response"]["headers"], "Set-Cookie")
    assert len(sent_tags) == len(set_cookies) == 2  # the capture really has repeats

    events = dry_run(moesif, API_SESSION)

    assert events[0]["request"]["headers"]["X-Request-Tag"] == "first, second"
    assert events[3]["response"]["headers"]["Set-Cookie"] == ", ".join(set_cookies)


def test_a_redirect_is_two_events_with_their_own_statuses(moesif: MoesifRunner) -> None:
    events = dry_run(moesif, API_SESSION)
    login, landing = events[3], events[4]

    assert login["request"]["uri"].endswith("/login")
    assert login["response"]["status"] == 302
    assert login["response"]["headers"]["Location"] == "/api/me"
    assert "body" not in login["response"]  # an empty body is left out
    assert landing["request"]["uri"].endswith("/api/me")
    assert landing["response"]["status"] == 200
    assert landing["response"]["body"] == {"user_id": "u-42", "name": "Ada"}


def test_a_binary_body_is_sent_as_base64(moesif: MoesifRunner) -> None:
    content = har_entries(ASSETS_AND_FAILURES)[0]["response"]["content"]
    assert content["encoding"] == "base64"

    image = dry_run(moesif, ASSETS_AND_FAILURES)[0]

    assert image["response"]["transfer_encoding"] == "base64"
    assert image["response"]["body"] == content["text"]
    assert base64.b64decode(image["response"]["body"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_an_entry_that_got_no_response_has_none(moesif: MoesifRunner) -> None:
    entry = har_entries(ASSETS_AND_FAILURES)[1]
    assert entry["response"]["status"] == 0

    hang_up = dry_run(moesif, ASSETS_AND_FAILURES)[1]

    assert hang_up["request"]["uri"].endswith("/api/hang-up")
    assert "response" not in hang_up


def test_identity_and_version_options_apply_to_every_event(moesif: MoesifRunner) -> None:
    events = dry_run(
        moesif, API_SESSION, "--user-id", "u-42", "--company-id", "acme", "--api-version", "2.1"
    )

    assert {(e["user_id"], e["company_id"], e["request"]["api_version"]) for e in events} == {
        ("u-42", "acme", "2.1")
    }


def test_transaction_ids_are_derived_from_the_entries(moesif: MoesifRunner) -> None:
    first = [e["transaction_id"] for e in dry_run(moesif, API_SESSION)]
    again = [e["transaction_id"] for e in dry_run(moesif, API_SESSION)]

    assert first == again
    assert len(set(first)) == len(first)


def test_http2_pseudo_headers_are_dropped_and_authority_stands_in_for_host(
    moesif: MoesifRunner, tmp_path: Path
) -> None:
    # Browsers write HTTP/2 entries this way; mitmproxy keeps pseudo-headers out.
    document = json.loads(API_SESSION.read_text())
    request = document["log"]["entries"][0]["request"]
    request["headers"] = [
        {"name": ":method", "value": "GET"},
        {"name": ":authority", "value": "api.example.com"},
        {"name": ":scheme", "value": "https"},
        {"name": ":path", "value": "/api/items/42"},
        *[h for h in request["headers"] if h["name"].lower() != "host"],
    ]
    response = document["log"]["entries"][0]["response"]
    response["headers"].insert(0, {"name": ":status", "value": "200"})
    http2 = tmp_path / "http2.har"
    http2.write_text(json.dumps(document))

    event = dry_run(moesif, http2)[0]

    assert event["request"]["headers"]["Host"] == "api.example.com"
    assert not [name for name in event["request"]["headers"] if name.startswith(":")]
    assert not [name for name in event["response"]["headers"] if name.startswith(":")]


# --- sending, and what is checked first ---


def test_the_events_are_delivered_to_the_collector(moesif: MoesifRunner, sandbox: Sandbox) -> None:
    expected = dry_run(moesif, API_SESSION) + dry_run(moesif, ASSETS_AND_FAILURES)

    first = moesif("import-har", str(API_SESSION))
    second = moesif("import-har", str(ASSETS_AND_FAILURES))

    assert (first.status, second.status) == (0, 0), first.stderr + second.stderr
    assert "events: 5 sent, 0 skipped as invalid, 0 failed; 1 request" in first.stderr
    stored = sandbox.collector.events
    assert [e["transaction_id"] for e in stored] == [e["transaction_id"] for e in expected]
    assert stored[5]["response"]["transfer_encoding"] == "base64"
    assert stored[5]["response"]["body"] == expected[5]["response"]["body"]


def test_entries_older_than_30_days_get_a_warning(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    weeks_ago = datetime.now(timezone.utc) - timedelta(days=40)
    old = rewritten_copy(API_SESSION, tmp_path / "old.har", first_start=weeks_ago)

    run = moesif("import-har", str(old))

    assert run.status == 0, run.stderr
    assert (
        f"{old}: warning: 5 of 5 events are older than 30 days (entry 0, entry 1, entry 2, ...;"
        f" oldest {weeks_ago:%Y-%m-%d}); the live Moesif API rejects events that old"
    ) in run.stderr_lines
    assert len(sandbox.collector.events) == 5  # a warning, not a refusal


def test_recent_entries_get_no_warning(moesif: MoesifRunner, tmp_path: Path) -> None:
    just_now = datetime.now(timezone.utc) - timedelta(minutes=5)
    recent = rewritten_copy(API_SESSION, tmp_path / "recent.har", first_start=just_now)

    run = moesif("import-har", str(recent), "--dry-run")

    assert run.status == 0
    assert run.stderr == ""


@pytest.fixture
def har_with_a_broken_entry(tmp_path: Path) -> Path:
    document = json.loads(API_SESSION.read_text())
    del document["log"]["entries"][1]["request"]["url"]
    document["log"]["entries"][2]["startedDateTime"] = "last tuesday"
    broken = tmp_path / "broken.har"
    broken.write_text(json.dumps(document))
    return broken


def test_entries_that_cannot_be_events_are_reported_and_nothing_is_sent(
    moesif: MoesifRunner, sandbox: Sandbox, har_with_a_broken_entry: Path
) -> None:
    search_url = har_entries(API_SESSION)[2]["request"]["url"]

    run = moesif("import-har", str(har_with_a_broken_entry))

    assert run.status == 2
    assert run.stderr_lines == [
        f"{har_with_a_broken_entry}: entry 1 (POST ?): request.uri: is required",
        f"{har_with_a_broken_entry}: entry 2 (POST {search_url}):"
        " startedDateTime: is not an ISO 8601 timestamp: 'last tuesday'",
        "moesif: error: 2 invalid entries; nothing was sent"
        " (fix them, or pass --skip-invalid to send the 3 valid entries)",
    ]
    assert sandbox.collector.requests == []


def test_skip_invalid_sends_the_other_entries(
    moesif: MoesifRunner, sandbox: Sandbox, har_with_a_broken_entry: Path
) -> None:
    run = moesif("import-har", "--skip-invalid", str(har_with_a_broken_entry))

    assert run.status == 0, run.stderr
    assert len(sandbox.collector.events) == 3
    assert "events: 3 sent, 2 skipped as invalid, 0 failed; 1 request" in run.stderr


def test_a_file_that_is_not_a_har_is_a_usage_error(moesif: MoesifRunner, tmp_path: Path) -> None:
    not_har = tmp_path / "events.json"
    not_har.write_text('{"entries": []}')

    run = moesif("import-har", str(not_har), "--dry-run")

    assert run.status == 2
    assert run.stderr_lines == [
        f"moesif: error: {not_har} is not a HAR file: it has no log.entries list"
    ]


def test_a_dry_run_needs_no_application_id(moesif: MoesifRunner) -> None:
    run = moesif("import-har", str(ASSETS_AND_FAILURES), "--dry-run", env={})

    assert run.status == 0, run.stderr
    assert len(run.stdout_json_lines()) == 2


def har_with_out_of_range_dates(tmp_path: Path) -> Path:
    """A real capture with two entries whose response end is past year 9999."""
    document = json.loads(API_SESSION.read_text())
    entries = document["log"]["entries"][:3]
    entries[1]["time"] = 1e300
    entries[2]["startedDateTime"] = "9999-12-31T23:59:59.999Z"
    entries[2]["time"] = 5
    document["log"]["entries"] = entries
    path = tmp_path / "far_future.har"
    path.write_text(json.dumps(document))
    return path


def test_dates_past_year_9999_are_invalid_entries_not_an_internal_error(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    har = har_with_out_of_range_dates(tmp_path)

    run = moesif("import-har", str(har))

    assert run.status == 2, run.stderr
    assert "internal error" not in run.stderr
    assert f"{har}: entry 1 (" in run.stderr_lines[0]
    assert "time: 1e+300 ms after startedDateTime" in run.stderr_lines[0]
    assert "(year 9999)" in run.stderr_lines[0]
    assert f"{har}: entry 2 (" in run.stderr_lines[1]
    assert "time: 5 ms after startedDateTime 9999-12-31T23:59:59.999" in run.stderr_lines[1]
    assert run.stderr_lines[-1].startswith("moesif: error: 2 invalid entries; nothing was sent")
    assert sandbox.collector.requests == []


def test_skip_invalid_skips_entries_with_dates_past_year_9999(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    har = har_with_out_of_range_dates(tmp_path)

    run = moesif("import-har", "--skip-invalid", str(har))

    assert run.status == 0, run.stderr
    assert "entry 1 (" in run.stderr_lines[0]
    assert "entry 2 (" in run.stderr_lines[1]
    assert len(sandbox.collector.events) == 1
    assert "events: 1 sent, 2 skipped as invalid, 0 failed" in run.stderr
