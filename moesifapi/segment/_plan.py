"""From a Segment payload (one message or a batch) to the Moesif updates it stands for, by kind.

Pure, like `dispatch`: the plan says what a destination sends and skips; destinations send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias, TypeGuard

import attrs

from .._wire import encode_item
from ..exceptions import ValidationError
from ..models import ActionModel, CompanyModel, UserModel
from ._dispatch import MoesifUpdate, Skipped, SkipReason, dispatch
from ._fields import identifier, mapping, text

__all__ = ["DeliveryPlan", "SegmentPayload", "messages_in", "plan_delivery"]

SegmentPayload: TypeAlias = Mapping[str, object] | Sequence[Mapping[str, object]]
"""What a Segment destination is handed: one message (``{"type": "track", ...}``), a
batch as Segment's tracking API takes it (``{"batch": [...]}``), or a list of messages
(what Segment's Webhooks (Actions) destination posts when batching is on)."""

# Segment's batch endpoint applies these two objects of the batch to every call in it.
_BATCH_WIDE_KEYS = ("context", "integrations")


@attrs.frozen(kw_only=True)
class DeliveryPlan:
    """What one Segment payload comes to: the Moesif updates to send, by kind, and the skips.

    Each kind keeps the order of the messages it came from. `messages` counts every
    message in the payload, whether it produced updates or was skipped.
    """

    messages: int
    users: tuple[UserModel, ...] = ()
    companies: tuple[CompanyModel, ...] = ()
    actions: tuple[ActionModel, ...] = ()
    skipped: tuple[Skipped, ...] = ()


def plan_delivery(payload: SegmentPayload) -> DeliveryPlan:
    """Route every message of `payload` through `dispatch` and sort the updates by kind.

    A message `dispatch` skips is kept in `skipped` with its reason. A message it
    rejects (`ValidationError`, e.g. an unreadable timestamp), or whose updates could
    not be encoded, and a batch item that is not an object, are skipped too, with
    `SkipReason.INVALID_MESSAGE` and the error as `detail` (its path as in the
    message: ``traits.address``, not the model's ``metadata.address``) and the path
    in the payload as `field`: one bad message never holds back the others. Only a
    payload that is neither a message nor a batch raises `ValidationError` (see
    `messages_in`).

    >>> plan = plan_delivery({"batch": [
    ...     {"type": "identify", "userId": "u1", "traits": {"plan": "free"}},
    ...     {"type": "page", "userId": "u1", "name": "Pricing"},
    ... ]})
    >>> [user.user_id for user in plan.users], [s.reason.value for s in plan.skipped]
    (['u1'], ['unsupported_type'])
    """
    users: list[UserModel] = []
    companies: list[CompanyModel] = []
    actions: list[ActionModel] = []
    skipped: list[Skipped] = []
    messages = messages_in(payload)
    items_at = _items_path(payload)
    for index, message in enumerate(messages):
        routed = _route(index, message, None if items_at is None else f"{items_at}[{index}]")
        if isinstance(routed, Skipped):
            skipped.append(routed)
            continue
        for update in routed:
            if isinstance(update, UserModel):
                users.append(update)
            elif isinstance(update, CompanyModel):
                companies.append(update)
            else:
                actions.append(update)
    return DeliveryPlan(
        messages=len(messages),
        users=tuple(users),
        companies=tuple(companies),
        actions=tuple(actions),
        skipped=tuple(skipped),
    )


def messages_in(payload: SegmentPayload) -> list[object]:
    """The messages of a payload, in order, each as it should be routed.

    - an object with a ``"batch"`` list is a batch; its ``context`` and
      ``integrations`` objects, when present, apply to every message in it, as on
      Segment's batch endpoint (a message's own keys win);
    - an object with a ``"type"`` is one message;
    - a list is a batch of messages.

    Anything else raises `ValidationError`. Batch items are returned as they are, even
    those that are not objects: `plan_delivery` reports each of those on its own.
    """
    if isinstance(payload, Mapping):
        if "batch" in payload:
            batch = payload["batch"]
            if not _is_list(batch):
                raise ValidationError(
                    f"must be a list of Segment messages, got {type(batch).__name__}",
                    field="batch",
                )
            return [_with_batch_wide_objects(message, payload) for message in batch]
        if "type" in payload:
            return [payload]
        raise ValidationError(
            'expected a Segment message (an object with a "type") or a batch '
            '(an object with a "batch" list)'
        )
    if _is_list(payload):
        return list(payload)
    raise ValidationError(
        f"expected a Segment message or batch (a JSON object or list), got {type(payload).__name__}"
    )


def _is_list(value: object) -> TypeGuard[list[object] | tuple[object, ...]]:
    return isinstance(value, (list, tuple))


def _with_batch_wide_objects(message: object, batch: Mapping[str, object]) -> object:
    if not isinstance(message, Mapping):
        return message
    merged: dict[str, object] | None = None
    for key in _BATCH_WIDE_KEYS:
        shared = mapping(batch.get(key))
        if shared:
            merged = merged if merged is not None else dict(message)
            merged[key] = {**shared, **(mapping(message.get(key)) or {})}
    return message if merged is None else merged


def _items_path(payload: SegmentPayload) -> str | None:
    """The path of the payload's list of messages: ``"batch"``, ``""`` for a bare list,
    None for a single message."""
    if isinstance(payload, Mapping):
        return "batch" if "batch" in payload else None
    return ""


def _route(index: int, message: object, at: str | None) -> list[MoesifUpdate] | Skipped:
    if not isinstance(message, Mapping):
        return Skipped(
            reason=SkipReason.INVALID_MESSAGE,
            detail=f"batch item {index} is not a JSON object (got {type(message).__name__})",
            field=at,
        )
    message_type = text(message.get("type"))
    update: MoesifUpdate | None = None
    try:
        routed = dispatch(message)
        if not isinstance(routed, Skipped):
            # Encoding now, not when the client sends, keeps a message whose metadata
            # JSON cannot carry (a set, NaN) from failing a whole batch call later.
            for update in routed:
                encode_item(update)
    except ValidationError as error:
        error = _in_message_terms(error, message_type, update)
        field = error.field
        if at:
            field = error.under(at).field
        return Skipped(
            reason=SkipReason.INVALID_MESSAGE,
            detail=str(error),
            message_type=message_type,
            message_id=identifier(message.get("messageId")),
            field=field,
        )
    return routed


def _in_message_terms(
    error: ValidationError, message_type: str | None, update: MoesifUpdate | None
) -> ValidationError:
    """`error` with a model's ``metadata`` path put back where the message held it.

    `update` is the model whose encoding failed (None: the failure was in building
    them, whose paths already name message fields such as ``timestamp``).
    """
    field = error.field or ""
    head, dot, rest = field.partition(".")
    if update is None or head != "metadata":
        return error
    if isinstance(update, ActionModel):
        source = "properties"
    elif isinstance(update, CompanyModel) and message_type == "identify":
        source = "traits.company"
    else:
        source = "traits"
    moved = ValidationError(error.reason, field=source + dot + rest)
    moved.__cause__ = error.__cause__
    return moved
