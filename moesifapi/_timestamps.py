"""Reading ISO 8601 timestamps: the API's own form quickly, everything else via dateutil.

Times arrive as text wherever a model is read from JSON (`from_dict`, and so
`moesif send`), from Segment messages and from HAR captures, nearly always in the one form
the API writes: ``2024-05-01T12:00:00.123Z``. `parse_timestamp` reads that, and the same
with an offset such as ``+02:00``, in about a third of the time dateutil's `isoparse`
takes, and hands any other spelling to `isoparse`. Both give equal values: the same
instant, the same UTC offset, naive where the text has no offset, and the same texts
refused.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["parse_timestamp"]

# ASCII digits only (`\d` would take other scripts' digits, which isoparse refuses).
# Offsets past 23:59 do not match; an hour of 24, a leap second or a day the month
# lacks match but fail `datetime`; isoparse decides both, and words the error.
_API_FORM = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,]([0-9]+))?([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
# Compiled on first use, not at `import moesifapi` (about 0.2 ms).
_api_form: re.Pattern[str] | None = None

_UTC = timezone.utc
_OFFSETS: dict[str, timezone] = {"Z": _UTC, "z": _UTC, "+00:00": _UTC, "-00:00": _UTC}

# Times in the API's form (``2024-05-01T12:00:00.123Z``) come a few per second: the
# datetime of each second read is kept (bounded), and the rest of such a text is one
# of the thousand ``.mmmZ`` endings (filled by `_compile`), so another time of that
# second is one `replace`, a quarter of the regular expression's cost. The result is
# the one the expression gives: the same fields, in the same `timezone.utc`.
_SECONDS: dict[str, datetime] = {}
_SECONDS_LIMIT = 4096
_MILLIS: dict[str, int] = {}


def parse_timestamp(text: str) -> datetime:
    """The datetime `text` spells, as dateutil's `isoparse` reads it.

    Raises `ValueError` (or `OverflowError`) for text that is not an ISO 8601 time.

    >>> parse_timestamp("2024-05-01T12:00:00.5Z")
    datetime.datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=datetime.timezone.utc)
    """
    if len(text) == 24:  # perhaps the API's form, of a second read before
        base = _SECONDS.get(text[:19])
        if base is not None:
            micros = _MILLIS.get(text[19:])
            if micros is not None:
                return base.replace(microsecond=micros)
    match = (_api_form or _compile()).fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        zone = None if offset is None else _OFFSETS.get(offset) or _offset(offset)
        # isoparse keeps the first six digits of a fraction and drops the rest.
        micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
        try:
            value = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                micros,
                zone,
            )
        except ValueError:
            pass  # a day the month lacks, an hour of 24: isoparse words the error
        else:
            if zone is _UTC and len(text) == 24 and text[19:] in _MILLIS:
                if len(_SECONDS) >= _SECONDS_LIMIT:
                    _SECONDS.clear()
                _SECONDS[text[:19]] = value.replace(microsecond=0)
            return value
    # Imported on first use: dateutil's parser adds 6 ms to `import moesifapi`.
    from dateutil.parser import isoparse

    return isoparse(text)


def _offset(text: str) -> timezone:
    """The zone of ``+HH:MM`` or ``-HH:MM``."""
    hours, minutes = int(text[1:3]), int(text[4:6])
    sign = -1 if text[0] == "-" else 1
    zone = timezone(timedelta(minutes=sign * (hours * 60 + minutes)))
    if len(_OFFSETS) < 256:  # a service sees a handful of offsets; never grow unbounded
        _OFFSETS[text] = zone
    return zone


def _compile() -> re.Pattern[str]:
    global _api_form
    _MILLIS.update({f".{ms:03d}Z": ms * 1000 for ms in range(1000)})
    _api_form = re.compile(_API_FORM)
    return _api_form
