"""Segment spec <-> Moesif: Segment messages as Moesif models, Moesif profiles as identifies.

Everything here is pure mapping with no I/O; ``docs/segment.md`` has the field tables.
"""

from ._dispatch import INTEGRATION_NAMES, MoesifUpdate, Skipped, SkipReason, dispatch
from ._fields import SegmentMessage
from ._from_moesif import identify_from_profile
from ._to_moesif import (
    TRACK_FALLBACK_URI_PREFIX,
    action_from_track,
    company_from_group,
    company_from_identify,
    user_from_identify,
)

__all__ = [
    "INTEGRATION_NAMES",
    "TRACK_FALLBACK_URI_PREFIX",
    "MoesifUpdate",
    "SegmentMessage",
    "SkipReason",
    "Skipped",
    "action_from_track",
    "company_from_group",
    "company_from_identify",
    "dispatch",
    "identify_from_profile",
    "user_from_identify",
]
