"""Capture an app's own API traffic: ASGI and WSGI middleware, and httpx transports.

Each adapter is a module of its own, imported by name, and imports no framework:

- `moesifapi.integrations.asgi.MoesifMiddleware`: FastAPI, Starlette, Litestar, Quart,
  Django's ASGI handler;
- `moesifapi.integrations.wsgi.MoesifMiddleware`: Flask, Falcon, Bottle, Django's WSGI
  handler;
- `moesifapi.integrations.httpx.MoesifTransport` and `AsyncMoesifTransport`: the calls
  an app makes itself.

They share one capture core, so they take the same settings (`CaptureSettings`) and
give the hooks the same typed views (`CapturedRequest`, `CapturedResponse`). See
docs/capture.md.
"""

from ._capture import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PRIVATE_FIELDS,
    DEFAULT_PRIVATE_HEADERS,
    PRIVATE_WORDS,
    CapturedRequest,
    CapturedResponse,
    CaptureSettings,
    Headers,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PRIVATE_FIELDS",
    "DEFAULT_PRIVATE_HEADERS",
    "PRIVATE_WORDS",
    "CaptureSettings",
    "CapturedRequest",
    "CapturedResponse",
    "Headers",
]
