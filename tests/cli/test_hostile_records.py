"""`moesif send --skip-invalid` with records nested past the depth limit, or past what
json reads at all: each is a skipped record, the good ones are sent."""

from __future__ import annotations

from pathlib import Path

from cli_support import MoesifRunner, Sandbox

from moesifapi._constants import MAX_JSON_DEPTH


def _deep_user(user_id: str, depth: int) -> str:
    nested = '{"a":' * depth + "1" + "}" * depth  # json.dumps would recurse
    return f'{{"user_id": "{user_id}", "metadata": {nested}}}\n'


def test_records_nested_too_deep_are_skipped_and_the_others_sent(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = tmp_path / "users.ndjson"
    users.write_text(
        '{"user_id": "u-ok-1"}\n'
        + _deep_user("u-deep", MAX_JSON_DEPTH + 5)
        + _deep_user("u-deeper", 10_000)
        + '{"user_id": "u-ok-2", "metadata": {"loop": "fine"}}\n'
    )

    run = moesif("send", "--type", "users", "--skip-invalid", str(users))

    assert run.status == 0, run.stderr
    assert set(sandbox.collector.users) == {"u-ok-1", "u-ok-2"}
    assert "users: 2 sent, 2 skipped as invalid, 0 failed; 1 request" in run.stderr
    assert f"{users}:2: metadata.a.a.a" in run.stderr
    assert f"more than {MAX_JSON_DEPTH} deep" in run.stderr
    assert f"{users}:3: " in run.stderr
    assert "internal error" not in run.stderr


def test_a_json_array_item_too_deep_to_read_is_skipped_naming_its_index(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = tmp_path / "users.json"
    deep = _deep_user("u-deeper", 10_000).strip()
    # Brackets and escaped quotes inside strings do not count as nesting.
    nested = '{"s": "]}\\"[{", "n": ' * 2_000 + "1" + "}" * 2_000
    tricky = '{"user_id": "u-tricky", "metadata": ' + nested + "}"
    users.write_text(
        f'[\n{{"user_id": "u-ok-1"}},\n{deep},\n{tricky},\n{{"user_id": "u-ok-2"}}\n]\n'
    )

    run = moesif("send", "--type", "users", "--skip-invalid", str(users))

    assert run.status == 0, run.stderr
    assert set(sandbox.collector.users) == {"u-ok-1", "u-ok-2"}
    assert f"{users}:3 [item 1]: nests arrays and objects too deep to read" in run.stderr
    assert f"{users}:4 [item 2]: nests arrays and objects too deep to read" in run.stderr
    assert "users: 2 sent, 2 skipped as invalid, 0 failed; 1 request" in run.stderr
    assert "internal error" not in run.stderr
    assert "RecursionError" not in run.stderr


def test_without_skip_invalid_an_array_item_too_deep_stops_the_run_before_sending(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = tmp_path / "users.json"
    deep = _deep_user("u-deeper", 10_000).strip()
    users.write_text(f'[\n{{"user_id": "u-ok-1"}},\n{deep}\n]\n')

    run = moesif("send", "--type", "users", str(users))

    assert run.status == 2
    assert f"{users}:3 [item 1]: nests arrays and objects too deep to read" in run.stderr
    assert sandbox.collector.requests == []


def test_an_array_item_too_deep_whose_brackets_never_close_stops_the_run(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = tmp_path / "users.json"
    users.write_text('[\n{"user_id": "u-ok-1"},\n' + '{"a": [' * 10_000 + "\n]\n")

    run = moesif("send", "--type", "users", "--skip-invalid", str(users))

    assert run.status == 2
    assert f"{users}:3: item 1 nests arrays and objects too deep to read" in run.stderr
    assert "internal error" not in run.stderr
    assert sandbox.collector.requests == []
