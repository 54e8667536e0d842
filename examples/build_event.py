"""Build the models for one logged API call, its user and their company, and print the JSON.

Nothing is sent: this shows what the models accept, what they reject, and the exact
bytes a client would POST. Run it with::

    python examples/build_event.py
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from moesifapi import (
    CampaignModel,
    CompanyModel,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    UserModel,
    ValidationError,
    from_dict,
    to_json,
)


def build_event() -> EventModel:
    """An event shaped like the API reference's "Create an Event" example."""
    started = datetime.now(timezone.utc) - timedelta(seconds=2)
    request = EventRequestModel(
        time=started,
        uri="https://api.acmeinc.com/items/12345/reviews/",
        verb="POST",
        api_version="1.1.0",
        ip_address="61.48.220.123",
        headers={
            "Host": "api.acmeinc.com",
            "Accept": ["application/json", "*/*"],  # a repeated header: joined with ", "
            "Content-Type": "application/json",
            "Accept-Encoding": "gzip",
        },
        body={
            "items": [
                {"direction_type": 1, "item_id": "fwdsfrf", "liked": False},
                {"direction_type": 2, "item_id": "d43d3f", "liked": True},
            ]
        },
    )
    response = EventResponseModel(
        time=started + timedelta(milliseconds=38),
        status=500,
        headers={"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache"},
        body={"Error": "InvalidArgumentException", "Message": "Missing field location"},
    )
    return EventModel(
        request=request,
        response=response,
        user_id="mndug437f43",
        company_id="acme",
        direction="Incoming",
        metadata={
            "some_string": "I am a string",
            "some_int": 77,
            "some_object": {"some_sub_field": "some_value"},
            "cart_total": Decimal("19.95"),  # written as a JSON number
            "seen_at": started,  # written as a UTC timestamp
        },
    )


def main() -> None:
    event = build_event()
    user = UserModel(
        user_id="mndug437f43",
        company_id="acme",
        modified_time=datetime(2024, 5, 1, 9, 30),  # naive: taken as UTC
        campaign=CampaignModel(utm_source="newsletter", utm_medium="email"),
        metadata={"email": "john@acmeinc.com", "plan": "pro"},
    )
    company = CompanyModel(
        company_id="acme",
        company_domain="acmeinc.com",
        metadata={"seats": 25, "industry": "retail"},
    )

    # A dict in the wire format with a misspelled key: rejected before anything is sent.
    try:
        from_dict(UserModel, {"user_id": "u2", "campaign": {"utm_sorce": "ads"}})
    except ValidationError as error:
        print(f"rejected: {error}")
        print(f"  field:  {error.field}")

    for title, model in (("event", event), ("user", user), ("company", company)):
        print(f"\n{title} ({len(to_json(model))} bytes on the wire):")
        print(json.dumps(json.loads(to_json(model)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
