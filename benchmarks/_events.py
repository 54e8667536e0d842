"""The benchmark's events: shaped like the example event of the Moesif API reference.

Standard library only: both sides (ours, and the official SDK in its own virtualenv)
import this module to build the same inputs. Every event gets its own dicts and lists,
as a web app logging real traffic would, and small per-event differences (ids, paths,
times) so nothing is accidentally shared or cached.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

_START = datetime(2024, 5, 1, 12, 0, 0, 0, tzinfo=timezone.utc)
_SESSION = "23jdf0owekfmcn4u3qypxg09w4d8ayrcdx8nu2ng]s98y18cx98q3yhwmnhcfx43f"
_USER_AGENT = "Dalvik/2.1.0 (Linux; U; Android 5.0.2; C6906 Build/14.5.A.0.242)"


def event_parts(n: int) -> dict[str, Any]:
    """The raw inputs of event number `n`: datetimes, header dicts, JSON bodies."""
    request_time = _START + timedelta(milliseconds=37 * n)
    return {
        "request": {
            "time": request_time,
            "uri": f"https://api.acmeinc.com/items/{12345 + n}/reviews/",
            "verb": "POST",
            "api_version": "1.1.0",
            "ip_address": f"61.48.{n % 250}.{(n * 7) % 250}",
            "headers": {
                "Host": "api.acmeinc.com",
                "Accept": "*/*",
                "Connection": "Keep-Alive",
                "User-Agent": _USER_AGENT,
                "Content-Type": "application/json",
                "Content-Length": "126",
                "Accept-Encoding": "gzip",
            },
            "body": {
                "items": [
                    {"direction_type": 1, "item_id": f"fwdsfrf{n}", "liked": False},
                    {"direction_type": 2, "item_id": "d43d3f", "liked": True},
                ]
            },
        },
        "response": {
            "time": request_time + timedelta(milliseconds=120 + n % 50),
            "status": 500,
            "headers": {
                "Date": "Tue, 23 Oct 2017 23:46:49 GMT",
                "Vary": "Accept-Encoding",
                "Pragma": "no-cache",
                "Expires": "-1",
                "Content-Type": "application/json; charset=utf-8",
                "Cache-Control": "no-cache",
            },
            "body": {"Error": "InvalidArgumentException", "Message": "Missing field location"},
        },
        "user_id": f"mndug437f43-{n}",
        "session_token": _SESSION,
        "transaction_id": f"a5b3c1d2-0000-4000-8000-{n:012d}",
        "metadata": {
            "some_string": "I am a string",
            "some_int": 77 + n,
            "some_object": {"some_sub_field": "some_value"},
        },
    }


def iso_z(value: datetime) -> str:
    """A UTC datetime the way the API reads it: milliseconds and a ``Z``."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wire_dict(n: int) -> dict[str, Any]:
    """Event `n` already in the wire format (timestamps as text), for the orjson limit."""
    parts = event_parts(n)
    for half in ("request", "response"):
        parts[half]["time"] = iso_z(parts[half]["time"])
    return parts
