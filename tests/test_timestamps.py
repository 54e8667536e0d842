"""`parse_timestamp` reads every text exactly as dateutil's `isoparse` does.

Its fast path covers the API's own form; whatever it reads must come out as isoparse
reads it (same wall time, same UTC offset, naive where the text has none), and whatever
isoparse refuses it must refuse too.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from dateutil.parser import isoparse
from hypothesis import given
from hypothesis import strategies as st

from moesifapi import ActionModel, EventRequestModel, UserModel, ValidationError, from_dict
from moesifapi._timestamps import _API_FORM, parse_timestamp
from moesifapi.segment import dispatch

Outcome = tuple[datetime, timedelta | None] | str


def outcome(text: str, parse: object) -> Outcome:
    try:
        value = parse(text)  # type: ignore[operator]
    except (ValueError, OverflowError):
        return "refused"
    assert isinstance(value, datetime)
    return value.replace(tzinfo=None), value.utcoffset()


def assert_reads_as_isoparse(text: str) -> None:
    assert outcome(text, parse_timestamp) == outcome(text, isoparse), text


@given(st.from_regex(re.compile(_API_FORM), fullmatch=True))
def test_any_text_of_the_fast_form_reads_as_isoparse_reads_it(text: str) -> None:
    # Random digits: month 13, day 31 in June, hour 24, second 60, year 0000 included.
    assert_reads_as_isoparse(text)


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(timezones=st.none() | st.just(timezone.utc) | offsets),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.booleans(),
)
def test_any_datetime_written_by_isoformat_reads_back(
    value: datetime, timespec: str, zulu: bool
) -> None:
    text = value.isoformat(timespec=timespec)
    if zulu:
        text = text.replace("+00:00", "Z")
    assert_reads_as_isoparse(text)
    if timespec == "microseconds":
        assert parse_timestamp(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:00:00.123Z",
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00z",
        "2024-05-01T12:00:00.5+02:00",
        "2024-05-01T12:00:00,5-05:30",
        "2024-05-01T12:00:00.1234567891Z",  # past microseconds: truncated, not rounded
        "2024-05-01T12:00:00-00:00",
        "2024-05-01T12:00:00",  # no offset: naive
        "2024-05-01T24:00:00Z",  # midnight at the end of the day
        "2024-05-01T24:00:01Z",
        "2024-02-30T12:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-02-29T00:00:00Z",
        "2024-05-01T12:00:60Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+23:60",
        "2024-05-01T12:00:00+0200",  # other spellings: isoparse's own path
        "2024-05-01T12:00:00+02",
        "2024-05-01 12:00:00Z",
        "2024-05-01",
        "20240501T120000Z",
        "2024-05-01T12:00",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00Zjunk",
        "\uff12\uff10\uff12\uff14-05-01T12:00:00Z",  # full-width digits
        "yesterday",
        "",
    ],
)
def test_edge_cases_read_as_isoparse_reads_them(text: str) -> None:
    assert_reads_as_isoparse(text)


def test_the_api_form_comes_back_in_utc_and_offsets_keep_their_instant() -> None:
    assert parse_timestamp("2024-05-01T12:00:00.123Z") == datetime(
        2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc
    )
    east = parse_timestamp("2024-05-01T14:00:00+02:00")
    assert east.utcoffset() == timedelta(hours=2)
    assert east == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def test_a_model_reads_text_times_into_utc_milliseconds() -> None:
    request = from_dict(
        EventRequestModel,
        {
            "time": "2024-05-01T14:00:00.1239+02:00",
            "uri": "https://api.example.com/",
            "verb": "GET",
            "headers": {},
        },
    )
    assert request.time == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert request.time.tzinfo is timezone.utc


@pytest.mark.parametrize("text", ["2024-02-30T12:00:00Z", "2024-05-01T12:00:00+24:00", "soon"])
def test_a_model_names_the_field_of_a_time_it_cannot_read(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        from_dict(UserModel, {"user_id": "u1", "modified_time": text})
    assert caught.value.field == "modified_time"


def test_a_segment_timestamp_with_an_offset_lands_on_the_same_instant() -> None:
    [action] = dispatch(
        {
            "type": "track",
            "userId": "u1",
            "event": "Clicked",
            "messageId": "m-1",
            "timestamp": "2024-05-01T14:00:00.000+02:00",
        }
    )
    assert isinstance(action, ActionModel)
    assert action.request.time == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
