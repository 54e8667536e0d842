"""Routing one Segment message to the Moesif updates it stands for, or to why it has none.

This is the pure core of a Segment destination: it decides, the clients send.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeAlias

import attrs

from ..models import ActionModel, CompanyModel, UserModel
from ._fields import SegmentMessage, identifier, mapping, text
from ._to_moesif import (
    action_from_track,
    company_from_group,
    company_from_identify,
    user_from_identify,
)

__all__ = ["INTEGRATION_NAMES", "MoesifUpdate", "SkipReason", "Skipped", "dispatch"]

MoesifUpdate: TypeAlias = UserModel | CompanyModel | ActionModel
"""One thing to send: a user (`update_user`), a company (`update_company`) or an action
(`create_action`)."""

INTEGRATION_NAMES: tuple[str, ...] = ("Moesif API Analytics", "moesif-api-analytics")
"""The two names Segment accepts for this destination in a message's `integrations`."""


class SkipReason(str, enum.Enum):
    """Why a Segment message produces nothing for Moesif."""

    ANONYMOUS_IDENTIFY = "anonymous_identify"
    """An identify with no `userId`: Moesif profiles are keyed by a real user id."""
    NO_EVENT_NAME = "no_event_name"
    """A track with no `event`: an action needs a name."""
    NO_GROUP_ID = "no_group_id"
    """A group with no `groupId`: a company needs an id."""
    UNSUPPORTED_TYPE = "unsupported_type"
    """page, screen and alias: the Moesif destination does not take them."""
    UNKNOWN_TYPE = "unknown_type"
    """A `type` that is not one of Segment's message types, or none at all."""
    DISABLED_BY_INTEGRATIONS = "disabled_by_integrations"
    """The message's `integrations` object turns this destination off."""
    INVALID_MESSAGE = "invalid_message"
    """A batch item that is not a JSON object, or a message with a value Moesif cannot
    take (an unreadable `timestamp`, say). `dispatch` raises for these; the Segment
    destinations report them with this reason instead, so one bad message in a batch
    does not hold back the rest."""


@attrs.frozen(kw_only=True)
class Skipped:
    """A message that was deliberately not turned into Moesif updates, and why."""

    reason: SkipReason
    detail: str
    """The reason in a sentence, fit for a log line."""
    message_type: str | None = None
    message_id: str | None = None
    field: str | None = None
    """For `SkipReason.INVALID_MESSAGE`: where in the payload the offending value is, as
    Segment sent it (``"batch[2].traits.address"``, ``"properties.tags"``; a batch item
    that is not an object is ``"batch[2]"``), when known."""


_UNSUPPORTED_DETAIL: dict[str, str] = {
    "page": "page calls are not sent to Moesif; its destination takes identify and track",
    "screen": "screen calls are not sent to Moesif; its destination takes identify and track",
    "alias": "alias calls are not sent to Moesif: it has no call to merge two user ids",
}
_HANDLED_TYPES = frozenset(("identify", "track", "group"))


def dispatch(message: SegmentMessage) -> list[MoesifUpdate] | Skipped:
    """The Moesif updates one Segment message stands for, in the order to send them.

    - identify: the user, then the company named by `traits.company.id` if any;
    - group: the company, then (when the call has a `userId`) a user update linking
      that user to the company;
    - track: the action.

    Anything else, an anonymous identify, and a message whose `integrations` turn
    Moesif off come back as `Skipped`. A malformed `timestamp` raises `ValidationError`.
    """
    message_type = text(message.get("type"))
    message_id = identifier(message.get("messageId"))

    def skipped(reason: SkipReason, detail: str) -> Skipped:
        return Skipped(
            reason=reason, detail=detail, message_type=message_type, message_id=message_id
        )

    if message_type is None or (
        message_type not in _HANDLED_TYPES and message_type not in _UNSUPPORTED_DETAIL
    ):
        return skipped(SkipReason.UNKNOWN_TYPE, f"unknown message type {message_type!r}")
    if not _sent_to_moesif(mapping(message.get("integrations"))):
        return skipped(
            SkipReason.DISABLED_BY_INTEGRATIONS,
            "the message's integrations object does not enable Moesif API Analytics",
        )
    if message_type in _UNSUPPORTED_DETAIL:
        return skipped(SkipReason.UNSUPPORTED_TYPE, _UNSUPPORTED_DETAIL[message_type])

    updates: list[MoesifUpdate] = []
    if message_type == "identify":
        user = user_from_identify(message)
        if user is None:
            return skipped(
                SkipReason.ANONYMOUS_IDENTIFY,
                "identify without a userId; Moesif advises identifying real users only",
            )
        updates.append(user)
        company = company_from_identify(message)
        if company is not None:
            updates.append(company)
    elif message_type == "group":
        company = company_from_group(message)
        if company is None:
            return skipped(SkipReason.NO_GROUP_ID, "group call without a groupId")
        updates.append(company)
        user_id = identifier(message.get("userId"))
        if user_id is not None:
            # A group call says "this user belongs to this company"; Moesif records
            # that on the user, and an update with only the two ids changes nothing else.
            updates.append(UserModel(user_id=user_id, company_id=company.company_id))
    else:
        action = action_from_track(message)
        if action is None:
            return skipped(SkipReason.NO_EVENT_NAME, "track call without an event name")
        updates.append(action)
    return updates


def _sent_to_moesif(integrations: Mapping[str, object] | None) -> bool:
    """Segment's rule: a destination named `false` is off; named `true` (or with an
    options object) it is on; otherwise `"All"` decides, and it defaults to on."""
    if not integrations:
        return True
    named = [integrations.get(name) for name in INTEGRATION_NAMES]
    if any(value is False for value in named):
        return False
    if any(value is True or isinstance(value, Mapping) for value in named):
        return True
    return integrations.get("All", True) is not False
