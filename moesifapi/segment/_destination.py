"""Segment destinations: Segment payloads in, Moesif users, companies and actions out.

`plan_delivery` decides; `SegmentDestination` and `AsyncSegmentDestination` only send.
"""

from __future__ import annotations

from typing import Literal

import attrs

from .._async_client import AsyncMoesifClient
from .._client import MoesifClient
from ..models import ActionModel, CompanyModel, UserModel
from ._dispatch import Skipped
from ._plan import DeliveryPlan, SegmentPayload, plan_delivery

__all__ = ["AsyncSegmentDestination", "SegmentDestination", "SegmentReport"]


@attrs.frozen(kw_only=True)
class SegmentReport:
    """What a destination did with one Segment payload.

    `users`, `companies` and `actions` are the models handed to Moesif, each kind in
    message order. With `delivery == "sent"` they were delivered (the batch calls
    returned); with `"queued"` they went to the client's background queue, which
    refused `not_queued` of them (queue full, client closed, or dropped by the
    client's `before_send`; its `on_error` and `stats` say which). `skipped` lists the
    messages that produced nothing, with their reasons; `messages` counts them all.
    """

    delivery: Literal["sent", "queued"]
    messages: int
    users: tuple[UserModel, ...] = ()
    companies: tuple[CompanyModel, ...] = ()
    actions: tuple[ActionModel, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    not_queued: int = 0

    @classmethod
    def of(
        cls, plan: DeliveryPlan, delivery: Literal["sent", "queued"], not_queued: int = 0
    ) -> SegmentReport:
        """The report of `plan` carried out by `delivery`."""
        return cls(
            delivery=delivery,
            messages=plan.messages,
            users=plan.users,
            companies=plan.companies,
            actions=plan.actions,
            skipped=plan.skipped,
            not_queued=not_queued,
        )

    def summary(self) -> dict[str, object]:
        """The report as a JSON-ready object: counts per kind and each skip's reason
        (and, for an invalid message, the ``field`` it was refused for).

        >>> SegmentReport(delivery="sent", messages=0).summary()
        {'delivery': 'sent', 'messages': 0, 'users': 0, 'companies': 0, 'actions': 0, \
'not_queued': 0, 'skipped': []}
        """
        return {
            "delivery": self.delivery,
            "messages": self.messages,
            "users": len(self.users),
            "companies": len(self.companies),
            "actions": len(self.actions),
            "not_queued": self.not_queued,
            "skipped": [_skip_summary(skip) for skip in self.skipped],
        }


def _skip_summary(skip: Skipped) -> dict[str, object]:
    summary: dict[str, object] = {
        "message_id": skip.message_id,
        "message_type": skip.message_type,
        "reason": skip.reason.value,
        "detail": skip.detail,
    }
    if skip.field is not None:
        summary["field"] = skip.field
    return summary


class SegmentDestination:
    """Sends Segment messages to Moesif through a `MoesifClient`, as its destination would.

    identify becomes a user (and its `traits.company`), group a company (and the
    user's link to it), track an action; page, screen, alias and messages whose
    `integrations` turn Moesif off are reported as skipped. See ``docs/segment.md``.

        destination = SegmentDestination(client)
        report = destination.send({"batch": [...]})
    """

    def __init__(self, client: MoesifClient) -> None:
        self._client = client

    @property
    def client(self) -> MoesifClient:
        """The client the updates go through."""
        return self._client

    def send(self, payload: SegmentPayload) -> SegmentReport:
        """Deliver one payload (a message or a batch) and report what was sent and skipped.

        One batch call per kind, in the order users, companies, actions. A payload that
        is neither a message nor a batch raises `ValidationError` before anything is
        sent; a client error (`APIError`) propagates, and sending the same payload again
        is then safe: profile updates merge, and actions carry the message's
        `messageId` as their `transaction_id`, on which Moesif deduplicates.
        """
        plan = plan_delivery(payload)
        if plan.users:
            self._client.update_users_batch(plan.users)
        if plan.companies:
            self._client.update_companies_batch(plan.companies)
        if plan.actions:
            self._client.create_actions_batch(plan.actions)
        return SegmentReport.of(plan, "sent")

    def queue(self, payload: SegmentPayload) -> SegmentReport:
        """Hand one payload to the client's background queue; returns at once.

        Delivery happens on the client's worker (`client.flush()` or `client.close()`
        wait for it); failures go to the client's `on_error`, never raise here.
        """
        return _queue(self._client, payload)


class AsyncSegmentDestination:
    """The asyncio twin of `SegmentDestination`, over an `AsyncMoesifClient`.

    destination = AsyncSegmentDestination(client)
    report = await destination.send({"batch": [...]})
    """

    def __init__(self, client: AsyncMoesifClient) -> None:
        self._client = client

    @property
    def client(self) -> AsyncMoesifClient:
        """The client the updates go through."""
        return self._client

    async def send(self, payload: SegmentPayload) -> SegmentReport:
        """Deliver one payload and report what was sent and skipped.

        Behaves as `SegmentDestination.send`, awaiting each batch call in turn.
        """
        plan = plan_delivery(payload)
        if plan.users:
            await self._client.update_users_batch(plan.users)
        if plan.companies:
            await self._client.update_companies_batch(plan.companies)
        if plan.actions:
            await self._client.create_actions_batch(plan.actions)
        return SegmentReport.of(plan, "sent")

    def queue(self, payload: SegmentPayload) -> SegmentReport:
        """Hand one payload to the client's background queue; returns at once.

        Like the client's `queue_*` methods, it must be called with an event loop running.
        """
        return _queue(self._client, payload)


def _queue(client: MoesifClient | AsyncMoesifClient, payload: SegmentPayload) -> SegmentReport:
    return queue_plan(client, plan_delivery(payload))


def queue_plan(client: MoesifClient | AsyncMoesifClient, plan: DeliveryPlan) -> SegmentReport:
    """Hand `plan`'s updates to `client`'s background queue (what `queue` does once it
    has planned); the relay plans first, to refuse a payload with nothing valid in it."""
    # The queue_* methods are plain calls on both clients, so one body serves both.
    accepted = 0
    if plan.users:
        accepted += client.queue_users(plan.users)
    if plan.companies:
        accepted += client.queue_companies(plan.companies)
    if plan.actions:
        accepted += client.queue_actions(plan.actions)
    planned = len(plan.users) + len(plan.companies) + len(plan.actions)
    return SegmentReport.of(plan, "queued", planned - accepted)
