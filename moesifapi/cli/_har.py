"""HAR 1.2 captures turned into Moesif events: one event per entry, nothing sent here.

The mapping follows the HAR spec's fields (startedDateTime, request, response, time);
HTTP/2 pseudo-headers are dropped except ``:authority``, which stands in for a
missing ``Host``. Each event's transaction id is derived from its entry, so sending
the same capture twice is deduplicated by Moesif instead of counted twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .._timestamps import parse_timestamp
from .._wire import from_dict
from ..exceptions import ValidationError
from ..models import EventModel
from ._records import InputError, reject_non_json_number

__all__ = ["HarEntry", "convert_entries", "read_har_entries"]

# Namespace for the transaction ids of imported entries; any fixed UUID would do.
_TRANSACTION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "moesifapi-typed:har-entry")
_JSON_MIME_TYPES = frozenset({"application/json", "text/json"})
_SHOWN_URL_CHARS = 80


@dataclass(frozen=True)
class HarEntry:
    """One HAR entry as an event, or the reason it cannot be one (`event` is then None)."""

    index: int
    label: str
    event: EventModel | None
    problem: str | None = None

    def where(self, source: str) -> str:
        return f"{source}: entry {self.index} ({self.label})"


def read_har_entries(path: Path, display_name: str) -> list[object]:
    """The ``log.entries`` list of a HAR file; `InputError` when it is not one."""
    try:
        with path.open("rb") as stream:
            document = json.load(stream, parse_constant=reject_non_json_number)
    except OSError as error:
        raise InputError(f"cannot read {display_name}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise InputError(f"{display_name} is not UTF-8 text") from error
    except json.JSONDecodeError as error:
        raise InputError(
            f"{display_name}:{error.lineno}: not JSON: {error.msg} (column {error.colno})"
        ) from error
    except ValueError as error:
        raise InputError(f"{display_name}: not JSON: {error}") from error
    log = document.get("log") if isinstance(document, Mapping) else None
    entries = log.get("entries") if isinstance(log, Mapping) else None
    if not isinstance(entries, list):
        raise InputError(f"{display_name} is not a HAR file: it has no log.entries list")
    return entries


def convert_entries(
    entries: list[object],
    *,
    user_id: str | None = None,
    company_id: str | None = None,
    api_version: str | None = None,
) -> Iterator[HarEntry]:
    """Each entry as a validated `EventModel`, in order; bad entries carry a problem."""
    occurrences: dict[tuple[object, ...], int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            yield HarEntry(index, "?", None, "is not a JSON object")
            continue
        request = _mapping(entry.get("request"))
        label = _label(request)
        # Identical calls (same start, method and URL) are told apart by their order.
        key = (entry.get("startedDateTime"), request.get("method"), request.get("url"))
        occurrence = occurrences.get(key, 0)
        occurrences[key] = occurrence + 1
        try:
            data = _event_data(entry, request, key, occurrence)
            if user_id is not None:
                data["user_id"] = user_id
            if company_id is not None:
                data["company_id"] = company_id
            if api_version is not None:
                data["request"]["api_version"] = api_version
            event = from_dict(EventModel, data)
        except (ValidationError, TypeError) as error:
            yield HarEntry(index, label, None, str(error))
            continue
        except OverflowError as error:
            # A date arithmetic past year 9999 somewhere in the model; still one entry.
            yield HarEntry(index, label, None, f"a date is out of range: {error}")
            continue
        yield HarEntry(index, label, event)


def _event_data(
    entry: Mapping[str, Any], request: Mapping[str, Any], key: tuple[object, ...], occurrence: int
) -> dict[str, Any]:
    started = _started(entry.get("startedDateTime"))
    event_request: dict[str, Any] = {
        "time": started,
        "uri": request.get("url"),
        "verb": request.get("method"),
        "headers": _headers(request.get("headers"), request=True),
    }
    post_data = _mapping(request.get("postData"))
    _put_body(event_request, post_data.get("text"), post_data)
    data: dict[str, Any] = {
        "request": event_request,
        "transaction_id": str(uuid.uuid5(_TRANSACTION_NAMESPACE, f"{key!r}#{occurrence}")),
    }
    response = _mapping(entry.get("response"))
    status = response.get("status")
    # HAR writes status 0 (some tools -1) for a request that never got an answer.
    if response and status not in (0, -1, None):
        content = _mapping(response.get("content"))
        event_response: dict[str, Any] = {
            "time": _ended(started, entry.get("time")),
            "status": status,
            "headers": _headers(response.get("headers"), request=False),
        }
        _put_body(event_response, content.get("text"), content)
        data["response"] = event_response
    return data


def _started(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValidationError("is required (an ISO 8601 timestamp)", field="startedDateTime")
    try:
        started = parse_timestamp(value)
    except (ValueError, OverflowError) as error:
        raise ValidationError(
            f"is not an ISO 8601 timestamp: {value!r}", field="startedDateTime"
        ) from error
    # HAR requires an offset; a capture without one is most likely in UTC.
    return started if started.tzinfo else started.replace(tzinfo=timezone.utc)


def _ended(started: datetime, duration: object) -> datetime:
    """When the response ended: `started` plus the entry's ``time`` in milliseconds."""
    try:
        return started + timedelta(milliseconds=_duration_ms(duration))
    except OverflowError as error:
        raise ValidationError(
            f"{duration!r} ms after startedDateTime {started.isoformat()} is past the"
            " last date a timestamp can hold (year 9999)",
            field="time",
        ) from error


def _duration_ms(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 0.0


def _headers(pairs: object, *, request: bool) -> dict[str, str]:
    """HAR's list of name/value pairs as one string per name, repeats joined by ", ".

    Names are matched case-insensitively, keeping the first spelling. HTTP/2
    pseudo-headers repeat what the URL, method and status already say; of them only
    ``:authority`` is kept, as ``Host``, and only in a request without one.
    """
    joined: dict[str, str] = {}
    spelling: dict[str, str] = {}
    authority: str | None = None
    for pair in pairs if isinstance(pairs, list) else ():
        if not isinstance(pair, Mapping):
            continue
        name, value = pair.get("name"), pair.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if name.startswith(":"):
            if request and name.lower() == ":authority":
                authority = value
            continue
        key = spelling.setdefault(name.lower(), name)
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    if authority is not None and "host" not in spelling:
        joined["Host"] = authority
    return joined


def _put_body(target: dict[str, Any], text: object, holder: Mapping[str, Any]) -> None:
    """Set the body from HAR `text`: base64 stays base64, JSON is parsed, text is text."""
    if not isinstance(text, str) or not text:
        return
    if holder.get("encoding") == "base64":
        target["body"] = text
        target["transfer_encoding"] = "base64"
        return
    if _is_json(holder.get("mimeType")):
        try:
            target["body"] = json.loads(text)
        except ValueError:
            target["body"] = text
        return
    target["body"] = text


def _is_json(mime_type: object) -> bool:
    if not isinstance(mime_type, str):
        return False
    essence = mime_type.split(";", 1)[0].strip().lower()
    return essence in _JSON_MIME_TYPES or essence.endswith("+json")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _label(request: Mapping[str, Any]) -> str:
    method = request.get("method")
    url = request.get("url")
    url_text = url if isinstance(url, str) else "?"
    if len(url_text) > _SHOWN_URL_CHARS:
        url_text = url_text[: _SHOWN_URL_CHARS - 3] + "..."
    return f"{method if isinstance(method, str) else '?'} {url_text}"
