"""The benchmark harness still runs: `benchmarks/run.py --quick --ours-only`.

Only that it runs end to end and prints every workload is checked, never how fast:
timings on a shared machine are not something a test can assert. Our side only, so
no virtualenv is made and nothing is fetched; deliveries go to a local sink.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds and runs whole programs; see pyproject.toml

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_of_our_side_runs_every_workload(tmp_path: Path) -> None:
    raw = tmp_path / "figures.json"

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--ours-only",
            "--json",
            str(raw),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    for label in ("(a)", "(b)", "(c)", "(d)", "(e)", "(f)", "(g)", "Machine:"):
        assert label in done.stdout
    assert raw.exists()


def test_without_the_package_installed_it_says_how_to_set_up(tmp_path: Path) -> None:
    # `-S`: no site-packages, as with a Python that never had the project installed.
    done = subprocess.run(
        [sys.executable, "-S", str(ROOT / "benchmarks" / "run.py"), "--quick", "--ours-only"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )

    assert done.returncode == 2
    assert "moesifapi-typed is not installed" in done.stderr
    assert 'pip install -e ".[dev]"' in done.stderr
    assert "Traceback" not in done.stderr
