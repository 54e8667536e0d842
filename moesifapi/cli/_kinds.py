"""The five kinds of record the command line sends, and how a record's kind is told.

Each kind pairs a model with the client's batch call for it; `detect_kind` reads the
shape of one decoded record and names the only kind it can validly be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _protocol as p
from .._client import MoesifClient
from .._results import BatchResult
from ..models import ActionModel, CompanyModel, EventModel, SubscriptionModel, UserModel

__all__ = ["KINDS", "KIND_NAMES", "RecordKind", "detect_kind"]


@dataclass(frozen=True)
class RecordKind:
    """One kind of record: its name on the command line, its model, its batch call, and
    the batch endpoint that call posts to (for batches of items encoded beforehand)."""

    name: str
    model: type[Any]
    send_batch: Callable[[MoesifClient, Sequence[Any]], BatchResult]
    endpoint: p.Endpoint[Any]

    @property
    def singular(self) -> str:
        return "company" if self.name == "companies" else self.name[:-1]

    def count(self, number: int) -> str:
        """``"1 user"``, ``"3 users"``."""
        return f"{number} {self.singular if number == 1 else self.name}"


KINDS: Mapping[str, RecordKind] = {
    kind.name: kind
    for kind in (
        RecordKind("events", EventModel, MoesifClient.create_events_batch, p.EVENTS_BATCH),
        RecordKind("actions", ActionModel, MoesifClient.create_actions_batch, p.ACTIONS_BATCH),
        RecordKind("users", UserModel, MoesifClient.update_users_batch, p.USERS_BATCH),
        RecordKind(
            "companies", CompanyModel, MoesifClient.update_companies_batch, p.COMPANIES_BATCH
        ),
        RecordKind(
            "subscriptions",
            SubscriptionModel,
            MoesifClient.update_subscriptions_batch,
            p.SUBSCRIPTIONS_BATCH,
        ),
    )
}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)


def detect_kind(record: object) -> str | None:
    """The kind a decoded record looks like, by the first rule that matches, or None.

    1. events: a ``request`` object with ``verb`` or ``headers``, or a ``response``;
    2. actions: an ``action_name``;
    3. subscriptions: a ``subscription_id``;
    4. users: a ``user_id``;
    5. companies: a ``company_id``.

    Events and actions may also carry ``user_id`` or ``subscription_id``, which is why
    they are tried first. Every valid record of a kind is detected as that kind, since
    each model rejects the keys that would make an earlier rule match.

    >>> detect_kind({"user_id": "u1", "company_id": "c1"})
    'users'
    >>> detect_kind({"company_id": "c1"})
    'companies'
    """
    if record.__class__ is not dict and not isinstance(record, Mapping):
        return None
    request = record.get("request")
    if (
        (request.__class__ is dict or isinstance(request, Mapping))
        and ("verb" in request or "headers" in request)
    ) or "response" in record:
        return "events"
    for key, kind in (
        ("action_name", "actions"),
        ("subscription_id", "subscriptions"),
        ("user_id", "users"),
        ("company_id", "companies"),
    ):
        if key in record:
            return kind
    return None
