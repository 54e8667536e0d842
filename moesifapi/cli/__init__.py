"""The `moesif` command line: send records from files, import HAR captures, run a sandbox.

Installed as the ``moesif`` console script; ``python -m moesifapi.cli`` is the same.
"""

from ._main import main

__all__ = ["main"]
