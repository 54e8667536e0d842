"""Names from the official SDK, so code written from Moesif's Python examples runs.

`MoesifAPIClient(application_id).api` is a `MoesifClient`, `.health` answers the
health probe, and `APIHelper.json_deserialize` parses the JSON snippets those examples
use. `moesifapi.moesif_api_client` and `moesifapi.api_helper` re-export these names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, overload

import httpx

from . import _constants as c
from ._client import MoesifClient
from .models import Health, StatusModel

__all__ = ["APIHelper", "HealthController", "MoesifAPIClient", "StatusModel"]

"""The official SDK's name for what the health probe answers."""


class HealthController:
    """The official SDK's ``MoesifAPIClient(...).health``: the health probe."""

    def __init__(self, client: MoesifClient) -> None:
        self._client = client

    def get_health_probe(self) -> Health:
        """``GET /health/probe``, as `MoesifClient.check_health`."""
        return self._client.check_health()


class MoesifAPIClient:
    """The official SDK's entry point: ``MoesifAPIClient(application_id).api``.

    `api` (also reachable as `api_controller`) is a `MoesifClient` with the same
    methods the official SDK's controller offers, plus timeouts, retries and types.
    Unlike the official client, two of them with different ids never mix.
    """

    def __init__(
        self,
        application_id: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = c.DEFAULT_TIMEOUT,
        max_retries: int = c.DEFAULT_MAX_RETRIES,
        user_agent_suffix: str | None = None,
    ) -> None:
        self.api = MoesifClient(
            application_id=application_id,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            user_agent_suffix=user_agent_suffix,
        )
        self.health = HealthController(self.api)

    @property
    def api_controller(self) -> MoesifClient:
        return self.api

    def __repr__(self) -> str:
        return f"MoesifAPIClient(api={self.api!r})"


class APIHelper:
    """The one helper the official examples use to build headers and bodies."""

    @overload
    @staticmethod
    def json_deserialize(
        json_str: None, unboxing_function: Callable[[Any], object] | None = None
    ) -> None: ...

    @overload
    @staticmethod
    def json_deserialize(
        json_str: object, unboxing_function: Callable[[Any], object] | None = None
    ) -> Any: ...

    @staticmethod
    def json_deserialize(
        json_str: object, unboxing_function: Callable[[Any], object] | None = None
    ) -> Any:
        """Parse JSON text as the official `APIHelper.json_deserialize` does.

        None gives None; text that is not JSON comes back unchanged (and so does
        anything that is not text, which the official helper would raise on).
        `unboxing_function` is applied to the parsed value, or to each element when
        it is a list.

        >>> APIHelper.json_deserialize('{"a": 1}')
        {'a': 1}
        >>> APIHelper.json_deserialize("not json")
        'not json'
        >>> APIHelper.json_deserialize("[1, 2]", lambda n: n * 10)
        [10, 20]
        """
        if json_str is None:
            return None
        if not isinstance(json_str, (str, bytes, bytearray)):
            return json_str
        try:
            decoded = json.loads(json_str)
        except ValueError:  # a JSONDecodeError, or bytes that are not UTF-8
            return json_str
        if unboxing_function is None:
            return decoded
        if isinstance(decoded, list):
            return [unboxing_function(element) for element in decoded]
        return unboxing_function(decoded)
