"""The values that cross the collector's core: the outcome it decides, the log it keeps.

Both are plain frozen records so the transports, the server and tests can share them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._decoding import gunzip

__all__ = ["Outcome", "RecordedRequest"]


@dataclass(frozen=True)
class Outcome:
    """What to do with one request: answer it, or drop the connection; after `delay`.

    `status` is None for a dropped connection; `headers` and `body` are then empty.
    """

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0

    @property
    def dropped(self) -> bool:
        return self.status is None

    def json(self) -> Any:
        """The decoded answer body (tests use this to read error messages)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the collector saw it and what it answered.

    `headers` has lower-case names; `body` is the raw bytes as sent (still gzip if the
    client compressed it; empty for a body refused as too large without reading it);
    `status` is None if the connection was dropped.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int | None

    @property
    def dropped(self) -> bool:
        return self.status is None

    def json(self) -> Any:
        """The request body decoded as JSON, gunzipped first if it was sent that way."""
        raw = self.body
        if self.headers.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip"):
            raw = gunzip(raw, limit=max(len(raw) * 1032, 1 << 20))
        return json.loads(raw)
