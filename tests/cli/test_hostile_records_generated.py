"""`moesif send` over generated NDJSON files mixing good user records with hostile lines.

The command runs in process (`moesifapi.cli.main`) against one sandbox served on
127.0.0.1 for all examples. Hostile lines: nesting past the model's limit and past what
json reads, integers of thousands of digits and lone surrogates as JSON text, non-object
JSON, text that is not JSON or not UTF-8. With --skip-invalid: exit 0, the good records
reach the sandbox, each bad one is reported with its line number, never an internal
error. Without it: exit 2 and nothing is sent.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from cli_support import APP_ID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moesifapi._constants import MAX_JSON_DEPTH
from moesifapi.cli import main as moesif_main
from moesifapi.testing import Collector

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _quick_client_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Each run builds an httpx client, which loads every CA certificate (about 20 ms)
    # though the sandbox is plain http; an empty certificate directory is loaded lazily.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path_factory.mktemp("no-certificates")))


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth  # json.dumps would recurse


def user(user_id: str, metadata: str) -> bytes:
    return f'{{"user_id": "{user_id}", "metadata": {{"value": {metadata}}}}}'.encode()


good_metadata = st.one_of(
    st.integers(0, 30).map(nested),
    st.just('"\\ud83d\\ude00"'),
    st.just('"' + "x" * 50_000 + '"'),
    st.just("123456789012345678901234567890"),
)
hostile_lines = st.one_of(
    st.integers(MAX_JSON_DEPTH + 1, 200).map(lambda depth: user("u-deep", nested(depth))),
    st.integers(3_000, 6_000).map(lambda depth: user("u-deeper", nested(depth))),
    st.integers(4_301, 6_000).map(lambda digits: user("u-digits", "7" * digits)),
    st.just(user("u-huge", "1" + "0" * 5000)),  # 10**5000
    st.just(user("u-surrogate", '"\\ud800"')),
    st.just(b'{"user_id": "\\udfff"}'),
    st.sampled_from([b"7", b'"user"', b"null", b"[]", b'[{"user_id": "u-in-list"}]']),
    st.sampled_from([b'{"user_id": ', b"not json", b'{"user_id": "u", "metadata": NaN}']),
    st.just(b'{"user_id": "\xff\xfe"}'),  # not UTF-8
    st.just(b'{"user_id": "u-typo", "metdata": {}}'),
)


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, set[str], list[int]]:
    """File content, the good user ids in it, and the line numbers of the bad lines."""
    lines: list[bytes] = []
    good: set[str] = set()
    bad: list[int] = []
    for number in range(1, draw(st.integers(1, 6)) + 1):
        choice = draw(st.integers(0, 4))
        if choice == 0:
            lines.append(b"")  # a blank line: skipped, but counted
        elif choice == 1:
            line = draw(hostile_lines)
            if line.startswith(b"[") and not any(lines):
                line = b"7"  # a file whose first text is "[" is read as a JSON array
            lines.append(line)
            bad.append(number)
        else:
            user_id = f"u-ok-{number}"
            lines.append(user(user_id, draw(good_metadata)))
            good.add(user_id)
    return b"\n".join(lines) + b"\n", good, bad


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = moesif_main(list(argv))
    return status, err.getvalue()


def test_send_with_skip_invalid_sends_the_good_records_and_names_each_bad_line(
    tmp_path: Path,
) -> None:
    collector = Collector(APP_ID)
    path = tmp_path / "users.ndjson"

    @EXAMPLES
    @given(generated=files())
    def check(generated: tuple[bytes, set[str], list[int]]) -> None:
        content, good, bad = generated
        collector.reset()
        path.write_bytes(content)

        status, err = run(*common, "--skip-invalid", str(path))

        assert status == 0, err
        assert "internal error" not in err
        assert "Traceback" not in err
        assert set(collector.users) == good
        reported = [line for line in err.splitlines() if line.startswith(f"{path}:")]
        assert [int(line.split(":")[1]) for line in reported] == bad, err
        if good:
            assert f"users: {len(good)} sent, {len(bad)} skipped as invalid, 0 failed" in err
        else:
            assert collector.requests == []

    with collector.serve() as base_url:
        common = ("send", "--type", "users", "--application-id", APP_ID, "--base-url", base_url)
        check()


def test_send_without_skip_invalid_sends_nothing_if_any_line_is_bad(tmp_path: Path) -> None:
    collector = Collector(APP_ID)
    path = tmp_path / "users.ndjson"

    @EXAMPLES
    @given(generated=files())
    def check(generated: tuple[bytes, set[str], list[int]]) -> None:
        content, good, bad = generated
        collector.reset()
        path.write_bytes(content)

        status, err = run(*common, str(path))

        assert "internal error" not in err
        if bad:
            assert status == 2, err
            assert collector.requests == []
            assert err.splitlines()[-1].startswith(f"moesif: error: {len(bad)} invalid record")
        else:
            assert status == 0, err
            assert set(collector.users) == good

    with collector.serve() as base_url:
        common = ("send", "--type", "users", "--application-id", APP_ID, "--base-url", base_url)
        check()


def test_a_json_array_with_generated_hostile_items_skips_each_naming_its_index(
    tmp_path: Path,
) -> None:
    collector = Collector(APP_ID)
    path = tmp_path / "users.json"
    deep_items = st.one_of(
        st.integers(MAX_JSON_DEPTH + 1, 200).map(lambda depth: user("u-deep", nested(depth))),
        st.integers(3_000, 6_000).map(lambda depth: user("u-deeper", nested(depth))),
        st.integers(3_000, 6_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.just(user("u-tricky", '"]]]}}}\\"[[[{{{"')),  # valid: brackets inside a string
    )

    @EXAMPLES
    @given(items=st.lists(st.one_of(deep_items, st.just(b"")), min_size=1, max_size=5))
    def check(items: list[bytes]) -> None:
        collector.reset()
        texts = [item or user(f"u-ok-{index}", "1") for index, item in enumerate(items)]
        path.write_bytes(b"[\n" + b",\n".join(texts) + b"\n]\n")

        status, err = run(*common, "--skip-invalid", str(path))

        assert status == 0, err
        assert "internal error" not in err
        good = {f"u-ok-{index}" for index, item in enumerate(items) if not item}
        if any(b"u-tricky" in text for text in texts):
            good.add("u-tricky")
        assert set(collector.users) == good
        skipped = [
            index for index, text in enumerate(texts) if text.startswith(b"[") or b"u-deep" in text
        ]
        for index in skipped:
            assert f"{path}:{index + 2} [item {index}]: " in err, err

    with collector.serve() as base_url:
        common = ("send", "--type", "users", "--application-id", APP_ID, "--base-url", base_url)
        check()
