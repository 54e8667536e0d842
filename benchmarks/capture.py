"""Benchmark of the capture middlewares: per-request cost and web-app throughput.

From this project's virtualenv (``pip install -e ".[dev]"`` plus fastapi, uvicorn,
flask and gunicorn):

    python benchmarks/capture.py                       # full run, about 7 minutes
    python benchmarks/capture.py --quick --ours-only   # smoke run: seconds, no official
    python benchmarks/capture.py --parts               # where our cost goes, 10 minutes

Two parts, each against the bare app and, unless ``--ours-only``, the official
middlewares (moesifasgi, moesifwsgi: same import name ``moesifapi`` underneath as this
project, so they live in ``benchmarks/.venv-official-middleware``, made and filled
from PyPI on first use, with the same FastAPI, uvicorn, Flask and gunicorn versions
as here):

1. In process (`capture_inproc.py`): a trivial app echoing a 1 kB JSON body, called
   directly with no server, bare and wrapped in turns; the difference is the
   middleware's cost on the request's own path (capture, build, queue), in µs.
2. Throughput: a FastAPI hello-world (~1 kB JSON) under uvicorn (1 worker) and a Flask
   one under gunicorn (2 sync workers), bare / ours / official, all served for the
   whole of a stack's part, each but the one being loaded paused (SIGSTOP). Each round
   loads every variant in turn for a short while with `capture_load.py` (its own
   process, N keep-alive connections), the order reversed every round, so the
   machine's drift moves a round's variants alike. Figures over all the rounds:
   requests per second, and the server's CPU time per request (all its processes and
   threads, delivery included, read from /proc), which a shared machine moves far
   less; then the spread of the per-round costs and a bootstrap interval.

With ``--parts``, only the throughput part, for the bare app and five variants of
ours: the adapter alone (each exchange followed, its record a no-op), stopped after
the capture (each event written, then let go), queued and delivered without gzip,
with the standard library's zlib, and whole (ISA-L gzip when `isal` is installed):
what each stage adds to the server's CPU per request.

Every process imports `capture_guard` (loopback only) and both middlewares deliver to
`capture_sink.py` on 127.0.0.1, one sink per server run, whose counts show that each
variant did deliver. Nothing leaves the machine except the one ``pip install``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any, TypeAlias

HERE = Path(__file__).resolve().parent
OFFICIAL_VENV = HERE / ".venv-official-middleware"
OFFICIAL_PACKAGES = ("moesifasgi==1.1.8", "moesifwsgi==1.10.5")
FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "flask", "werkzeug", "gunicorn")
VARIANTS = ("bare", "ours", "official")
# `--parts`: ours stopped after each stage, in order (see `capture_payload.stop_partway`).
PARTS = ("bare", "ours-adapter", "ours-drop", "ours-nogzip", "ours-zlib", "ours")
PART_NAMES = {
    "ours-adapter": "adapter only",
    "ours-drop": "+ event written",
    "ours-nogzip": "+ queue and delivery, no gzip",
    "ours-zlib": "+ gzip by zlib",
    "ours": "+ gzip by ISA-L instead (as installed)",
}
# The stage each is measured against: the two gzips are alternatives to each other.
PART_BEFORE = {
    "ours-adapter": "bare",
    "ours-drop": "ours-adapter",
    "ours-nogzip": "ours-drop",
    "ours-zlib": "ours-nogzip",
    "ours": "ours-nogzip",
}
STACKS = ("fastapi", "flask")
STACK_NAMES = {
    "fastapi": "FastAPI under uvicorn (1 worker)",
    "flask": "Flask under gunicorn (2 sync workers)",
}
START_TIMEOUT = 60.0  # seconds for a server to answer its first request
SETTLE = 3.0  # idle seconds at the end of a stack's run, for the last batches
STOP_TIMEOUT = 20.0  # seconds for a server to stop (and flush) after SIGTERM / SIGINT

FULL = {
    "inproc_requests": 5_000,
    "inproc_rounds": 7,
    "inproc_warmup": 500,
    "rounds": 30,
    "warmup": 1.0,
    "duration": 1.5,
    "connections": 12,
}
QUICK = {
    "inproc_requests": 200,
    "inproc_rounds": 1,
    "inproc_warmup": 20,
    "rounds": 2,
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
    if variant == "ours-zlib":
        env["MOESIFAPI_STDLIB_GZIP"] = "1"
    else:
        env.pop("MOESIFAPI_STDLIB_GZIP", None)
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
            signal_family(self.process.pid, signal.SIGCONT)  # if paused, it must run to stop
            self.process.send_signal(signal.SIGINT if "uvicorn" in self.command else signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


def _processes() -> tuple[dict[int, int], dict[int, int]] | None:
    """Each live process's parent and CPU ticks so far (user + system), from /proc;
    None where there is no /proc."""
    try:
        entries = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
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
    return parents, used


def _family(root: int, parents: dict[int, int]) -> set[int]:
    family = {root}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        grew = bool(more)
        family |= more
    return family


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by process `root` and its descendants
    still alive, from /proc; NaN where there is no /proc."""
    found = _processes()
    if found is None or not hasattr(os, "sysconf"):
        return float("nan")
    parents, used = found
    return sum(used.get(pid, 0) for pid in _family(root, parents)) / os.sysconf("SC_CLK_TCK")


def signal_family(root: int, signum: int) -> None:
    """`signum` to process `root` and each of its descendants (SIGSTOP, SIGCONT)."""
    found = _processes()
    pids = {root} if found is None else _family(root, found[0])
    for pid in sorted(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


class Loader:
    """`capture_load.py --serve`: one load process for all the timed runs of a stack."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.command = [
            sys.executable, str(HERE / "capture_load.py"), "--serve",
            "--connections", str(settings["connections"]),
        ]  # fmt: skip

    def __enter__(self) -> Loader:
        self.process = subprocess.Popen(
            self.command,
            cwd=HERE,
            env=_env("bare"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def run(self, url: str, duration: float, name: str = "") -> dict[str, Any]:
        """One timed run of `duration` seconds against `url` (the server `name`), no
        warm-up of its own."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"url": url, "duration": duration}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()  # the loader bounds each run itself
        if not line:
            raise SystemExit(f"the load generator stopped, loading {name or url}")
        result: dict[str, Any] = json.loads(line)
        return result

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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


Load: TypeAlias = dict[str, dict[str, dict[str, Any]]]


def throughput(pythons: dict[str, Path | str], settings: dict[str, Any]) -> Load:
    """stack -> variant -> "rounds" (one result per round) and "total" (the whole run).

    Every variant's server runs for the whole of a stack's part, each with its own
    sink, and all but the one being loaded are paused (SIGSTOP to each of its
    processes), so no server's background work, its delivery above all, runs in
    another's turn. Each round loads every variant in turn for `duration` seconds,
    the order reversed every round: turns a few seconds apart, so the machine's drift
    moves a round's variants alike. A variant's CPU per request is its server's CPU
    time from the end of its warm-up to the end of the run, when it has had a few
    idle seconds to deliver what it still held, over the requests it answered."""
    results: Load = {}
    for stack in STACKS:
        rounds: dict[str, list[dict[str, Any]]] = {variant: [] for variant in pythons}
        with contextlib.ExitStack() as stack_scope:
            loader = stack_scope.enter_context(Loader(settings))
            sinks = {v: stack_scope.enter_context(Sink()) for v in pythons}
            servers = {v: Server(pythons[v], stack, v, sinks[v].url) for v in pythons}
            urls = {v: stack_scope.enter_context(servers[v]) for v in pythons}
            pids = {v: servers[v].process.pid for v in pythons}
            start_cpu: dict[str, float] = {}
            for variant in pythons:
                # Warm-up, apart: every worker booted and warm, none of it measured.
                loader.run(urls[variant], settings["warmup"], f"{stack} {variant}")
                signal_family(pids[variant], signal.SIGSTOP)
                start_cpu[variant] = cpu_seconds(pids[variant])
            for round_ in range(settings["rounds"]):
                order = list(pythons) if round_ % 2 == 0 else list(reversed(pythons))
                for variant in order:
                    signal_family(pids[variant], signal.SIGCONT)
                    before = cpu_seconds(pids[variant])
                    result = loader.run(urls[variant], settings["duration"], f"{stack} {variant}")
                    result["server_cpu_us"] = _per_request(
                        cpu_seconds(pids[variant]) - before, result
                    )
                    signal_family(pids[variant], signal.SIGSTOP)
                    rounds[variant].append(result)
                costs = ", ".join(f"{v} {rounds[v][-1]['server_cpu_us']:.0f} µs" for v in pythons)
                print(f"  {stack} round {round_ + 1}: {costs}", file=sys.stderr)
            for variant in pythons:
                signal_family(pids[variant], signal.SIGCONT)
            time.sleep(SETTLE)  # the last batches delivered, by every variant at once
            totals = {}
            for variant in pythons:
                total: dict[str, Any] = {
                    key: sum(run[key] for run in rounds[variant])
                    for key in ("ok", "bad", "errors", "seconds")
                }
                total["rps"] = total["ok"] / total["seconds"] if total["seconds"] else 0.0
                total["server_cpu_us"] = _per_request(
                    cpu_seconds(pids[variant]) - start_cpu[variant], total
                )
                totals[variant] = total
        # The servers are stopped and the sinks' counts in.
        results[stack] = {}
        for variant in pythons:
            total = totals[variant]
            total["batches"], total["batch_bytes"] = sinks[variant].batches()
            total["problems"] = _problems(servers[variant].output())[:5]
            results[stack][variant] = {"rounds": rounds[variant], "total": total}
            print(
                f"  {stack}, {variant}: {total['rps']:,.0f} req/s,"
                f" {total['server_cpu_us']:.0f} µs server CPU per request,"
                f" {total['batches']} batches delivered",
                file=sys.stderr,
            )
    return results


def _per_request(cpu: float, result: dict[str, Any]) -> float:
    answers = result["ok"] + result["bad"]
    return cpu / answers * 1e6 if answers else 0.0


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
    for name in ("moesifapi-typed", "orjson", "isal", "httpx", *FRAMEWORKS):
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


def _cpu_cost(bare: float, wrapped: float) -> float:
    """The throughput a saturated server loses, in %: 1 - bare/wrapped CPU per request."""
    return 100 - bare / wrapped * 100 if wrapped else float("nan")


def _bootstrap(
    bare: list[dict[str, Any]], ours: list[dict[str, Any]], draws: int = 2_000
) -> tuple[float, float]:
    """The 5th and 95th percentiles of the CPU cost over all rounds, the rounds drawn
    again with replacement `draws` times (a fixed seed: the same figures every time)."""
    pairs = [
        (b["server_cpu_us"] * (b["ok"] + b["bad"]), b["ok"] + b["bad"],
         o["server_cpu_us"] * (o["ok"] + o["bad"]), o["ok"] + o["bad"])
        for b, o in zip(bare, ours, strict=True)
    ]  # fmt: skip
    pick = random.Random(0).choices
    costs = []
    for _ in range(draws):
        drawn = pick(pairs, k=len(pairs))
        bare_cpu, bare_n, ours_cpu, ours_n = (sum(column) for column in zip(*drawn, strict=True))
        if bare_n and ours_n and ours_cpu:
            costs.append(_cpu_cost(bare_cpu / bare_n, ours_cpu / ours_n))
    if len(costs) < 2:
        return float("nan"), float("nan")
    cuts = statistics.quantiles(costs, n=20)
    return cuts[0], cuts[-1]


def _trouble(load: Load) -> list[str]:
    """Lines on what went wrong in the throughput runs, if anything did."""
    lines = []
    problems = {
        f"{stack} {variant}": figures["total"]["problems"]
        for stack in STACKS
        for variant, figures in load[stack].items()
        if figures["total"]["problems"]
    }
    if problems:
        lines.append(f"Server output that reported problems: {json.dumps(problems)[:800]}")
    errors = sum(
        figures["total"]["errors"] + figures["total"]["bad"]
        for stack in STACKS
        for figures in load[stack].values()
    )
    if errors:
        lines.append(f"Failed or non-200 requests during the timed runs: {errors}.")
    return lines


def parts_report(load: Load, settings: dict[str, Any]) -> str:
    """`--parts`: the server's CPU per request at each stage of ours, and what it adds."""
    lines = [
        f"Where the cost of ours goes (GET /hello answering ~1 kB JSON; {settings['rounds']} "
        f"rounds of {settings['duration']:g} s turns, as in the throughput part): the "
        "server's CPU time per request, with what each stage adds to the one before it "
        "(each gzip to the stage with none), and the cost against the bare app "
        "(1 - bare/wrapped):",
        "",
        "| app | bare | " + " | ".join(PART_NAMES[v] for v in PARTS[1:]) + " |",
        "|---|---|" + "---|" * (len(PARTS) - 1),
    ]
    for stack in STACKS:
        cpu = {variant: load[stack][variant]["total"]["server_cpu_us"] for variant in PARTS}
        cells = [f"{cpu['bare']:.0f} µs"]
        for variant in PARTS[1:]:
            before = PART_BEFORE[variant]
            cells.append(
                f"{cpu[variant]:.0f} µs ({cpu[variant] - cpu[before]:+.0f}; "
                f"{_cpu_cost(cpu['bare'], cpu[variant]):.1f}%)"
            )
        lines.append(f"| {STACK_NAMES[stack]} | " + " | ".join(cells) + " |")
    batches = [
        f"{stack} {variant} {load[stack][variant]['total']['batches']}"
        for stack in STACKS
        for variant in PARTS[1:]
    ]
    lines += ["", f"Event batches the sink received: {', '.join(batches)}.", *_trouble(load)]
    lines += ["", machine_line(None)]
    return "\n".join(lines)


def report(
    cost: dict[str, dict[str, dict[str, float]]],
    load: Load,
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
        f"Throughput (GET /hello answering ~1 kB JSON; {settings['rounds']} rounds, each "
        f"loading every variant in turn for {settings['duration']:g} s, the others paused, "
        f"after {settings['warmup']:g} s of warm-up each; {settings['connections']} "
        "connections); requests/s over all the rounds, then the server's CPU time per "
        "request (all its processes and threads, the delivery included):",
        "",
        "| app | bare | ours | official | cost of ours | cost of official |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for stack in STACKS:
        total = {variant: figures["total"] for variant, figures in load[stack].items()}
        m = {variant: t["rps"] for variant, t in total.items()}
        c = {variant: t["server_cpu_us"] for variant, t in total.items()}
        theirs_rps = theirs_rps_cost = theirs_cpu = theirs_cpu_cost = "n/a"
        if "official" in m:
            theirs_rps = f"{m['official']:,.0f}"
            theirs_rps_cost = f"{_pct(m['official'], m['bare']):.1f}%"
            theirs_cpu = f"{c['official']:.0f} µs"
            theirs_cpu_cost = f"{_cpu_cost(c['bare'], c['official']):.1f}%"
        name = STACK_NAMES[stack]
        lines.append(
            f"| {name}, req/s | {m['bare']:,.0f} | {m['ours']:,.0f} | {theirs_rps} "
            f"| {_pct(m['ours'], m['bare']):.1f}% | {theirs_rps_cost} |"
        )
        lines.append(
            f"| {name}, server CPU per request | {c['bare']:.0f} µs | {c['ours']:.0f} µs "
            f"| {theirs_cpu} | {_cpu_cost(c['bare'], c['ours']):.1f}% | {theirs_cpu_cost} |"
        )
        verdicts.append((stack, m, c))
    lines += [
        "",
        "Cost: the requests/s lost against the bare app; on the CPU rows, 1 - bare/wrapped "
        "CPU per request, the throughput a saturated server loses. The load generator runs "
        "on the same 2 cores (its own process, one asyncio loop) and takes CPU from the "
        "server, for every variant alike; the CPU rows do not depend on it.",
    ]
    # The machine's speed drifts within a run. A round's turns ran seconds apart, so
    # the spread of the costs within rounds, and the interval got by drawing rounds
    # again (bootstrap), say how far the drift can have moved the figures above.
    intervals: dict[str, tuple[float, float]] = {}
    for stack in STACKS:
        bare, ours = load[stack]["bare"]["rounds"], load[stack]["ours"]["rounds"]
        costs = [
            _cpu_cost(b["server_cpu_us"], o["server_cpu_us"])
            for b, o in zip(bare, ours, strict=True)
            if b["server_cpu_us"] and o["server_cpu_us"]
        ]
        if not costs:
            continue
        low, high = _bootstrap(bare, ours)
        intervals[stack] = (low, high)
        quartiles = statistics.quantiles(costs, n=4) if len(costs) > 1 else costs * 3
        lines.append(
            f"{STACK_NAMES[stack]}, cost of ours by CPU within the {len(costs)} rounds: "
            f"median {statistics.median(costs):.1f}%, quartiles {quartiles[0]:.1f}% and "
            f"{quartiles[2]:.1f}%, from {min(costs):.1f}% to {max(costs):.1f}%; 90% interval "
            f"of the cost over all rounds (rounds drawn again, 2,000 times): {low:.1f}% to "
            f"{high:.1f}%."
        )
    delivered = [
        f"{stack} {variant} {figures['total']['batches']}"
        for stack in STACKS
        for variant, figures in load[stack].items()
        if variant != "bare"
    ]
    lines.append(f"Event batches the sink received, per app and variant: {', '.join(delivered)}.")
    lines += _trouble(load)
    lines += ["", "Targets (requests/s · CPU per request):"]
    for stack, m, c in verdicts:
        ours_cost = (_pct(m["ours"], m["bare"]), _cpu_cost(c["bare"], c["ours"]))
        verdict = " · ".join("met" if value < 10 else "missed" for value in ours_cost)
        line = (
            f"- {STACK_NAMES[stack]}: ours costs {ours_cost[0]:.1f}% · {ours_cost[1]:.1f}% "
            f"(under 10%: {verdict}"
        )
        if stack in intervals:
            high = intervals[stack][1]
            line += f"; by CPU with 95% confidence: {'met' if high < 10 else 'not shown'}"
        line += ")"
        if "official" in m:
            theirs_cost = (_pct(m["official"], m["bare"]), _cpu_cost(c["bare"], c["official"]))
            lower = " · ".join(
                "met" if o < t else "missed" for o, t in zip(ours_cost, theirs_cost, strict=True)
            )
            line += (
                f"; official {theirs_cost[0]:.1f}% · {theirs_cost[1]:.1f}% (ours lower: {lower})"
            )
        lines.append(line + ".")
    lines += ["", machine_line(official)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--ours-only", action="store_true", help="no official middlewares")
    parser.add_argument(
        "--parts", action="store_true", help="throughput of ours stopped after each stage"
    )
    parser.add_argument("--rounds", type=int, help="throughput rounds (each variant's turn)")
    parser.add_argument("--duration", type=float, help="seconds of each variant's turn")
    parser.add_argument("--connections", type=int, help="connections of the load generator")
    parser.add_argument("--json", type=Path, help="write the raw figures to this file")
    args = parser.parse_args()
    settings = dict(QUICK if args.quick else FULL)
    for name in ("rounds", "duration", "connections"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    if not 1 <= settings["rounds"] <= 200 or not 0 < settings["duration"] <= 60:
        raise SystemExit("--rounds must be in 1..200 and --duration in (0, 60] seconds")
    if args.parts:
        started = time.perf_counter()
        load = throughput(dict.fromkeys(PARTS, sys.executable), settings)
        print(parts_report(load, settings))
        print(f"\n(took {time.perf_counter() - started:.0f} s)")
        if args.json:
            args.json.write_text(json.dumps({"settings": settings, "throughput": load}, indent=2))
        return
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
