"""The sandbox collector: a local Moesif Collector API for offline development and tests.

It validates, stores and answers like the real API, in process (httpx transports) or
on a local port, and can be told to fail, stall, hold or drop requests.

    collector = Collector()
    with httpx.Client(transport=collector.transport(), base_url=collector.base_url) as http:
        ...
    assert collector.events
"""

from ._collector import (
    DEFAULT_APPLICATION_ID,
    DEFAULT_HOLD_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    SANDBOX_BASE_URL,
    Collector,
    default_config,
)
from ._exchange import Outcome, RecordedRequest
from ._transports import AsyncSandboxTransport, SandboxTransport

__all__ = [
    "DEFAULT_APPLICATION_ID",
    "DEFAULT_HOLD_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "SANDBOX_BASE_URL",
    "AsyncSandboxTransport",
    "Collector",
    "Outcome",
    "RecordedRequest",
    "SandboxTransport",
    "default_config",
]
