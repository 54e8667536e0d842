"""The examples run as a new user would run them: offline, against the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOESIF_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_quickstart_sends_everything_to_the_sandbox_when_no_application_id_is_set() -> None:
    result = run_example("quickstart.py")
    assert result.returncode == 0, result.stderr
    assert "using the sandbox collector at http://127.0.0.1:" in result.stdout
    assert (
        "The sandbox holds 2002 events, 2 actions, 2 users, 1 company, 1 subscription."
        in result.stdout
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("send_sync.py", "the sandbox holds 1000 events and 1 user"),
        ("send_async.py", "the sandbox holds 50 users and 50 actions"),
        ("queue_webapp.py", "the sandbox holds 20 events; Authorization=<masked>"),
    ],
)
def test_example_runs_offline(name: str, expected: str) -> None:
    result = run_example(name)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_the_readme_sandbox_snippet_runs() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    snippets = [block for block in readme.split("```python\n")[1:] if "Collector()" in block]
    assert len(snippets) == 1
    exec(snippets[0].split("```")[0], {})


def test_sampling_and_governance_example_samples_and_blocks_offline() -> None:
    result = run_example("sampling_and_governance.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "user-1's sample rate: 25 %"
    sent, weights, left_out = re.fullmatch(
        r"queued 1000: sent (\d+) with weight (\{.*\}), sampled out (\d+)", lines[1]
    ).groups()  # type: ignore[union-attr]
    assert int(sent) + int(left_out) == 1000
    assert 100 < int(sent) < 400  # 25 % of 1,000, far from either end
    assert weights == "{4}"
    assert lines[2].startswith(
        "user-free: blocked by 'free-plan' with 402, headers {'X-Plan': 'free'}"
    )
    assert lines[3] == "user-paid: allowed"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "fastapi_app.py",
            [
                "the sandbox received 3 events",
                "POST /items -> 201 user=alice",
                "blocked_by=block-mallory",
            ],
        ),
        (
            "flask_app.py",
            [
                "the sandbox received 4 events",
                "POST /orders 201 user=alice",
                "Authorization=***",
            ],
        ),
        ("outgoing_httpx.py", ["the sandbox got 3 outgoing events", "Authorization=***"]),
    ],
)
def test_capture_example_runs_offline(name: str, expected: list[str]) -> None:
    result = run_example(name)
    assert result.returncode == 0, result.stderr
    for line in expected:
        assert line in result.stdout
