"""The package's public surface: what `import moesifapi` gives and what it costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import moesifapi


def test_every_public_name_is_importable() -> None:
    for name in moesifapi.__all__:
        assert getattr(moesifapi, name) is not None, name
    assert set(moesifapi.__all__) <= set(dir(moesifapi))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchClient"):
        moesifapi.NoSuchClient  # type: ignore[attr-defined]  # noqa: B018


def printed_by(script: str) -> list[str]:
    """The words `script` prints, run in a fresh interpreter (nothing imported yet)."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.split()


def test_importing_the_package_does_not_load_httpx_until_a_client_is_asked_for() -> None:
    script = (
        "import sys, moesifapi\n"
        "moesifapi.UserModel(user_id='u')\n"
        "before = 'httpx' in sys.modules\n"
        "from moesifapi import MoesifClient\n"
        "print(before, 'httpx' in sys.modules, MoesifClient.__name__)\n"
    )
    assert printed_by(script) == ["False", "True", "MoesifClient"]


def test_cattrs_loads_only_when_a_dict_is_first_read_into_a_model() -> None:
    # Models encode through their own hooks; the cattrs converter that reads dicts
    # (and holds those same hooks) is built on first use, off the import path.
    script = (
        "import sys, moesifapi\n"
        "user = moesifapi.UserModel(user_id='u', metadata={'plan': 'free'})\n"
        "encoded = moesifapi.to_json([user]), moesifapi.to_dict(user)\n"
        "before = 'cattrs' in sys.modules\n"
        "again = moesifapi.from_dict(moesifapi.UserModel, moesifapi.to_dict(user))\n"
        "print(before, 'cattrs' in sys.modules, again == user)\n"
    )
    assert printed_by(script) == ["False", "True", "True"]
