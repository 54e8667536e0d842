"""The ~1 kB JSON document every benchmark app answers with (and the in-process echo)."""

from __future__ import annotations

import json

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
