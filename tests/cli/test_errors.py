"""How `moesif` reports failures: every error line starts ``moesif: error:``, a 404 from a
base URL without /v1 says so, and the exit statuses (130 included) are documented."""

from __future__ import annotations

import argparse
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import APP_ID, MoesifRunner, Sandbox, write_ndjson

from moesifapi import NotFoundError
from moesifapi.cli import _main
from moesifapi.cli._connection import hint_for

ROOT = Path(__file__).resolve().parents[2]


def an_event(**request: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc).isoformat()
    return {
        "request": {"time": now, "uri": "https://api.example.com/", "verb": "GET", "headers": {}}
        | request,
        "response": {"time": now, "status": 200, "headers": {}},
    }


# --- every error path says "moesif: error:" ---


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send"], "moesif: error: the following arguments are required: FILE"),
        (["launch"], "moesif: error: argument COMMAND: invalid choice: 'launch'"),
        (["send", "--chunk-size", "0", "x"], "moesif: error: argument --chunk-size: must be at"),
        (["config", "--timeout", "soon"], "moesif: error: argument --timeout: not a number"),
        (["sandbox", "--port", "70000"], "moesif: error: argument --port: must be a port"),
    ],
)
def test_a_bad_command_line_is_an_error_line_after_the_usage(
    moesif: MoesifRunner, args: list[str], message: str
) -> None:
    run = moesif(*args)
    assert run.status == 2
    assert run.stderr_lines[0].startswith("usage: moesif")
    assert run.stderr_lines[-1].startswith(message), run.stderr


def test_an_interrupt_before_delivery_is_an_error_with_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_main, "run_config", interrupted)
    assert _main.main(["config"]) == 130
    assert capsys.readouterr().err == "moesif: error: interrupted\n"


def test_an_internal_error_is_an_error_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(_main, "run_config", broken)
    assert _main.main(["config"]) == 1
    assert capsys.readouterr().err.startswith("moesif: error: internal error: RuntimeError: boom")


def test_the_sandbox_on_a_port_in_use_is_an_error_line(moesif: MoesifRunner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = moesif("sandbox", "--port", str(port))
    assert run.status != 0
    assert run.stderr_lines[-1].startswith(f"moesif: error: cannot listen on 127.0.0.1:{port}")


def test_an_event_over_the_api_s_one_megabyte_is_an_invalid_record(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    events = write_ndjson(
        tmp_path / "events.ndjson", [an_event(), an_event(body={"blob": "x" * 1_000_000})]
    )
    run = moesif("send", str(events))
    assert run.status == 2
    assert run.stderr_lines[0].startswith(f"{events}:2: encodes to ")
    assert "over the Collector API's 1000000-byte limit for one event" in run.stderr_lines[0]
    assert sandbox.collector.requests == []


# --- a 404 from a base URL without /v1 ---


def test_a_404_from_a_base_url_without_v1_suggests_it(
    moesif: MoesifRunner, sandbox: Sandbox
) -> None:
    root = sandbox.base_url.removesuffix("/v1")
    run = moesif("config", "--base-url", root)
    assert run.status == 1
    [line] = run.stderr_lines
    assert line.startswith(f"moesif: error: 404 Not Found from GET {root}/config")
    assert line.endswith(
        f"(did you mean --base-url {root}/v1? The Collector API's paths start with /v1)"
    )


def test_a_delivery_stopped_by_a_404_suggests_v1_too(
    moesif: MoesifRunner, sandbox: Sandbox, tmp_path: Path
) -> None:
    users = write_ndjson(tmp_path / "users.ndjson", [{"user_id": "u1"}])
    root = sandbox.base_url.removesuffix("/v1") + "/"
    run = moesif("send", str(users), env={"MOESIF_APPLICATION_ID": APP_ID, "MOESIF_BASE_URL": root})
    assert run.status == 1
    [stopped] = [line for line in run.stderr_lines if "delivery stopped" in line]
    assert stopped.startswith("moesif: error: delivery stopped after 0 of 1 user: 404 Not Found")
    assert f"did you mean --base-url {root.rstrip('/')}/v1?" in stopped


def a_404(url: str) -> NotFoundError:
    response = httpx.Response(404, request=httpx.Request("GET", url))
    return NotFoundError("404 Not Found", response=response, body="")


@pytest.mark.parametrize(
    ("base_url", "hinted"),
    [
        ("http://127.0.0.1:9500", True),
        ("http://127.0.0.1:9500/", True),
        ("https://proxy.example.com/moesif", True),
        ("https://api.moesif.net/v1", False),
        ("https://proxy.example.com/moesif/v1/", False),
    ],
)
def test_the_hint_is_given_only_when_the_base_url_lacks_v1(base_url: str, hinted: bool) -> None:
    args = argparse.Namespace(base_url=base_url)
    hint = hint_for(a_404(base_url.rstrip("/") + "/config"), args)
    assert bool(hint) is hinted
    if hinted:
        assert f"{base_url.rstrip('/')}/v1?" in hint


def test_no_hint_for_other_errors_and_the_404_is_found_behind_a_partial_batch() -> None:
    args = argparse.Namespace(base_url="http://127.0.0.1:9500")
    assert hint_for(RuntimeError("boom"), args) == ""
    assert hint_for(None, args) == ""
    wrapper = RuntimeError("some sub-batches failed")
    wrapper.__cause__ = a_404("http://127.0.0.1:9500/events/batch")
    assert "/v1?" in hint_for(wrapper, args)


def test_without_base_url_the_environment_s_is_the_one_hinted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOESIF_BASE_URL", "http://localhost:9500")
    assert "http://localhost:9500/v1?" in hint_for(
        a_404("http://localhost:9500/config"), argparse.Namespace()
    )


# --- exit status 130 is listed ---


def test_the_help_lists_every_exit_status_130_included(moesif: MoesifRunner) -> None:
    run = moesif("--help")
    assert run.status == 0
    lines = run.stdout.splitlines()
    statuses = lines[lines.index("exit status:") + 1 :]
    assert [line.split()[0] for line in statuses if line.strip()] == ["0", "1", "2", "130"]
    assert "interrupted" in statuses[3]


def test_the_cli_docs_list_exit_status_130() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "| 130 | interrupted with Ctrl-C" in page
    assert "moesif: error:" in page
