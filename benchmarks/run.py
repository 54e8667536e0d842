"""Benchmarks: moesifapi-typed against the official SDK (moesifapi 1.5.5) and orjson.

From a virtualenv with this project installed (``pip install -e ".[dev]"``):

    python benchmarks/run.py            # the full run: about 5 minutes on 2 cores
    python benchmarks/run.py --quick    # a smoke run: small sizes, one run each
    python benchmarks/run.py --ours-only --quick   # no official SDK, no network

The official SDK has the same import name as this project, so it lives in its own
virtualenv (``benchmarks/.venv-official``, made and filled from PyPI on first use) and
runs in subprocesses. Every measurement is a fresh process (`_worker.py`); the sides
take turns (ours, theirs, ours, ...), and each figure is the median of ``--runs`` runs.
Deliveries go to `_sink.py`, a minimal collector in its own process on 127.0.0.1.
Nothing leaves the machine except the one ``pip install`` of the official SDK.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OFFICIAL_VENV = HERE / ".venv-official"
OFFICIAL_REQUIREMENT = "moesifapi==1.5.5"
WORKER_TIMEOUT = 600.0  # seconds: no single run may hang the benchmark

FULL = {
    "serialize": 10_000,
    "build": 10_000,
    "deliver": 100_000,
    "queue": 10_000,
    "split": (1_000, 10_000, 100_000),
    "memory": 100_000,
    "send": 100_000,
    "dicts": 10_000,
}
QUICK = {
    "serialize": 300,
    "build": 300,
    "deliver": 2_000,
    "queue": 300,
    "split": (100, 300, 1_000),
    "memory": 500,
    "send": 2_000,
    "dicts": 300,
}
WORKLOADS = (
    "serialize",
    "build",
    "deliver",
    "queue",
    "split",
    "import",
    "memory",
    "send",
    "dicts",
)


def _venv_python(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin") / "python"


def official_python(root: Path) -> Path | None:
    """The official SDK's interpreter, the same Python as ours; made on first use.

    A virtualenv left by a run under another Python version is made anew.
    """
    python = _venv_python(root)
    # -I: without it, `-c` would find this checkout's `moesifapi` in the working directory.
    same_python = (
        f"import sys, moesifapi.api_helper; assert sys.version_info[:3] == {sys.version_info[:3]!r}"
    )
    check = [str(python), "-I", "-c", same_python]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {root} with {OFFICIAL_REQUIREMENT} ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    install = [str(python), "-m", "pip", "install", "-q", OFFICIAL_REQUIREMENT]
    if subprocess.run(install).returncode != 0:
        print("could not install the official SDK; running ours only", file=sys.stderr)
        return None
    return python


def given_official_python(python: Path) -> Path:
    """`--official-python`: used as it is, once it is seen to import the official SDK.

    Made absolute (a virtualenv's python is a link: not resolved), as the workers run
    in other folders."""
    python = python.absolute()
    probe = [str(python), "-I", "-c", "import moesifapi.api_helper, moesifapi.controllers"]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        raise SystemExit(f"{python} cannot import the official SDK (moesifapi 1.5.5)")
    return python


class Sink:
    """`_sink.py` in its own process; stops when we close its standard input."""

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "_sink.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# Our sides that run without the compiled speed-up, as an install without a C compiler.
PURE_PYTHON_SIDES = frozenset({"ours-pure", "ours-stdlib"})


def worker_env(side: str) -> dict[str, str]:
    env = dict(os.environ)
    # Byte-code caches on, as after a pip install, so imports are not re-compiled.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("MOESIFAPI_PURE_PYTHON", None)
    if side in PURE_PYTHON_SIDES:
        env["MOESIFAPI_PURE_PYTHON"] = "1"
    env.pop("MOESIFAPI_STDLIB_GZIP", None)
    if side.endswith("-zlib"):  # gzip by zlib at every level, as without `isal`
        env["MOESIFAPI_STDLIB_GZIP"] = "1"
    if side == "official":
        env.pop("PYTHONPATH", None)  # never let our package shadow theirs
    return env


def run_worker(
    python: Path | str, side: str, workload: str, events: int, base_url: str
) -> dict[str, float]:
    command = [str(python), str(HERE / "_worker.py"), side, workload, "--events", str(events)]
    if base_url:
        command += ["--base-url", base_url]
    done = subprocess.run(
        command,
        cwd=HERE,
        env=worker_env(side),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    if done.returncode != 0:
        raise SystemExit(f"{side} {workload} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    sides: dict[str, Path | str], workload: str, events: int, runs: int, base_url: str = ""
) -> dict[str, dict[str, float]]:
    """Median of `runs` runs per side, the sides taking turns within each round."""
    samples: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for round_ in range(runs):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for side in order:
            samples[side].append(run_worker(sides[side], side, workload, events, base_url))
    return {
        side: {key: statistics.median(run[key] for run in runs_) for key in runs_[0]}
        for side, runs_ in samples.items()
    }


def machine_line(official: Path | None) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in ("moesifapi-typed", "orjson", "isal", "httpx", "attrs", "cattrs"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    if official is not None:
        probe = (
            "import importlib.metadata as m; print(m.version('moesifapi'), m.version('requests'))"
        )
        found = subprocess.run([str(official), "-c", probe], capture_output=True, text=True)
        sdk, requests = [*found.stdout.split(), "?", "?"][:2]
        versions += [f"official moesifapi {sdk}", f"requests {requests}"]
    from moesifapi import _gzip, _wire

    json_path = "orjson" if _wire.FAST_JSON else "standard library json"
    json_path += "; our gzip at level 1: " + ("ISA-L" if _gzip.ISAL else "zlib")
    speedup = "built" if _wire.SPEEDUPS else "not built"
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.system()}); {', '.join(versions)}; our JSON path: {json_path}; "
        f"our C speed-up: {speedup}."
    )


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "n/a"
    return f"{numerator / denominator:.1f}x"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value * 1e3:.1f} ms"
    if unit == "us":
        return f"{value * 1e6:.2f} µs"
    if unit == "ev/s":
        return f"{value:,.0f} ev/s"
    if unit == "MB":
        return f"{value / 1e6:.1f} MB"
    return f"{value:.3g}"


NOT_INSTALLED = """\
moesifapi-typed is not installed in this Python ({python}).
Run the benchmarks from a virtualenv that has it, from the project's root:

    python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"
    .venv/bin/python benchmarks/run.py
"""


def main(argv: list[str] | None = None) -> int:
    try:  # the workers import it from this same Python: say so before starting them
        importlib.metadata.distribution("moesifapi-typed")
    except importlib.metadata.PackageNotFoundError:
        sys.stderr.write(NOT_INSTALLED.format(python=sys.executable))
        return 2
    parser = argparse.ArgumentParser(description="moesifapi-typed benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--ours-only", action="store_true", help="skip the official SDK")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 5)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--json", type=Path, default=None, help="also write raw figures here")
    parser.add_argument(
        "--official-python",
        type=Path,
        default=None,
        metavar="PATH",
        help="the python of an existing virtualenv holding the official SDK (moesifapi 1.5.5)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    runs = args.runs or (1 if args.quick else 5)
    wanted = [w for w in args.workloads.split(",") if w]
    unknown = set(wanted) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    try:
        import orjson  # noqa: F401

        has_orjson = True
    except ImportError:
        has_orjson = False

    if args.ours_only:
        official = None
    elif args.official_python is not None:
        official = given_official_python(args.official_python)
    else:
        official = official_python(OFFICIAL_VENV)
    ours: Path | str = sys.executable
    theirs: dict[str, Path | str] = {"official": official} if official else {}
    started = time.perf_counter()
    raw: dict[str, Any] = {"quick": args.quick, "runs": runs}
    rows: list[tuple[str, str, str, str, str]] = []

    def add(workload: str, what: str, a: str, b: str, c: str) -> None:
        rows.append((workload, what, a, b, c))

    if "serialize" in wanted:
        n = sizes["serialize"]
        sides: dict[str, Path | str] = {"ours": ours, **theirs}
        if has_orjson:
            sides["limit"] = ours
        sides["ours-pure"] = ours
        sides["ours-stdlib"] = ours
        got = measure(sides, "serialize", n, runs)
        raw["serialize"] = got
        t = {side: got[side]["seconds"] for side in got}
        add(
            f"(a) serialize {n:,} events",
            "ours · official · orjson limit",
            fmt(t["ours"], "ms"),
            f"{fmt(t.get('official'), 'ms')} · {fmt(t.get('limit'), 'ms')}",
            f"{ratio(t.get('official'), t['ours'])} faster than official; "
            f"{ratio(t['ours'], t.get('limit'))} the limit",
        )
        add(
            "",
            "ours without the C speed-up",
            fmt(t["ours-pure"], "ms"),
            "",
            f"{ratio(t.get('official'), t['ours-pure'])} faster than official; "
            f"{ratio(t['ours-pure'], t.get('limit'))} the limit",
        )
        add(
            "",
            "ours with neither (stdlib json)",
            fmt(t["ours-stdlib"], "ms"),
            "",
            f"{ratio(t.get('official'), t['ours-stdlib'])} faster than official",
        )
    if "build" in wanted:
        n = sizes["build"]
        got = measure({"ours": ours, **theirs}, "build", n, runs)
        raw["build"] = got
        t = {side: got[side]["seconds"] for side in got}
        add(
            f"(b) build + serialize {n:,} events",
            "ours · official",
            fmt(t["ours"], "ms"),
            fmt(t.get("official"), "ms"),
            f"{ratio(t.get('official'), t['ours'])} faster than official",
        )
    if "deliver" in wanted:
        n = sizes["deliver"]
        deliver_sides: dict[str, Path | str] = {"ours": ours, "ours-async": ours, **theirs}
        deliver_sides["ours-gz6"] = ours
        deliver_sides["ours-zlib"] = ours
        if has_orjson:
            deliver_sides["limit-gz1"] = ours
            deliver_sides["limit-gz6"] = ours
            deliver_sides["limit-isal1"] = ours
        with Sink() as base_url:
            got = measure(deliver_sides, "deliver", n, runs, base_url)
        raw["deliver"] = got
        rate = {side: n / got[side]["seconds"] for side in got}
        for side, label in (("ours", "ours, sync"), ("ours-async", "ours, async")):
            add(
                f"(c) deliver {n:,} events" if side == "ours" else "",
                f"{label} · official",
                fmt(rate[side], "ev/s"),
                fmt(rate.get("official"), "ev/s"),
                f"{ratio(rate[side], rate.get('official'))} the official rate",
            )
        what = "ours, sync · floor (orjson, {0}, post)"
        levels = (
            ("gzip level 1 (ISA-L): " + what.format("ISA-L"), "ours", "limit-isal1"),
            ("gzip level 1 (zlib): " + what.format("zlib"), "ours-zlib", "limit-gz1"),
            ("gzip level 6 (zlib): " + what.format("zlib"), "ours-gz6", "limit-gz6"),
        )
        for label, side, floor in levels:
            add(
                "",
                label,
                fmt(rate[side], "ev/s"),
                fmt(rate.get(floor), "ev/s"),
                f"{ratio(rate[side], rate.get(floor))} the floor's rate",
            )
    if "queue" in wanted:
        n = sizes["queue"]
        with Sink() as base_url:
            got = measure({"ours": ours, "ours-stalled": ours}, "queue", n, runs, base_url)
        raw["queue"] = got
        add(
            f"(d) queue_event, {n:,} events",
            "cost per call on the caller's thread",
            fmt(got["ours"]["per_call_seconds"], "us"),
            "(no queue in the official SDK)",
            "",
        )
        for side, when in (("ours", "the worker draining"), ("ours-stalled", "the server stalled")):
            g = got[side]
            add(
                "",
                f"p50 · p99 · max per call, {when}",
                f"{fmt(g['p50_seconds'], 'us')} · {fmt(g['p99_seconds'], 'us')}",
                fmt(g["max_seconds"], "us"),
                "targets: median 6 µs, p99 25 µs",
            )
        add(
            "",
            "queued to delivered, with the worker draining",
            fmt(n / got["ours"]["drain_seconds"], "ev/s"),
            "",
            "",
        )
    if "split" in wanted:
        per_event = {}
        for n in sizes["split"]:
            got = measure({"ours": ours}, "split", n, runs)
            per_event[n] = got["ours"]["seconds"] / n
        raw["split"] = per_event
        small, large = min(per_event), max(per_event)
        add(
            "(e) plan a batch (encode, split, gzip)",
            " · ".join(f"{n:,}" for n in per_event) + " events",
            " · ".join(fmt(t, "us") for t in per_event.values()) + " per event",
            "",
            f"{ratio(per_event[large], per_event[small])} at {large:,} vs {small:,}",
        )
    if "import" in wanted:
        import_sides = {"ours": ours, **theirs}
        for side, python in import_sides.items():  # writes byte-code caches, not timed
            run_worker(python, side, "import", 0, "")
        for workload, what in (
            ("import", "`import moesifapi`"),
            ("import-client", "the package and its client class"),
        ):
            got = measure(import_sides, workload, 0, max(runs, 5) if not args.quick else runs)
            raw[workload] = got
            t = {side: got[side]["seconds"] for side in got}
            add(
                "(f) import" if workload == "import" else "",
                what + " · ours · official",
                fmt(t["ours"], "ms"),
                fmt(t.get("official"), "ms"),
                f"ours takes {ratio(t['ours'], t.get('official'))} the official time",
            )
    if "memory" in wanted:
        n = sizes["memory"]
        got = measure({"ours": ours, **theirs}, "memory", n, runs)
        raw["memory"] = got
        b = {side: got[side]["current_bytes"] for side in got}
        add(
            f"(g) memory, {n:,} events waiting",
            "ours queued · official models held in a list",
            f"{fmt(b['ours'], 'MB')} ({b['ours'] / n:,.0f} B/event)",
            f"{fmt(b.get('official'), 'MB')}"
            + (f" ({b['official'] / n:,.0f} B/event)" if "official" in b else ""),
            f"ours uses {ratio(b['ours'], b.get('official'))} the official memory",
        )
    if "send" in wanted:
        n = sizes["send"]
        send_sides: dict[str, Path | str] = {"ours": ours}
        if has_orjson:
            send_sides["limit"] = ours
        with Sink() as base_url:
            got = measure(send_sides, "send", n, runs, base_url)
        raw["send"] = got
        per = {side: got[side]["seconds"] / n for side in got}
        add(
            f"(h) `moesif send`, {n:,} NDJSON events",
            "per event · ours · floor (orjson check, batch, gzip, post)",
            fmt(per["ours"], "us"),
            fmt(per.get("limit"), "us"),
            f"{ratio(per['ours'], per.get('limit'))} the floor",
        )
    if "dicts" in wanted:
        n = sizes["dicts"]
        dict_sides: dict[str, Path | str] = {"ours": ours, **theirs, "ours-pure": ours}
        if has_orjson:
            dict_sides["limit"] = ours
        got = measure(dict_sides, "dicts", n, runs)
        raw["dicts"] = got
        t = {side: got[side]["seconds"] for side in got}
        add(
            f"(i) {n:,} wire dicts to a batch body",
            "ours (validated) · official (passed through) · orjson floor",
            fmt(t["ours"], "ms"),
            f"{fmt(t.get('official'), 'ms')} · {fmt(t.get('limit'), 'ms')}",
            f"{ratio(t.get('official'), t['ours'])} faster than official (target 2x); "
            f"{ratio(t['ours'], t.get('limit'))} the floor (target at most 4x)",
        )
        add(
            "",
            "ours without the C speed-up",
            fmt(t["ours-pure"], "ms"),
            "",
            f"{ratio(t['ours-pure'], t.get('limit'))} the floor",
        )

    print()
    print("| workload | what | ours | official / other | result |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(machine_line(official))
    print(
        f"Each figure: median of {runs} run(s), sides alternating; "
        f"{time.perf_counter() - started:.0f} s in all."
    )
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
