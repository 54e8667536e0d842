"""The pytest plugin that gives every test a fresh sandbox collector as a fixture.

Registered through the ``pytest11`` entry point, so installing the package is enough.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._collector import Collector

__all__ = ["moesif_collector"]


@pytest.fixture
def moesif_collector() -> Iterator[Collector]:
    """A new, empty `moesifapi.testing.Collector` for this test.

    Use its transports in process, or ``with moesif_collector.serve() as base_url:``
    for a real socket. Held requests are released when the test ends, so a failing
    test cannot leave a client thread waiting.
    """
    collector = Collector()
    try:
        yield collector
    finally:
        collector.release()
