"""The benchmark harness still runs: `benchmarks/run.py --quick --ours-only`.

Only that it runs end to end and prints every workload is checked, never how fast:
timings on a shared machine are not something a test can assert. Our side only, so
no virtualenv is made and nothing is fetched; deliveries go to a local sink.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
