"""The ~1 kB JSON document every benchmark app answers with (and the in-process echo),
and what the apps' variants of our middleware share."""

from __future__ import annotations

import json
from typing import Any

APPLICATION_ID = "capture-benchmark-application-id"

PAYLOAD: dict[str, object] = {
    "message": "hello, world",
    "page": 1,
    "items": [
        {
            "id": i,
            "name": f"widget-{i}",
            "price": 9.99 + i,
            "in_stock": i % 2 == 0,
            "tags": ["blue", "small", "metal"],
        }
        for i in range(10)
    ],
}
PAYLOAD_BYTES = json.dumps(PAYLOAD, separators=(",", ":")).encode()

# Our middleware whole, and stopped partway for `capture.py --parts`.
OURS = ("ours", "ours-adapter", "ours-drop", "ours-nogzip", "ours-zlib")


def stop_partway(client: Any, variant: str) -> None:
    """Set up `client` (ours, either kind) for `variant`, once it is made."""
    if variant == "ours-adapter":
        # The adapter alone: each exchange followed as always, and handed to a record
        # that does nothing (a benchmark may poke it; this process serves one variant).
        from moesifapi.integrations import _capture

        _capture.Capture.record_plain = lambda self, *parts: True  # type: ignore[method-assign]
    elif variant == "ours-drop":
        # The capture alone: each event written as always, then let go where it would
        # be queued (the capture's one call into the client; a benchmark may poke it).
        client._queue_encoded = lambda encoded: True
    elif variant == "ours-zlib":
        from moesifapi import _gzip

        assert not _gzip.ISAL, "ours-zlib needs MOESIFAPI_STDLIB_GZIP=1 in the environment"
