"""The official SDK's (moesifapi 1.5.5) interpreter, for tests that compare against it.

The official package has the same import name as this project, so it lives in its own
virtualenv: `benchmarks/.venv-official`, the one the benchmarks use (git ignores it),
made and filled from PyPI on first use by `benchmarks/run.py`'s `official_python()`.
``MOESIFAPI_OFFICIAL_PYTHON=/path/to/python`` names another interpreter that has it.

When there is none and none can be made (no network, say), the tests that need it are
skipped, unless ``MOESIFAPI_REQUIRE_OFFICIAL=1`` is set (as CI does): then they fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_RUN = ROOT / "benchmarks" / "run.py"
OFFICIAL_VENV = ROOT / "benchmarks" / ".venv-official"
OFFICIAL_REQUIREMENT = "moesifapi==1.5.5"
OVERRIDE = "MOESIFAPI_OFFICIAL_PYTHON"
REQUIRE = "MOESIFAPI_REQUIRE_OFFICIAL"
# What the comparisons import: a Python with it has the official SDK, not ours.
CHECK = "import moesifapi.governance_manager, moesifapi.app_config.app_config"


def _venv_python(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin") / "python"


def _made_here(root: Path) -> Path | None:
    """`benchmarks/run.py`'s `official_python()`, copied for when it cannot be imported."""
    python = _venv_python(root)
    same_python = f"import sys; {CHECK}; assert sys.version_info[:3] == {sys.version_info[:3]!r}"
    if python.exists() and _works(python, same_python):
        return python
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    install = [str(python), "-m", "pip", "install", "-q", OFFICIAL_REQUIREMENT]
    if subprocess.run(install, capture_output=True, check=False).returncode != 0:
        return None
    return python


def _from_benchmarks(root: Path) -> Path | None:
    """The benchmarks' own `official_python()`, so both make the virtualenv alike."""
    try:
        spec = importlib.util.spec_from_file_location("_moesif_benchmarks_run", BENCHMARKS_RUN)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        make = module.official_python
    except Exception:  # moved or changed: make it the same way here
        return _made_here(root)
    python: Path | None = make(root)
    return python


def _works(python: Path, code: str = CHECK) -> bool:
    # -I: never let this checkout's `moesifapi` (or PYTHONPATH) shadow the official one.
    check = [str(python), "-I", "-c", code]
    try:
        return subprocess.run(check, capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """One process at a time makes the virtualenv (pytest-xdist runs tests side by side)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; two makers at once is unlikely there
        yield
        return
    path = Path(tempfile.gettempdir()) / "moesifapi-typed-venv-official.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_official_python() -> tuple[Path | None, str]:
    """The official SDK's interpreter, or None and why there is none."""
    override = os.environ.get(OVERRIDE)
    if override:
        given = Path(override)
        if _works(given):
            return given, ""
        return None, f"{OVERRIDE}={override} cannot import the official moesifapi"
    with _lock():
        try:
            python = _from_benchmarks(OFFICIAL_VENV)
        except Exception as error:  # e.g. no venv module, a disk error
            return None, f"could not make {OFFICIAL_VENV}: {type(error).__name__}: {error}"
    if python is None or not _works(python):
        return None, (
            f"could not make {OFFICIAL_VENV} with {OFFICIAL_REQUIREMENT} "
            f"(no network to PyPI?); set {OVERRIDE} to a Python that has it"
        )
    return python, ""


def official_python() -> Path:
    """The official SDK's interpreter; skips the test without one (fails if required)."""
    python, why = find_official_python()
    if python is not None:
        return python
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but the official SDK is unavailable: {why}")
    pytest.skip(f"the official SDK (moesifapi 1.5.5) is unavailable: {why}")
