"""Segment spec <-> Moesif: Segment messages as Moesif models, Moesif profiles as identifies.

The mapping and `plan_delivery` are pure; the destinations and the relay send through a client.
"""

from ._destination import AsyncSegmentDestination, SegmentDestination, SegmentReport
from ._dispatch import INTEGRATION_NAMES, MoesifUpdate, Skipped, SkipReason, dispatch
from ._fields import SegmentMessage
from ._from_moesif import identify_from_profile
from ._plan import DeliveryPlan, SegmentPayload, messages_in, plan_delivery
from ._relay import DEFAULT_RELAY_MAX_BODY_BYTES, SegmentRelay, relay_app
from ._server import (
    DEFAULT_RELAY_BACKLOG,
    DEFAULT_RELAY_REQUEST_TIMEOUT,
    DEFAULT_RELAY_SOCKET_TIMEOUT,
    RelayServer,
    make_relay_server,
)
from ._to_moesif import (
    TRACK_FALLBACK_URI_PREFIX,
    action_from_track,
    company_from_group,
    company_from_identify,
    user_from_identify,
)

__all__ = [
    "DEFAULT_RELAY_BACKLOG",
    "DEFAULT_RELAY_MAX_BODY_BYTES",
    "DEFAULT_RELAY_REQUEST_TIMEOUT",
    "DEFAULT_RELAY_SOCKET_TIMEOUT",
    "INTEGRATION_NAMES",
    "TRACK_FALLBACK_URI_PREFIX",
    "AsyncSegmentDestination",
    "DeliveryPlan",
    "MoesifUpdate",
    "RelayServer",
    "SegmentDestination",
    "SegmentMessage",
    "SegmentPayload",
    "SegmentRelay",
    "SegmentReport",
    "SkipReason",
    "Skipped",
    "action_from_track",
    "company_from_group",
    "company_from_identify",
    "dispatch",
    "identify_from_profile",
    "make_relay_server",
    "messages_in",
    "plan_delivery",
    "relay_app",
    "user_from_identify",
]
