"""The capture benchmark still runs: `benchmarks/capture.py --quick --ours-only`, and
`--quick --parts`.

It checks that the harness runs end to end (the in-process driver, uvicorn and
gunicorn serving each variant, the load generator, the sink) and prints its tables,
never how fast: timings on a shared machine are not something a test can assert. Our
side only, so no virtualenv is made and nothing is fetched; everything stays on
127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # starts servers and a load generator; see pyproject.toml

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("fastapi", "uvicorn", "flask", "gunicorn")


needs_servers = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in NEEDED),
    reason="the capture benchmark needs fastapi, uvicorn, flask and gunicorn",
)


def run_quick(tmp_path: Path, mode: str) -> tuple[str, dict[str, Any]]:
    """`capture.py --quick` with `mode`: what it printed, and its raw figures."""
    raw = tmp_path / "figures.json"
    script = ROOT / "benchmarks" / "capture.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", mode, "--json", str(raw)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures: dict[str, Any] = json.loads(raw.read_text())
    return done.stdout, figures


@needs_servers
def test_quick_capture_benchmark_of_our_side_prints_its_tables(tmp_path: Path) -> None:
    out, figures = run_quick(tmp_path, "--ours-only")

    for label in (
        "| middleware | bare app | ours | official |",
        "| ASGI |",
        "| WSGI |",
        "| app | bare | ours | official | cost of ours | cost of official |",
        "| FastAPI under uvicorn (1 worker), req/s |",
        "| FastAPI under uvicorn (1 worker), server CPU per request |",
        "| Flask under gunicorn (2 sync workers), req/s |",
        "90% interval of the cost over all rounds",
        "Targets (",
        "Machine:",
    ):
        assert label in out, f"{label!r} missing from:\n{out}"
    for kind in ("asgi", "wsgi"):
        ours = figures["inproc"][kind]["ours"]
        assert ours["sent"] == ours["queued"] == ours["requests"], ours
        assert ours["batches"] >= 1, ours
    for stack in ("fastapi", "flask"):
        for variant in ("bare", "ours"):
            rounds = figures["throughput"][stack][variant]["rounds"]
            total = figures["throughput"][stack][variant]["total"]
            assert len(rounds) == 2, rounds  # --quick: two rounds, every variant in each
            assert all(run["ok"] > 0 for run in rounds), rounds
            assert total["ok"] == sum(run["ok"] for run in rounds), total
            assert total["errors"] == total["bad"] == 0, total
            assert total["server_cpu_us"] > 0, total
        assert figures["throughput"][stack]["bare"]["total"]["batches"] == 0
        assert figures["throughput"][stack]["ours"]["total"]["batches"] >= 1
    assert "official" not in figures["throughput"]["fastapi"]


@needs_servers
def test_quick_parts_run_serves_every_stage_of_ours(tmp_path: Path) -> None:
    out, figures = run_quick(tmp_path, "--parts")

    assert "| app | bare | adapter only | + event written | + queue and delivery, no gzip |" in out
    assert "| Flask under gunicorn (2 sync workers) |" in out
    for stack in ("fastapi", "flask"):
        stages = figures["throughput"][stack]
        assert set(stages) == {
            "bare", "ours-adapter", "ours-drop", "ours-nogzip", "ours-zlib", "ours",
        }  # fmt: skip
        for stage, result in stages.items():
            total = result["total"]
            assert total["ok"] > 0, (stage, total)
            assert total["errors"] == total["bad"] == 0, (stage, total)
            assert not total["problems"], (stage, total["problems"])
        # The adapter alone and the capture alone queue nothing; every later stage delivers.
        assert stages["ours-adapter"]["total"]["batches"] == 0
        assert stages["ours-drop"]["total"]["batches"] == 0
        for stage in ("ours-nogzip", "ours-zlib", "ours"):
            assert stages[stage]["total"]["batches"] >= 1, stage
