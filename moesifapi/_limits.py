"""The Collector API's limits on one item: refusing an oversized event before it is sent,
and `truncate_bodies`, which makes one small enough by replacing its largest bodies.
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from . import _constants as c
from ._wire import _dumps
from .exceptions import BatchItemTooLargeError, ValidationError
from .models import EventModel, EventRequestModel, EventResponseModel

__all__ = ["refuse_oversized", "truncate_bodies"]

Half = TypeVar("Half", EventRequestModel, EventResponseModel)

_HINTS = {
    "event": (
        " of the Collector API; moesifapi.truncate_bodies(event) replaces large bodies"
        " with a marker"
    ),
    "action": " of the Collector API",
}


def refuse_oversized(sizes: list[int], item_limit: tuple[int, str] | None) -> None:
    """Raise `BatchItemTooLargeError` for the first of `sizes` (each an item's encoded
    JSON) over the API's bound on one item; `item_limit` is the endpoint's."""
    if item_limit is None or not sizes:
        return
    limit, kind = item_limit
    if max(sizes) <= limit:  # one pass in C; the loop below runs only to raise
        return
    index = next(i for i, size in enumerate(sizes) if size > limit)
    raise BatchItemTooLargeError(
        index, sizes[index], limit, scope=f"single-{kind}", hint=_HINTS.get(kind, "")
    )


def _body_size(body: object) -> int:
    """The bytes `body` takes in the event's JSON: base64 for bytes, else its JSON."""
    if isinstance(body, bytes):
        return 4 * ((len(body) + 2) // 3) + 2  # base64, in quotes
    # Measured with the encoder that will send it: datetimes, decimals, orjson or not.
    return len(_dumps(body))


def truncate_bodies(event: EventModel, *, max_bytes: int = c.TRUNCATED_BODY_BYTES) -> EventModel:
    """`event` with each request or response body over `max_bytes` of JSON replaced by
    a marker, so that a huge upload or download is logged without its content.

    The marker is the JSON object the official Moesif middlewares send in place of a
    body over their size limit, with the body's size added::

        {"msg": "request.body.length exceeded max_bytes of 450000", "original_size": 2400112}

    (``response.body...`` for a response). Sizes are of the body as it goes on the
    wire: its JSON, or its base64 for a `bytes` body. The default, 450,000 bytes, is
    the size to which the Collector API cuts a body itself, and keeps the event under
    the API's 1 MB limit on one event. Headers, including ``Content-Length``, are kept.

    Returns a new event (sharing the fields it leaves as they are), or `event` itself
    when no body is over; the input is never changed. Use it in `before_send` so that
    the queue never refuses an event for its size:

    >>> from moesifapi import EventModel, EventRequestModel, truncate_bodies
    >>> event = EventModel(request=EventRequestModel(time="2024-05-01T12:00:00Z",
    ...     uri="https://x/up", verb="POST", headers={}, body=b"x" * 900))
    >>> truncate_bodies(event, max_bytes=100).request.body["original_size"]
    1202
    """
    if not isinstance(event, EventModel):
        raise ValidationError(f"must be an EventModel, got {type(event).__name__}", field="event")
    if type(max_bytes) is not int or max_bytes < 0:
        raise ValidationError(f"must be an int >= 0, got {max_bytes!r}", field="max_bytes")
    request = _truncated(event.request, "request", max_bytes)
    response = _truncated(event.response, "response", max_bytes) if event.response else None
    if request is None and response is None:
        return event
    return attrs.evolve(
        event, request=request or event.request, response=response or event.response
    )


def _truncated(half: Half, name: str, max_bytes: int) -> Half | None:
    """A copy of `half` with its body replaced by the marker, or None if it fits."""
    if half.body is None:
        return None
    try:
        size = _body_size(half.body)
    except ValidationError as error:
        raise error.under(f"{name}.body") from error.__cause__
    if size <= max_bytes:
        return None
    marker = {"msg": f"{name}.body.length exceeded max_bytes of {max_bytes}", "original_size": size}
    return attrs.evolve(half, body=marker, transfer_encoding=None)
