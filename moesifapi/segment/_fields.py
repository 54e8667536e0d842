"""Reading typed values out of Segment messages, which are untyped JSON objects.

Each reader answers `None` for a value that is absent, null or of the wrong kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TypeAlias
from urllib.parse import urlsplit

from .._timestamps import parse_timestamp
from ..exceptions import ValidationError

SegmentMessage: TypeAlias = Mapping[str, object]
"""One Segment message (identify, track, group, ...) as its decoded JSON object."""


def nested(message: Mapping[str, object], *keys: str) -> object:
    """The value at `keys` under `message`, or `None` when any step is missing."""
    value: object = message
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text(value: object) -> str | None:
    """`value` when it is a string with something other than blanks in it."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def identifier(value: object) -> str | None:
    """An id as text: a non-blank string, or an integer written out.

    Segment ids are strings, but hand-written JSON sometimes carries `"userId": 42`;
    Segment's own libraries stringify those, so we do too. Booleans are not ids.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def mapping(value: object) -> Mapping[str, object] | None:
    """`value` when it is a JSON object."""
    return value if isinstance(value, Mapping) else None


def timestamp(value: object, *, field: str) -> datetime | None:
    """A datetime from an ISO 8601 string (or a datetime); `None` when absent.

    A value that is present but unreadable is an error naming `field`, not a silent
    drop: a wrong time on a profile or an action is worse than a rejected message.
    """
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except (ValueError, OverflowError) as error:
            raise ValidationError(
                f"must be an ISO 8601 timestamp, got {value!r}", field=field
            ) from error
    raise ValidationError(f"must be an ISO 8601 timestamp, got {type(value).__name__}", field=field)


def url_host(value: str) -> str | None:
    """The host name of an absolute URL (lower case, no port), else `None`."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:  # e.g. a malformed IPv6 literal
        return None
    if not parts.scheme or not host:
        return None
    return host
