"""What `pip install moesifapi-typed` gets: the sdist and wheels built from this tree.

Built here with the project's own build backend (setuptools, from the dev extra, without
build isolation, so nothing is downloaded), in a copy of the tree, then opened and run:
every module, the type information, the entry points, the C speed-up where a compiler
is found, and a wheel that still works where none is.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import moesifapi

pytestmark = pytest.mark.slow  # builds and runs whole programs; see pyproject.toml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    path.relative_to(ROOT).as_posix()
    for path in (ROOT / "moesifapi").rglob("*")
    if path.suffix in {".py", ".pyi"} or path.name == "py.typed"
}
# What a build run here must not pick up from the checkout.
LEFT_BY_DEVELOPMENT = shutil.ignore_patterns(
    ".*", "__pycache__", "build", "dist", "*.egg-info", "*.so", "*.pyd", "benchmarks"
)
HAS_COMPILER = shutil.which((os.environ.get("CC") or "cc").split()[0]) is not None


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project as a fresh clone has it: no build output, no caches."""
    copy = tmp_path_factory.mktemp("tree") / "moesifapi-typed"
    shutil.copytree(ROOT, copy, ignore=LEFT_BY_DEVELOPMENT)
    return copy


def build_wheel(tree: Path, out: Path, **env: str) -> Path:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--no-cache-dir", "-q", "-w", str(out), str(tree)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    shutil.rmtree(tree / "build", ignore_errors=True)  # the next build starts clean
    [wheel] = out.glob("*.whl")
    return wheel


def installed_from(wheel: Path, target: Path, script: str) -> str:
    """What `script` prints with `wheel` unpacked as pip would install it, and the
    dependencies taken from this environment's site-packages.

    `-S` keeps `site` from running the `.pth` file of the development install, whose
    import hook would otherwise serve any module missing from the wheel from the
    checkout; the checks below would then pass on a broken wheel.
    """
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    paths = [str(target), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    env.pop("MOESIFAPI_PURE_PYTHON", None)
    where = f"import moesifapi; assert moesifapi.__file__.startswith({str(target)!r})\n"
    result = subprocess.run(
        [sys.executable, "-S", "-c", where + script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=target,  # not the checkout, whose `moesifapi/` `-c` would find first
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def names_in(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [path] = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(path).decode("utf-8")


def build_sdist(tree: Path, out: Path) -> Path:
    hook = f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"
    done = subprocess.run(
        [sys.executable, "-c", hook], capture_output=True, text=True, timeout=120, cwd=tree
    )
    assert done.returncode == 0, done.stderr
    [sdist] = out.glob("*.tar.gz")
    return sdist


@pytest.fixture(scope="module")
def sdist(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sdist(tree, tmp_path_factory.mktemp("sdist"))


@pytest.fixture(scope="module")
def wheel(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from the sdist, as on a platform with no wheel published."""
    if not HAS_COMPILER and not os.environ.get("MOESIFAPI_REQUIRE_SPEEDUPS"):
        pytest.skip("no C compiler here to build the speed-up with")
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12 and later
            archive.extractall(unpacked, filter="data")
        else:  # pragma: no cover
            archive.extractall(unpacked)
    [tree] = unpacked.iterdir()
    return build_wheel(tree, tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_every_module_and_the_type_information(wheel: Path) -> None:
    names = names_in(wheel)
    assert names >= SOURCES, sorted(SOURCES - names)  # py.typed and the .pyi stub too
    assert "moesifapi/_speedups.c" not in names  # compiled in; the source is the sdist's


def test_the_wheel_carries_the_compiled_speedup_and_uses_it(wheel: Path, tmp_path: Path) -> None:
    assert [n for n in names_in(wheel) if n.startswith("moesifapi/_speedups.")] != []
    script = (
        "import moesifapi._wire as wire, moesifapi._speedups as c\nprint(wire.SPEEDUPS, c.__file__)"
    )
    uses, location = installed_from(wheel, tmp_path, script).split(maxsplit=1)
    assert uses == "True"
    assert location.startswith(str(tmp_path))


def test_the_wheel_declares_the_command_the_pytest_plugin_and_the_metadata(
    wheel: Path,
) -> None:
    entry_points = dist_info(wheel, "entry_points.txt")
    assert "moesif = moesifapi.cli:main" in entry_points
    assert "moesifapi = moesifapi.testing.pytest_plugin" in entry_points
    metadata = email.message_from_string(dist_info(wheel, "METADATA"))
    assert metadata["Name"] == "moesifapi-typed"
    assert metadata["Version"] == moesifapi.__version__
    assert metadata["Requires-Python"] == ">=3.10"
    assert {"fast", "cli", "dev"} <= set(metadata.get_all("Provides-Extra") or [])
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("orjson") and "extra == " in r for r in requires)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]


def test_the_wheel_carries_the_apache_license_text(wheel: Path) -> None:
    [path] = [n for n in names_in(wheel) if n.endswith(".dist-info/licenses/LICENSE")]
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(path).decode("utf-8")
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text


def test_without_a_compiler_the_wheel_builds_and_runs_in_pure_python(
    tree: Path, tmp_path: Path
) -> None:
    # `CC=false`: every compile fails, as on a machine with no C compiler. The build
    # must go on without the extension, and the package work without it.
    wheel = build_wheel(tree, tmp_path / "wheel", CC="false")
    compiled = [n for n in names_in(wheel) if n.startswith("moesifapi/_speedups.")]
    assert compiled == ["moesifapi/_speedups.pyi"]
    script = (
        "import moesifapi, moesifapi._wire as wire\n"
        "user = moesifapi.UserModel(user_id='u1', modified_time='2024-05-01T12:00:00.5Z')\n"
        "print(wire.SPEEDUPS, moesifapi.to_json(user).decode())"
    )
    printed = installed_from(wheel, tmp_path / "site", script)
    assert printed == 'False {"user_id":"u1","modified_time":"2024-05-01T12:00:00.500Z"}'


def test_the_sdist_carries_the_sources_and_the_c_speedup(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"moesifapi/_speedups.c", "setup.py", "pyproject.toml", "README.md"} <= names
    assert "LICENSE" in names
    assert names >= SOURCES, sorted(SOURCES - names)
