"""Helpers shared by the `moesif` command's tests: running it, and reading what it wrote.

Imported by the test modules and by conftest.py, which turns some into fixtures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moesifapi.testing import Collector

APP_ID = "cli-test-app"
FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = FIXTURES / "records"
# Generous bound for one command; a passing run takes well under a second or two.
RUN_TIMEOUT = 60.0


def moesif_command() -> list[str]:
    """The console script installed beside this interpreter, else the module."""
    script = Path(sys.executable).with_name("moesif")
    return [str(script)] if script.exists() else [sys.executable, "-m", "moesifapi.cli"]


def sigint_as_default() -> None:
    """A `preexec_fn` for a child that a test will Ctrl-C: a non-interactive shell starts
    background jobs (``pytest &``) with SIGINT ignored, a child inherits that, and the
    command rightly leaves an ignored SIGINT alone."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any MOESIF_* setting of the developer's."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MOESIF_")}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    """A finished `moesif` run."""

    status: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def stdout_json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@dataclass(frozen=True)
class Sandbox:
    """A collector and the base URL it is served at."""

    collector: Collector
    base_url: str


MoesifRunner = Callable[..., Run]


def make_runner(sandbox: Sandbox, workdir: Path) -> MoesifRunner:
    """A function running ``moesif ARGS...`` in `workdir`, pointed at the sandbox by environment.

    ``stdin`` feeds standard input; ``env`` replaces the MOESIF_* variables.
    """
    default_env = {"MOESIF_APPLICATION_ID": APP_ID, "MOESIF_BASE_URL": sandbox.base_url}

    def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Run:
        completed = subprocess.run(
            [*moesif_command(), *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            cwd=workdir,
            env=clean_environment(**(default_env if env is None else env)),
            timeout=RUN_TIMEOUT,
            check=False,
        )
        return Run(
            completed.returncode,
            completed.stdout.decode("utf-8"),
            completed.stderr.decode("utf-8"),
        )

    return run


def seed_failing_request(number: int, status: int) -> int:
    """A seed for ``Collector.fail_randomly(0.5, status, seed)`` under which requests
    1 to ``number - 1`` succeed and request `number` fails.

    The sandbox draws once per request from a generator seeded with `seed`, so the
    pattern is fixed; it is found by asking throwaway collectors, not by assuming how
    the draw is made. This is how a test makes a failure land on a later request
    of a subprocess it cannot pause.
    """
    wanted = [200] * (number - 1) + [status]
    headers = {"X-Moesif-Application-Id": APP_ID}
    for seed in range(10_000):
        probe = Collector(APP_ID)
        probe.fail_randomly(0.5, status=status, seed=seed)
        seen = [probe.handle("GET", "/v1/config", headers, b"").status for _ in range(number)]
        if seen == wanted:
            return seed
    raise AssertionError(f"no seed fails request {number} alone")


def write_ndjson(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
