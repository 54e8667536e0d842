"""The first pass of `moesif send`: every record decoded, its kind settled, and validated.

Nothing is sent until this pass is over, so a bad record found at the end of a file
stops the run before the first request rather than half-way through.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .._constants import MAX_EVENT_BYTES
from .._wire import from_dict, to_json
from .._wording import counted
from ..exceptions import ValidationError
from ..models import ActionModel, EventModel
from ._kinds import KINDS, RecordKind, detect_kind
from ._records import InputError, InputFile, Location, RawRecord, read_records

__all__ = [
    "MAX_EVENT_AGE",
    "CheckedInputs",
    "KindUnclearError",
    "Problem",
    "StaleEvents",
    "check_inputs",
    "check_sendable",
    "valid_models",
    "validate",
]

# The live Collector API drops events whose request time is further back than this.
MAX_EVENT_AGE = timedelta(days=30)


class KindUnclearError(Exception):
    """The records do not say which kind they are; the user has to pass ``--type``."""


@dataclass(frozen=True)
class Problem:
    """One record that will not be sent, and why.

    `position` is (input number, record number) counting from 0, the record's place
    in the run, by which the second pass knows to leave it out.
    """

    location: Location
    message: str
    position: tuple[int, int] = (0, 0)

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class StaleEvents:
    """Events older than `MAX_EVENT_AGE`: how many, and where the first few are."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    oldest: datetime | None = None

    def note(self, where: str, when: datetime, now: datetime) -> None:
        if now - when <= MAX_EVENT_AGE:
            return
        self.count += 1
        if len(self.examples) < 3:
            self.examples.append(where)
        if self.oldest is None or when < self.oldest:
            self.oldest = when

    def warning(self, total: int) -> str | None:
        """The one-line warning for stderr, or None when every event is recent enough."""
        if not self.count or self.oldest is None:
            return None
        more = ", ..." if self.count > len(self.examples) else ""
        return (
            f"warning: {self.count} of {counted(total, 'event')}"
            f" {'is' if self.count == 1 else 'are'} older than"
            f" {MAX_EVENT_AGE.days} days ({', '.join(self.examples)}{more}; oldest"
            f" {self.oldest:%Y-%m-%d}); the live Moesif API rejects events that old"
        )


@dataclass
class CheckedInputs:
    """What the first pass found: the kind to send, how many records will go, and why
    the others will not."""

    kind: RecordKind | None
    valid: int = 0
    problems: list[Problem] = field(default_factory=list)
    stale: StaleEvents = field(default_factory=StaleEvents)

    @property
    def rejected(self) -> frozenset[tuple[int, int]]:
        """The positions of every record that will not be sent."""
        return frozenset(problem.position for problem in self.problems)


def validate(kind: RecordKind, data: object) -> Any:
    """`data` as a `kind` model; raises `ValidationError` naming the field."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"must be a JSON object, got {_json_type(data)}")
    return from_dict(kind.model, data)


def check_sendable(model: Any, max_item_bytes: int) -> None:
    """Raise `ValidationError` if `model` cannot go out in a batch: a value JSON cannot
    carry, or more bytes than a request may hold. The client would find the same, but
    only once earlier chunks had been sent."""
    size = len(to_json(model))
    kind = {EventModel: "event", ActionModel: "action"}.get(type(model))
    if kind is not None and size > MAX_EVENT_BYTES:
        raise ValidationError(
            f"encodes to {size} bytes, over the Collector API's {MAX_EVENT_BYTES}-byte"
            f" limit for one {kind}"
        )
    if size + 2 > max_item_bytes:  # the brackets of the batch array
        raise ValidationError(
            f"encodes to {size} bytes, over the {max_item_bytes}-byte batch limit"
            " (see --max-batch-bytes)"
        )


def check_inputs(
    inputs: Sequence[InputFile],
    forced: RecordKind | None,
    *,
    max_item_bytes: int,
    now: datetime | None = None,
) -> CheckedInputs:
    """Read every record once: decode, settle the kind (unless `forced`), validate.

    Raises `KindUnclearError` when records look like more than one kind, or like none.
    """
    now = now or datetime.now(timezone.utc)
    result = CheckedInputs(kind=forced)
    first_seen: dict[str, Location] = {}
    # Records no rule recognises are invalid as any kind; they wait here until the kind
    # is known, so that their message can name what is missing for that kind.
    unrecognised: list[tuple[tuple[int, int], RawRecord]] = []
    for source_number, source in enumerate(inputs):
        for record_number, record in enumerate(read_records(source)):
            position = (source_number, record_number)
            if record.problem is not None:
                result.problems.append(Problem(record.location, record.problem, position))
                continue
            kind = forced
            if kind is None:
                detected = detect_kind(record.data)
                if detected is None:
                    unrecognised.append((position, record))
                    continue
                first_seen.setdefault(detected, record.location)
                kind = KINDS[detected]
            _check_one(kind, record, position, result, max_item_bytes, now)
    if forced is None:
        result.kind = _settle_kind(first_seen, [record for _, record in unrecognised])
    if result.kind is not None:
        for position, record in unrecognised:
            _check_one(result.kind, record, position, result, max_item_bytes, now)
    result.problems.sort(key=lambda problem: problem.position)
    return result


def _check_one(
    kind: RecordKind,
    record: RawRecord,
    position: tuple[int, int],
    result: CheckedInputs,
    max_item_bytes: int,
    now: datetime,
) -> None:
    try:
        model = validate(kind, record.data)
        check_sendable(model, max_item_bytes)
    except (ValidationError, TypeError) as error:
        # TypeError: a model validator meeting a JSON type it did not expect.
        result.problems.append(Problem(record.location, str(error), position))
        return
    result.valid += 1
    if isinstance(model, EventModel):
        result.stale.note(str(record.location), model.request.time, now)


def _settle_kind(
    first_seen: Mapping[str, Location], unrecognised: list[RawRecord]
) -> RecordKind | None:
    if len(first_seen) > 1:
        looks = ", ".join(f"{where} looks like {name}" for name, where in first_seen.items())
        raise KindUnclearError(f"the records are of more than one kind ({looks}); pass --type")
    if first_seen:
        return KINDS[next(iter(first_seen))]
    if unrecognised:
        raise KindUnclearError(
            f"cannot tell which kind of record {unrecognised[0].location} is; pass --type"
        )
    return None  # nothing decodable at all: there is nothing to send


def valid_models(
    kind: RecordKind, inputs: Sequence[InputFile], rejected: frozenset[tuple[int, int]]
) -> Iterator[Any]:
    """The second pass: every record the first pass accepted, as a model, in order."""
    for source_number, source in enumerate(inputs):
        for record_number, record in enumerate(read_records(source)):
            if (source_number, record_number) in rejected:
                continue
            try:
                yield validate(kind, record.data)
            except (ValidationError, TypeError) as error:
                raise InputError(f"{record.location} changed while being sent: {error}") from error


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else type(value).__name__
