"""examples/segment_relay.py runs as a new user would run it: offline, and exits 0.

It relays a Segment batch into the sandbox; its output says what the sandbox holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "segment_relay.py"


def test_the_relay_example_lands_the_batch_in_the_sandbox() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MOESIF_") and "proxy" not in key.lower()
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"reason": "unsupported_type"' in result.stdout
    assert "user userId123: company 67890, ip 203.0.113.9" in result.stdout
    assert "the sandbox holds 1 user, 1 company and 1 action" in result.stdout
