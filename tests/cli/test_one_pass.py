"""`moesif send` reads, validates and encodes each record once, and sends event
batches several at a time.

In-process (`moesifapi.cli.main`) against the sandbox on a real socket: the first
pass spools each record's encoded bytes, and the send reads them back, so nothing
is decoded, validated or encoded twice.
"""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_support import APP_ID, Sandbox, write_ndjson
from hypothesis import given, settings
from hypothesis import strategies as st

from moesifapi.cli import _checking, _records, main
from moesifapi.cli._spool import Spool


def events(count: int, *, with_ids: bool = False) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc)
    out = []
    for number in range(count):
        event: dict[str, Any] = {
            "request": {
                "time": (now - timedelta(seconds=count - number)).isoformat(),
                "uri": f"https://api.example.com/items/{number}",
                "verb": "GET",
                "headers": {},
            },
            "response": {"time": now.isoformat(), "status": 200, "headers": {}},
        }
        if with_ids:
            event["transaction_id"] = f"00000000-0000-4000-8000-{number:012d}"
        out.append(event)
    return out


def send(sandbox: Sandbox, *args: str) -> int:
    return main(["send", "-q", "--application-id", APP_ID, "--base-url", sandbox.base_url, *args])


def test_each_record_is_validated_and_encoded_once(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Valid records go through `encode_inputs` (the dict fast path: validated and
    # encoded in one step, no model built), a chunk at a time; `encode_input` is only
    # the one-by-one fallback for a chunk that holds a bad record.
    calls = {"encode_input": 0, "encode_inputs": 0, "encode_item": 0}

    def counted(name: str, real: Any) -> Any:
        def call(*args: Any) -> Any:
            calls[name] += len(args[1]) if name == "encode_inputs" else 1
            return real(*args)

        return call

    for name in calls:
        monkeypatch.setattr(_checking, name, counted(name, getattr(_checking, name)))
    path = write_ndjson(tmp_path / "events.ndjson", events(25))

    assert send(sandbox, "--chunk-size", "4", str(path)) == 0

    assert calls == {"encode_input": 0, "encode_inputs": 25, "encode_item": 0}
    uris = sorted(event["request"]["uri"] for event in sandbox.collector.events)
    assert uris == sorted(f"https://api.example.com/items/{n}" for n in range(25))
    # Each event went with the transaction id given to it while it was checked.
    assert len({event["transaction_id"] for event in sandbox.collector.events}) == 25


def test_the_bytes_sent_are_the_bytes_checked(sandbox: Sandbox, tmp_path: Path) -> None:
    given = events(5, with_ids=True)
    path = write_ndjson(tmp_path / "events.ndjson", given)

    assert send(sandbox, str(path)) == 0

    stored = {event["transaction_id"]: event for event in sandbox.collector.events}
    assert set(stored) == {event["transaction_id"] for event in given}


def test_event_batches_go_several_at_a_time(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.collector.latency = 0.25
    path = write_ndjson(tmp_path / "events.ndjson", events(8))

    started = time.monotonic()
    assert send(sandbox, "--chunk-size", "1", str(path)) == 0
    elapsed = time.monotonic() - started

    assert len(sandbox.collector.requests) == 8
    assert elapsed < 8 * 0.25 * 0.75  # one at a time would take 2 s; four at once, 0.5 s


def test_profile_batches_go_one_after_another(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.collector.latency = 0.1
    path = write_ndjson(tmp_path / "users.ndjson", [{"user_id": f"u-{n}"} for n in range(4)])

    started = time.monotonic()
    assert send(sandbox, "--chunk-size", "1", str(path)) == 0

    assert time.monotonic() - started >= 4 * 0.1
    assert list(sandbox.collector.users) == ["u-0", "u-1", "u-2", "u-3"]


# --- reading: orjson when installed, and `json` for whatever orjson reads otherwise ---

TRICKY_LINES = [
    b'{"user_id": "u", "metadata": {"n": NaN}}',
    b'{"user_id": "u", "metadata": {"n": Infinity}}',
    b'{"user_id": "u", "metadata": {"n": 1e400}}',
    b'{"user_id": "u", "metadata": {"s": "\\ud800"}}',
    b'{"user_id": "u", "metadata": {"s": "\\ud83d\\ude00"}}',
    b'{"user_id": "u", "metadata": {"n": 18446744073709551616}}',
    b'{"user_id": "u", "metadata": {"n": -9223372036854775809}}',
    b'{"user_id": "u", "metadata": {"n": -9223372036854775808, "m": 18446744073709551615}}',
    b'{"user_id": "u", "metadata": {"n": 1234567890123456789, "m": 9.999999999999999e22}}',
    b'{"user_id": "u", "metadata": {"n": 12345678901234567890123}}',
    b'{"user_id": "u", "metadata": {"n": 0.1, "m": -0.0, "k": 1E5}}',
    b'{"user_id": "u", "user_id": "v"}',
    b'\xef\xbb\xbf{"user_id": "u"}',
    b'{"user_id": "\xff"}',
    b'{"user_id": "u"} \x0c',
    b'{"user_id": "u"}\x1c',
    b"[1, 2]",
    b'"text"',
    b'{"a": ' * 990 + b"1" + b"}" * 990,
    b'{"a": ' * 1100 + b"1" + b"}" * 1100,
    b'{"a": [' * 300 + b"1" + b"]}" * 300,
    b"{bad",
]


class _Bytes:
    """An input whose content is given, not read from a file."""

    display_name = "lines.ndjson"

    def __init__(self, content: bytes) -> None:
        self._content = content

    def open(self) -> io.BytesIO:
        return io.BytesIO(self._content)


def _read(content: bytes) -> list[tuple[str, str, str | None]]:
    source: Any = _Bytes(content)
    return [
        (str(record.location), repr(record.data), record.problem)
        for record in _records.read_records(source)
    ]


@pytest.mark.skipif(_records._fast_loads is None, reason="orjson is not installed")
def test_orjson_reads_every_line_as_json_does(monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"\n".join(TRICKY_LINES) + b"\n"
    with_orjson = _read(content)
    monkeypatch.setattr(_records, "_fast_loads", None)

    assert with_orjson == _read(content)
    assert ("lines.ndjson:1", "None", "not JSON: NaN is not a JSON number") in with_orjson


def test_a_spool_gives_back_late_records_in_their_place() -> None:
    with Spool() as spool:
        spool.add((0, 0), b"a")
        spool.add((0, 2), b"c")
        spool.add((1, 0), b"e")
        spool.add((0, 1), b"b")  # checked at the end, once the kind was known
        spool.add((0, 3), b"d")
        spool.add((1, 1), b"f")

        assert list(spool.items()) == [b"a", b"b", b"c", b"d", b"e", b"f"]
        assert spool.count == 6


def test_an_encoded_record_is_read_back_whole(tmp_path: Path) -> None:
    records = [{"user_id": "u-1", "metadata": {"text": "line\nbreak \u2028 é"}}]
    with Spool() as spool:
        for number, record in enumerate(records):
            spool.add((0, number), json.dumps(record).encode())
        assert [json.loads(item) for item in spool.items()] == records


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),  # lone surrogates included
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.skipif(_records._fast_loads is None, reason="orjson is not installed")
@settings(max_examples=100, deadline=None)
@given(values=st.lists(_JSON_VALUES, min_size=1, max_size=5), ascii_only=st.booleans())
def test_random_lines_read_alike_with_orjson_and_without(
    values: list[Any], ascii_only: bool
) -> None:
    lines = []
    for value in values:
        record = {"metadata": value}  # an object: a first line starting with [ is an array
        try:
            lines.append(json.dumps(record, ensure_ascii=ascii_only).encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate written raw is not UTF-8
            lines.append(json.dumps(record).encode("utf-8"))
    content = b"\n".join(lines) + b"\n"
    with_orjson = _read(content)
    saved = _records._fast_loads
    _records._fast_loads = None
    try:
        without = _read(content)
    finally:
        _records._fast_loads = saved

    assert with_orjson == without


# --- the age check: events at the 30-day edge, times in any form ---

NOW = datetime(2026, 6, 30, 12, 0, 0, 500_250, tzinfo=timezone.utc)  # not a whole millisecond
EDGE = NOW - timedelta(days=30)  # an event from before this is stale


def event_at(time: str, number: int) -> dict[str, Any]:
    return {
        "request": {
            "time": time,
            "uri": f"https://api.example.com/{number}",
            "verb": "GET",
            "headers": {},
        },
        "response": {"time": time, "status": 200, "headers": {}},
    }


def api_form(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@pytest.mark.parametrize("chunk", [1, 64])
def test_the_age_check_is_exact_at_the_edge_whatever_form_the_time_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(_checking, "_ENCODE_CHUNK", chunk)
    just_stale = EDGE.replace(microsecond=500_000)  # the whole millisecond before the edge
    just_fresh = EDGE.replace(microsecond=501_000)  # the first whole millisecond after
    oldest = EDGE - timedelta(days=400)
    times = [
        api_form(just_stale),  # 1: stale
        api_form(just_fresh),  # 2: fresh
        just_stale.astimezone(timezone(timedelta(hours=2))).isoformat(),  # 3: stale
        just_fresh.isoformat(),  # 4: fresh, written with an offset
        api_form(NOW),  # 5: fresh
        oldest.astimezone(timezone(timedelta(hours=-5))).isoformat(),  # 6: the oldest
        api_form(oldest + timedelta(days=1)),  # 7: stale
    ]
    path = write_ndjson(tmp_path / "events.ndjson", [event_at(t, n) for n, t in enumerate(times)])

    checked = _checking.check_inputs(
        [_records.InputFile(path, "events.ndjson")], None, max_item_bytes=10**6, now=NOW
    )

    assert checked.valid == 7
    assert checked.problems == []
    assert checked.stale.count == 4
    assert checked.stale.examples == ["events.ndjson:1", "events.ndjson:3", "events.ndjson:6"]
    assert checked.stale.oldest == oldest.replace(microsecond=oldest.microsecond // 1000 * 1000)


def test_the_oldest_event_is_found_among_times_in_the_api_form(tmp_path: Path) -> None:
    days = [40, 900, 35, 31]
    records = [event_at(api_form(NOW - timedelta(days=d)), n) for n, d in enumerate(days)]
    path = write_ndjson(tmp_path / "events.ndjson", records)

    checked = _checking.check_inputs(
        [_records.InputFile(path, "events.ndjson")], None, max_item_bytes=10**6, now=NOW
    )

    assert checked.stale.count == 4
    assert f"{checked.stale.oldest:%Y-%m-%d}" == f"{NOW - timedelta(days=900):%Y-%m-%d}"


def test_the_collector_thresholds_are_restored_after_a_send(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The send runs the cycle collector rarely; a program calling `main` in-process
    # gets its own thresholds back, after a success and after a refusal alike.
    import gc

    from moesifapi.cli import _commands

    before = gc.get_threshold()
    good = write_ndjson(tmp_path / "events.ndjson", events(3))
    bad = write_ndjson(tmp_path / "bad.ndjson", [{"user_id": 1}])
    seen: list[tuple[int, ...]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_threshold())
        return _checking.check_inputs(*args, **kwargs)

    monkeypatch.setattr(_commands, "check_inputs", spy)

    assert send(sandbox, str(good)) == 0
    assert send(sandbox, str(bad)) != 0

    assert gc.get_threshold() == before
    assert len(seen) == 2
    assert all(threshold[0] >= 50_000 for threshold in seen)
