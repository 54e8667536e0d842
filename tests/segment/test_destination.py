"""SegmentDestination and AsyncSegmentDestination against the sandbox collector.

Each test runs with both destinations (the `destination` fixture): they must behave the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from moesifapi import BadRequestError, ValidationError

if TYPE_CHECKING:  # a fixture's type, for readers; conftest is not importable at run time
    from conftest import Destination

IDENTIFY: dict[str, Any] = {
    "type": "identify",
    "messageId": "m-identify",
    "userId": "userId123",
    "timestamp": "2024-05-01T12:00:00.250Z",
    "traits": {"email": "john@example.com", "company": {"id": "67890", "plan": "Free"}},
}
TRACK: dict[str, Any] = {
    "type": "track",
    "messageId": "m-track",
    "userId": "userId123",
    "event": "Login Button Clicked",
    "properties": {"button": "primary"},
    "timestamp": "2024-05-01T12:00:01Z",
}
GROUP: dict[str, Any] = {
    "type": "group",
    "messageId": "m-group",
    "userId": "userId123",
    "groupId": "67890",
    "traits": {"name": "Acme"},
}


def paths(destination: Destination) -> list[str]:
    return [request.path for request in destination.collector.requests]


async def test_a_batch_lands_in_the_sandbox_as_users_companies_and_actions(
    destination: Destination,
) -> None:
    await destination.send({"batch": [IDENTIFY, TRACK, GROUP]})

    sandbox = destination.collector
    assert sandbox.users == {
        "userId123": {
            "user_id": "userId123",
            "company_id": "67890",
            "modified_time": "2024-05-01T12:00:00.250Z",
            "metadata": IDENTIFY["traits"],
        }
    }
    assert sandbox.companies == {
        "67890": {
            "company_id": "67890",
            "modified_time": "2024-05-01T12:00:00.250Z",
            "metadata": {"plan": "Free", "name": "Acme"},
        }
    }
    assert sandbox.actions == [
        {
            "action_name": "Login Button Clicked",
            "request": {
                "uri": "segment://track/Login%20Button%20Clicked",
                "time": "2024-05-01T12:00:01.000Z",
            },
            "transaction_id": "m-track",
            "user_id": "userId123",
            "metadata": {"button": "primary"},
        }
    ]


async def test_each_kind_goes_in_one_batch_call_users_then_companies_then_actions(
    destination: Destination,
) -> None:
    await destination.send({"batch": [TRACK, GROUP, IDENTIFY, TRACK]})
    assert paths(destination) == ["/v1/users/batch", "/v1/companies/batch", "/v1/actions/batch"]


async def test_a_kind_with_nothing_to_send_makes_no_call(destination: Destination) -> None:
    await destination.send(TRACK)
    assert paths(destination) == ["/v1/actions/batch"]


async def test_the_report_holds_what_was_sent(destination: Destination) -> None:
    report = await destination.send({"batch": [IDENTIFY, TRACK, GROUP]})
    assert report.delivery == "sent"
    assert report.messages == 3
    assert [user.user_id for user in report.users] == ["userId123", "userId123"]
    assert [company.company_id for company in report.companies] == ["67890", "67890"]
    assert [action.transaction_id for action in report.actions] == ["m-track"]
    assert (report.skipped, report.not_queued) == ((), 0)


@pytest.mark.parametrize("message_type", ["page", "screen", "alias"])
async def test_unsupported_types_are_reported_as_skipped_and_not_sent(
    destination: Destination, message_type: str
) -> None:
    message = {"type": message_type, "messageId": "m-1", "userId": "userId123"}
    report = await destination.send(message)
    (skip,) = report.skipped
    assert (skip.reason.value, skip.message_type, skip.message_id) == (
        "unsupported_type",
        message_type,
        "m-1",
    )
    assert paths(destination) == []


async def test_integrations_turning_moesif_off_are_reported_and_nothing_is_sent(
    destination: Destination,
) -> None:
    report = await destination.send({**TRACK, "integrations": {"moesif-api-analytics": False}})
    assert [skip.reason.value for skip in report.skipped] == ["disabled_by_integrations"]
    assert paths(destination) == []


async def test_an_invalid_message_is_reported_and_the_rest_is_sent(
    destination: Destination,
) -> None:
    report = await destination.send({"batch": [{**TRACK, "timestamp": "soon"}, IDENTIFY]})
    (skip,) = report.skipped
    assert (skip.reason.value, skip.message_id) == ("invalid_message", "m-track")
    assert list(destination.collector.users) == ["userId123"]
    assert destination.collector.actions == []


async def test_a_payload_that_is_not_a_message_raises_before_anything_is_sent(
    destination: Destination,
) -> None:
    with pytest.raises(ValidationError):
        await destination.send({"event": "Signed Up"})
    assert paths(destination) == []


async def test_an_error_from_moesif_propagates(destination: Destination) -> None:
    destination.collector.fail_next(status=400)
    with pytest.raises(BadRequestError):
        await destination.send(TRACK)


async def test_queue_reports_at_once_and_the_client_delivers_on_flush(
    destination: Destination,
) -> None:
    report = destination.queue({"batch": [IDENTIFY, TRACK, GROUP]})
    assert (report.delivery, report.not_queued) == ("queued", 0)
    assert (len(report.users), len(report.companies), len(report.actions)) == (2, 2, 1)

    assert await destination.flush()
    assert list(destination.collector.users) == ["userId123"]
    assert list(destination.collector.companies) == ["67890"]
    assert [action["transaction_id"] for action in destination.collector.actions] == ["m-track"]


async def test_queue_counts_what_a_closed_client_refused(destination: Destination) -> None:
    await destination.close()
    report = destination.queue({"batch": [IDENTIFY, TRACK]})
    assert report.not_queued == 3
