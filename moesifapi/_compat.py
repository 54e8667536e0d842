"""Names from the official SDK, so code written from Moesif's Python examples runs.

Only the entry points move: `MoesifAPIClient(application_id).api` is a `MoesifClient`,
and `APIHelper.json_deserialize` parses the JSON snippets those examples use.
"""

from __future__ import annotations

import json

import httpx

from . import _constants as c
from ._client import MoesifClient

__all__ = ["APIHelper", "MoesifAPIClient"]


class MoesifAPIClient:
    """The official SDK's entry point: ``MoesifAPIClient(application_id).api``.

    `api` (also reachable as `api_controller`) is a `MoesifClient` with the same
    methods the official SDK's controller offers, plus timeouts, retries and types.
    """

    def __init__(
        self,
        application_id: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = c.DEFAULT_TIMEOUT,
        max_retries: int = c.DEFAULT_MAX_RETRIES,
    ) -> None:
        self.api = MoesifClient(
            application_id=application_id,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
        )

    @property
    def api_controller(self) -> MoesifClient:
        return self.api

    def __repr__(self) -> str:
        return f"MoesifAPIClient(api={self.api!r})"


class APIHelper:
    """The one helper the official examples use to build headers and bodies."""

    @staticmethod
    def json_deserialize(text: str) -> object:
        """Parse a JSON document, as the official `APIHelper.json_deserialize` does."""
        return json.loads(text)
