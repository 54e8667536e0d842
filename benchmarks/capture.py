"""Benchmark of the capture middlewares: per-request cost and web-app throughput.

From this project's virtualenv (``pip install -e ".[dev]"`` plus fastapi, uvicorn,
flask and gunicorn):

    python benchmarks/capture.py                       # full run, about 6 minutes
    python benchmarks/capture.py --quick --ours-only   # smoke run: seconds, no official

Two parts, each against the bare app and, unless ``--ours-only``, the official
middlewares (moesifasgi, moesifwsgi: same import name ``moesifapi`` underneath as this
project, so they live in ``benchmarks/.venv-official-middleware``, made and filled
from PyPI on first use, with the same FastAPI, uvicorn, Flask and gunicorn versions
as here):

1. In process (`capture_inproc.py`): a trivial app echoing a 1 kB JSON body, called
   directly with no server, bare and wrapped in turns; the difference is the
   middleware's cost on the request's own path (capture, build, queue), in µs.
2. Throughput: a FastAPI hello-world (~1 kB JSON) under uvicorn (1 worker) and a Flask
   one under gunicorn (2 sync workers), bare / ours / official, served one at a time
   and loaded by `capture_load.py` (its own process, N keep-alive connections, fixed
   duration, after a warm-up run of its own). Variants take turns within each round,
   the order reversed every round; figures are medians over the rounds: requests per
   second, and the server's CPU time per request (all its processes and threads, read
   from /proc over the timed run), which a shared machine moves far less.

Every process imports `capture_guard` (loopback only) and both middlewares deliver to
`capture_sink.py` on 127.0.0.1, one sink per server run, whose counts show that each
variant did deliver. Nothing leaves the machine except the one ``pip install``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OFFICIAL_VENV = HERE / ".venv-official-middleware"
OFFICIAL_PACKAGES = ("moesifasgi==1.1.8", "moesifwsgi==1.10.5")
FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "flask", "werkzeug", "gunicorn")
VARIANTS = ("bare", "ours", "official")
STACKS = ("fastapi", "flask")
STACK_NAMES = {
    "fastapi": "FastAPI under uvicorn (1 worker)",
    "flask": "Flask under gunicorn (2 sync workers)",
}
START_TIMEOUT = 60.0  # seconds for a server to answer its first request
STOP_TIMEOUT = 20.0  # seconds for a server to stop (and flush) after SIGTERM / SIGINT

FULL = {
    "inproc_requests": 5_000,
    "inproc_rounds": 7,
    "inproc_warmup": 500,
    "rounds": 5,
    "warmup": 1.0,
    "duration": 4.0,
    "connections": 12,
}
QUICK = {
    "inproc_requests": 200,
    "inproc_rounds": 1,
    "inproc_warmup": 20,
    "rounds": 1,
    "warmup": 0.5,
    "duration": 0.5,
    "connections": 4,
}


# --- the official middlewares' virtualenv ---


def _venv_python(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin") / "python"


def _framework_pins() -> list[str]:
    """The frameworks at the versions this virtualenv has, so both sides run the same."""
    pins = []
    for name in FRAMEWORKS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def official_python(root: Path = OFFICIAL_VENV) -> Path | None:
    """The interpreter with moesifasgi, moesifwsgi and the frameworks; made on first use."""
    python = _venv_python(root)
    probe = (
        "import sys, moesifasgi, moesifwsgi, fastapi, uvicorn, flask, gunicorn;"
        f" assert sys.version_info[:2] == {sys.version_info[:2]!r}"
    )
    check = [str(python), "-I", "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {root} with {', '.join(OFFICIAL_PACKAGES)} ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    install = [str(python), "-m", "pip", "install", "-q", *OFFICIAL_PACKAGES, *_framework_pins()]
    if subprocess.run(install).returncode != 0:
        print("could not install the official middlewares; running ours only", file=sys.stderr)
        return None
    return python


def _env(variant: str, sink: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # byte-code caches on, as after pip install
    env.pop("MOESIFAPI_PURE_PYTHON", None)
    env.pop("MOESIF_BASE_URL", None)
    env.pop("MOESIF_APPLICATION_ID", None)
    if variant == "official":
        env.pop("PYTHONPATH", None)  # never let this project's moesifapi shadow theirs
    env["CAPTURE_VARIANT"] = variant
    if sink:
        env["CAPTURE_SINK"] = sink
    return env


# --- processes ---


class Sink:
    """`capture_sink.py` in its own process; its counts once its standard input closes."""

    def __enter__(self) -> Sink:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "capture_sink.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the sink did not start: {self.url!r}")
        self.counts: dict[str, dict[str, int]] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        try:
            last = self.process.stdout.read().strip().splitlines()
            self.process.wait(10)
            if last:
                self.counts = json.loads(last[-1])
        except (subprocess.TimeoutExpired, ValueError):
            self.process.kill()
            self.process.wait()

    def batches(self) -> tuple[int, int]:
        """Event batches received and their bytes (gzip), over every path."""
        requests = self.counts.get("requests", {})
        sizes = self.counts.get("bytes", {})
        keys = [key for key in requests if key.endswith("/events/batch")]
        return sum(requests[key] for key in keys), sum(sizes[key] for key in keys)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return conn.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Server:
    """One app served by uvicorn or gunicorn on 127.0.0.1, until the block ends."""

    def __init__(self, python: Path | str, stack: str, variant: str, sink: str) -> None:
        self.port = free_port()
        if stack == "fastapi":
            self.command = [
                str(python), "-m", "uvicorn", "capture_fastapi_app:app",
                "--host", "127.0.0.1", "--port", str(self.port), "--app-dir", str(HERE),
                "--log-level", "warning", "--no-access-log", "--lifespan", "on",
            ]  # fmt: skip
        else:
            self.command = [
                str(python), "-m", "gunicorn", "capture_flask_app:app",
                "--workers", "2", "--worker-class", "sync",
                "--bind", f"127.0.0.1:{self.port}", "--chdir", str(HERE),
                "--log-level", "warning",
            ]  # fmt: skip
        self.env = _env(variant, sink)
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (read after the run)

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            self.command, cwd=HERE, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._stop()
                raise SystemExit(f"{' '.join(self.command)} did not start:\n{self.output()}")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/hello"

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if "uvicorn" in self.command else signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by process `root` and its descendants
    still alive, from /proc; NaN where there is no /proc."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        entries = [name for name in os.listdir("/proc") if name.isdigit()]
    except (OSError, ValueError, AttributeError):
        return float("nan")
    parents: dict[int, int] = {}
    used: dict[int, int] = {}
    for name in entries:
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(name)
        parents[pid] = int(fields[1])
        used[pid] = int(fields[11]) + int(fields[12])  # utime, stime
    family = {root}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        grew = bool(more)
        family |= more
    return sum(used.get(pid, 0) for pid in family) / ticks


def run_load(url: str, settings: dict[str, Any], duration: float) -> dict[str, float]:
    """`capture_load.py` for `duration` seconds, no warm-up of its own."""
    command = [
        sys.executable, str(HERE / "capture_load.py"), url,
        "--connections", str(settings["connections"]),
        "--warmup", "0", "--duration", str(duration),
    ]  # fmt: skip
    timeout = duration + 60
    done = subprocess.run(
        command, cwd=HERE, env=_env("bare"), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _problems(log: str) -> list[str]:
    """Lines of a server's output that say something went wrong."""
    words = ("Traceback", "ERROR", "Exception", "could not", "refused")
    return [line for line in log.splitlines() if any(word in line for word in words)]


# --- the two parts ---


def inproc(
    pythons: dict[str, Path | str], settings: dict[str, Any]
) -> dict[str, dict[str, dict[str, float]]]:
    """kind -> variant -> figures of `capture_inproc.py`."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for kind in ("asgi", "wsgi"):
        results[kind] = {}
        for variant, python in pythons.items():
            with Sink() as sink:
                command = [
                    str(python), str(HERE / "capture_inproc.py"), kind,
                    "--variant", variant, "--sink", sink.url,
                    "--requests", str(settings["inproc_requests"]),
                    "--rounds", str(settings["inproc_rounds"]),
                    "--warmup", str(settings["inproc_warmup"]),
                ]  # fmt: skip
                done = subprocess.run(
                    command, cwd=HERE, env=_env(variant), capture_output=True, text=True,
                    timeout=600,
                )  # fmt: skip
                if done.returncode != 0:
                    raise SystemExit(f"{kind} {variant} in process failed:\n{done.stderr}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
            figures["batches"], figures["batch_bytes"] = sink.batches()
            results[kind][variant] = figures
            print(f"  in process, {kind}, {variant}: {figures['cost_us']:.1f} µs", file=sys.stderr)
    return results


def throughput(
    pythons: dict[str, Path | str], settings: dict[str, Any]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """stack -> variant -> one result per round."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for stack in STACKS:
        results[stack] = {variant: [] for variant in pythons}
        for round_ in range(settings["rounds"]):
            order = list(pythons) if round_ % 2 == 0 else list(reversed(pythons))
            for variant in order:
                with Sink() as sink:
                    server = Server(pythons[variant], stack, variant, sink.url)
                    with server as url:
                        # Warm-up first, apart: every worker booted and warm, and
                        # none of that in the CPU measured over the timed run.
                        run_load(url, settings, settings["warmup"])
                        cpu_before = cpu_seconds(server.process.pid)
                        result: dict[str, Any] = dict(run_load(url, settings, settings["duration"]))
                        cpu = cpu_seconds(server.process.pid) - cpu_before
                        answers = result["ok"] + result["bad"]
                        result["server_cpu_us"] = cpu / answers * 1e6 if answers else 0.0
                result["batches"], result["batch_bytes"] = sink.batches()
                result["problems"] = _problems(server.output())[:5]
                results[stack][variant].append(result)
                print(
                    f"  {stack} round {round_ + 1}, {variant}: {result['rps']:,.0f} req/s,"
                    f" {result['server_cpu_us']:.0f} µs server CPU per request,"
                    f" {result['batches']} batches delivered",
                    file=sys.stderr,
                )
    return results


# --- the report ---


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
    for name in ("moesifapi-typed", "orjson", "httpx", *FRAMEWORKS):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    if official is not None:
        names = ("moesifasgi", "moesifwsgi", "moesifapi")
        probe = f"import importlib.metadata as m; print(*(m.version(n) for n in {names!r}))"
        found = subprocess.run([str(official), "-I", "-c", probe], capture_output=True, text=True)
        got = [*found.stdout.split(), "?", "?", "?"][:3]
        versions.append(
            f"official moesifasgi {got[0]}, moesifwsgi {got[1]} (on moesifapi {got[2]})"
        )
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.system()}); {', '.join(versions)}."
    )


def _pct(part: float, whole: float) -> float:
    return (whole - part) / whole * 100 if whole else float("nan")


def report(
    cost: dict[str, dict[str, dict[str, float]]],
    load: dict[str, dict[str, list[dict[str, Any]]]],
    settings: dict[str, Any],
    official: Path | None,
) -> str:
    lines = [
        "Per-request cost on the app's path (in process, no server; 1 kB JSON request and "
        "1 kB JSON answer; wrapped minus bare, median of paired rounds; CPU time of the "
        "request's thread, then of the whole process with the background delivery, then "
        "wall time):",
        "",
        "| middleware | bare app | ours | official |",
        "|---|---|---|---|",
    ]
    for kind, label in (("asgi", "ASGI"), ("wsgi", "WSGI")):
        ours = cost[kind]["ours"]
        theirs = cost[kind].get("official")

        def cell(figures: dict[str, float] | None) -> str:
            if not figures:
                return "not run"
            return (
                f"{figures['cost_us_thread']:.0f} · {figures['cost_us_process']:.0f} · "
                f"{figures['cost_us']:.0f} µs"
            )

        lines.append(
            f"| {label} | {ours['bare_us_thread']:.1f} µs per request | {cell(ours)} "
            f"| {cell(theirs)} |"
        )
    lines += [
        "",
        f"Throughput (GET /hello answering ~1 kB JSON; median of {settings['rounds']} paired "
        f"rounds of {settings['duration']:g} s after {settings['warmup']:g} s warm-up, "
        f"{settings['connections']} connections); requests/s, then the server's CPU time "
        "per request (all its processes and threads, the delivery included):",
        "",
        "| app | bare | ours | official | cost of ours | cost of official |",
        "|---|---|---|---|---|---|",
    ]
    rps: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    for stack in STACKS:
        rps[stack] = {
            v: statistics.median(r["rps"] for r in runs) for v, runs in load[stack].items()
        }
        cpu[stack] = {
            v: statistics.median(r["server_cpu_us"] for r in runs)
            for v, runs in load[stack].items()
        }
        m, c = rps[stack], cpu[stack]
        theirs_rps = theirs_rps_cost = theirs_cpu = theirs_cpu_cost = "n/a"
        if "official" in m:
            theirs_rps = f"{m['official']:,.0f}"
            theirs_rps_cost = f"{_pct(m['official'], m['bare']):.1f}%"
            theirs_cpu = f"{c['official']:.0f} µs"
            theirs_cpu_cost = f"{100 - c['bare'] / c['official'] * 100:.1f}%"
        name = STACK_NAMES[stack]
        lines.append(
            f"| {name}, req/s | {m['bare']:,.0f} | {m['ours']:,.0f} | {theirs_rps} "
            f"| {_pct(m['ours'], m['bare']):.1f}% | {theirs_rps_cost} |"
        )
        # CPU per request: the throughput a saturated server loses is 1 - bare/wrapped.
        lines.append(
            f"| {name}, server CPU per request | {c['bare']:.0f} µs | {c['ours']:.0f} µs "
            f"| {theirs_cpu} | {100 - c['bare'] / c['ours'] * 100:.1f}% | {theirs_cpu_cost} |"
        )
    lines += [
        "",
        "Cost: the requests/s lost against the bare app; on the CPU rows, 1 - bare/wrapped "
        "CPU per request, the throughput a saturated server loses. The load generator runs "
        "on the same 2 cores (its own process, one asyncio loop) and takes CPU from the "
        "server, for every variant alike; the CPU rows do not depend on it.",
    ]
    # The machine's speed drifts within a run; each round's variants ran back to back,
    # so the cost within each round says how far the drift moved the medians above.
    for stack in STACKS:
        runs = load[stack]
        costs = [
            100 - bare["server_cpu_us"] / ours["server_cpu_us"] * 100
            for bare, ours in zip(runs["bare"], runs["ours"], strict=True)
            if ours["server_cpu_us"]
        ]
        if costs:
            lines.append(
                f"{STACK_NAMES[stack]}, cost of ours by CPU within each round: "
                + ", ".join(f"{cost:.1f}%" for cost in costs)
                + f" (median {statistics.median(costs):.1f}%)."
            )
    delivered = []
    for stack in STACKS:
        for variant, runs in load[stack].items():
            if variant != "bare":
                delivered.append(f"{stack} {variant} {sum(run['batches'] for run in runs)}")
    lines.append(f"Event batches the sink received, per app and variant: {', '.join(delivered)}.")
    problems = {
        f"{stack} {variant}": run["problems"]
        for stack in STACKS
        for variant, runs in load[stack].items()
        for run in runs
        if run["problems"]
    }
    if problems:
        lines.append(f"Server output that reported problems: {json.dumps(problems)[:800]}")
    errors = sum(run["errors"] + run["bad"] for s in STACKS for r in load[s].values() for run in r)
    if errors:
        lines.append(f"Failed or non-200 requests during the timed runs: {errors}.")
    lines += ["", "Targets (requests/s · CPU per request):"]
    for stack in STACKS:
        m, c = rps[stack], cpu[stack]
        ours = (_pct(m["ours"], m["bare"]), 100 - c["bare"] / c["ours"] * 100)
        verdict = " · ".join("met" if value < 10 else "missed" for value in ours)
        line = (
            f"- {STACK_NAMES[stack]}: ours costs {ours[0]:.1f}% · {ours[1]:.1f}% "
            f"(under 10%: {verdict})"
        )
        if "official" in m:
            theirs = (
                _pct(m["official"], m["bare"]),
                100 - c["bare"] / c["official"] * 100,
            )
            lower = " · ".join(
                "met" if o < t else "missed" for o, t in zip(ours, theirs, strict=True)
            )
            line += f"; official {theirs[0]:.1f}% · {theirs[1]:.1f}% (ours lower: {lower})"
        lines.append(line + ".")
    lines += ["", machine_line(official)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--ours-only", action="store_true", help="no official middlewares")
    parser.add_argument("--rounds", type=int, help="paired throughput rounds")
    parser.add_argument("--duration", type=float, help="seconds of each timed load run")
    parser.add_argument("--connections", type=int, help="connections of the load generator")
    parser.add_argument("--json", type=Path, help="write the raw figures to this file")
    args = parser.parse_args()
    settings = dict(QUICK if args.quick else FULL)
    for name in ("rounds", "duration", "connections"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    if not 1 <= settings["rounds"] <= 20 or not 0 < settings["duration"] <= 60:
        raise SystemExit("--rounds must be in 1..20 and --duration in (0, 60] seconds")
    official = None if args.ours_only else official_python()
    pythons: dict[str, Path | str] = {"bare": sys.executable, "ours": sys.executable}
    if official is not None:
        pythons["official"] = official
    started = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("in process ...", file=sys.stderr)
    inproc_pythons = {k: v for k, v in pythons.items() if k != "bare"}
    cost = inproc(inproc_pythons, settings)
    print("throughput ...", file=sys.stderr)
    load = throughput(pythons, settings)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(report(cost, load, settings, official))
    print(
        f"\n(took {time.perf_counter() - started:.0f} s; 1-minute load average "
        f"{load_before:.1f} before, {load_after:.1f} after)"
    )
    if args.json:
        raw = {"settings": settings, "inproc": cost, "throughput": load}
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
