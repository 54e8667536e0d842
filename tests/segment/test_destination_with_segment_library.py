"""The real Segment library's batches, fed through the destinations, land in the sandbox.

Calls are written as the seeds write them; the sandbox must hold what the seeds' tables say.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from moesifapi.segment import SegmentReport

if TYPE_CHECKING:  # fixtures' types, for readers; conftest is not importable at run time
    from conftest import Destination

pytest.importorskip("segment.analytics")

WHEN = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
WHEN_ON_THE_WIRE = "2024-05-01T12:00:00.250Z"
IP = "203.0.113.9"
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15"
BROWSER = {
    "ip": IP,
    "userAgent": USER_AGENT,
    "campaign": {"name": "spring", "source": "newsletter", "medium": "email"},
    "page": {
        "url": "https://app.example.com/login",
        "referrer": "https://news.example.org/issue/12",
    },
}
CAMPAIGN = {
    "utm_campaign": "spring",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "referrer": "https://news.example.org/issue/12",
    "referring_domain": "news.example.org",
}
# The seed's identify example, word for word.
SEED_TRAITS = {
    "first_name": "John",
    "last_name": "Doe",
    "email": "john@example.com",
    "company": {"id": "67890", "plan": "Free"},
}


def call_the_library_as_a_user_would(segment_client: Any) -> None:
    segment_client.identify("userId123", SEED_TRAITS, context=dict(BROWSER), timestamp=WHEN)
    segment_client.track(
        "userId123",
        "Login Button Clicked",
        {"button": "primary"},
        context=dict(BROWSER),
        timestamp=WHEN,
        message_id="msg-0001",
    )
    segment_client.group(
        "userId123", "67890", {"name": "Acme", "website": "https://www.acme.com/"}, timestamp=WHEN
    )


async def send_every_post(
    destination: Destination, posts: list[dict[str, Any]]
) -> list[SegmentReport]:
    return [await destination.send(body) for body in posts]


def assert_the_sandbox_holds_what_the_seeds_say(destination: Destination) -> None:
    sandbox = destination.collector
    # identify: userId -> user_id, traits -> metadata, traits.company.id -> company_id,
    # and the automatically collected IP address, user agent and campaign.
    assert sandbox.users == {
        "userId123": {
            "user_id": "userId123",
            "company_id": "67890",
            "modified_time": WHEN_ON_THE_WIRE,
            "ip_address": IP,
            "user_agent_string": USER_AGENT,
            "campaign": CAMPAIGN,
            "metadata": SEED_TRAITS,
        }
    }
    # The company named by the identify, merged with what the group call said of it.
    assert sandbox.companies == {
        "67890": {
            "company_id": "67890",
            "company_domain": "www.acme.com",
            "modified_time": WHEN_ON_THE_WIRE,
            "ip_address": IP,
            "campaign": CAMPAIGN,
            "metadata": {"plan": "Free", "name": "Acme", "website": "https://www.acme.com/"},
        }
    }
    # track: event -> action_name, properties -> metadata.
    assert sandbox.actions == [
        {
            "action_name": "Login Button Clicked",
            "request": {
                "uri": "https://app.example.com/login",
                "time": WHEN_ON_THE_WIRE,
                "ip_address": IP,
                "user_agent_string": USER_AGENT,
            },
            "transaction_id": "msg-0001",
            "user_id": "userId123",
            "metadata": {"button": "primary"},
        }
    ]


async def test_identify_track_and_group_from_the_library_land_as_the_seeds_say(
    segment_client: Any,
    segment_posts: Callable[[], list[dict[str, Any]]],
    destination: Destination,
) -> None:
    call_the_library_as_a_user_would(segment_client)
    reports = await send_every_post(destination, segment_posts())
    assert [(r.messages, len(r.users), len(r.companies), len(r.actions)) for r in reports] == [
        (1, 1, 1, 0),
        (1, 0, 0, 1),
        (1, 1, 1, 0),
    ]
    assert_the_sandbox_holds_what_the_seeds_say(destination)


async def test_the_same_calls_land_the_same_over_the_sandboxs_real_server(
    segment_client: Any,
    segment_posts: Callable[[], list[dict[str, Any]]],
    served_destination: Destination,
) -> None:
    call_the_library_as_a_user_would(segment_client)
    await send_every_post(served_destination, segment_posts())
    assert_the_sandbox_holds_what_the_seeds_say(served_destination)


async def test_the_librarys_calls_moesif_does_not_take_are_reported_with_reasons(
    segment_client: Any,
    segment_posts: Callable[[], list[dict[str, Any]]],
    destination: Destination,
) -> None:
    segment_client.page("userId123", name="Pricing")
    segment_client.screen("userId123", name="Settings")
    segment_client.alias("anon-42", "userId123")
    segment_client.track("userId123", "Signed Up", integrations={"All": False})
    segment_client.identify(anonymous_id="anon-42", traits={"email": "someone@example.com"})

    reports = await send_every_post(destination, segment_posts())
    skipped = [(skip.message_type, skip.reason.value) for r in reports for skip in r.skipped]
    assert skipped == [
        ("page", "unsupported_type"),
        ("screen", "unsupported_type"),
        ("alias", "unsupported_type"),
        ("track", "disabled_by_integrations"),
        ("identify", "anonymous_identify"),
    ]
    assert all(skip.message_id for r in reports for skip in r.skipped)
    assert destination.collector.requests == []


async def test_integrations_naming_moesif_keep_it_on_when_all_are_off(
    segment_client: Any,
    segment_posts: Callable[[], list[dict[str, Any]]],
    destination: Destination,
) -> None:
    segment_client.track(
        "userId123", "Signed Up", integrations={"All": False, "Moesif API Analytics": True}
    )
    (report,) = await send_every_post(destination, segment_posts())
    assert report.skipped == ()
    assert [action["action_name"] for action in destination.collector.actions] == ["Signed Up"]
