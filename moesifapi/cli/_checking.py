"""The first pass of `moesif send`: every record decoded, its kind settled, and validated.

Nothing is sent until this pass is over, so a bad record found at the end of a file
stops the run before the first request rather than half-way through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .._constants import MAX_EVENT_BYTES
from .._wire import encode_item, encode_many, from_dict
from .._wording import counted
from ..exceptions import ValidationError
from ..models import ActionModel, EventModel
from ._kinds import KINDS, RecordKind, detect_kind
from ._records import InputFile, Location, RawRecord, read_records

__all__ = [
    "MAX_EVENT_AGE",
    "CheckedInputs",
    "KindUnclearError",
    "Problem",
    "StaleEvents",
    "check_inputs",
    "check_sendable",
    "validate",
]

# The live Collector API drops events whose request time is further back than this.
MAX_EVENT_AGE = timedelta(days=30)

# Told each valid record's position in the run (input number, record number) and the
# bytes it is sent as: a model's `transaction_id` given at validation is in them.
Keep = Callable[[tuple[int, int], bytes], None]


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

    def note(self, where: object, when: datetime, now: datetime) -> None:
        """Count the event at `where` (told as `str(where)`, only if it is shown)."""
        if now - when <= MAX_EVENT_AGE:
            return
        self.count += 1
        if len(self.examples) < 3:
            self.examples.append(str(where))
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
    if data.__class__ is not dict and not isinstance(data, Mapping):
        raise ValidationError(f"must be a JSON object, got {_json_type(data)}")
    return from_dict(kind.model, data)


# The kinds of record the Collector API takes at most `MAX_EVENT_BYTES` of, one by one.
_ONE_ITEM_LIMITED: Mapping[type, str] = {EventModel: "event", ActionModel: "action"}


def check_sendable(model: Any, max_item_bytes: int) -> bytes:
    """`model` encoded as it goes out in a batch; `ValidationError` if it cannot: a value
    JSON cannot carry, or more bytes than a request may hold. The client would find the
    same, but only once earlier chunks had been sent."""
    encoded = encode_item(model)
    problem = _size_problem(model, len(encoded), max_item_bytes)
    if problem is not None:
        raise ValidationError(problem)
    return encoded


def _size_problem(model: Any, size: int, max_item_bytes: int) -> str | None:
    """Why `model`, encoded in `size` bytes, cannot go in a batch; None if it can."""
    kind = _ONE_ITEM_LIMITED.get(type(model))
    if kind is not None and size > MAX_EVENT_BYTES:
        return (
            f"encodes to {size} bytes, over the Collector API's {MAX_EVENT_BYTES}-byte"
            f" limit for one {kind}"
        )
    if size + 2 > max_item_bytes:  # the brackets of the batch array
        return (
            f"encodes to {size} bytes, over the {max_item_bytes}-byte batch limit"
            " (see --max-batch-bytes)"
        )
    return None


# Valid models are encoded this many at a time (`encode_many`: about a third less time
# per item than one `encode_item` call each).
_ENCODE_CHUNK = 64


class _Encoding:
    """Valid models waiting to be encoded, then counted, kept and checked for age in
    the order they came; `flush` before reading the result."""

    def __init__(
        self, result: CheckedInputs, max_item_bytes: int, now: datetime, keep: Keep | None
    ) -> None:
        self._result = result
        self._max_item_bytes = max_item_bytes
        self._now = now
        self._keep = keep
        self._waiting: list[tuple[tuple[int, int], Location, Any]] = []

    def add(self, position: tuple[int, int], location: Location, model: Any) -> None:
        self._waiting.append((position, location, model))
        if len(self._waiting) >= _ENCODE_CHUNK:
            self.flush()

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        try:
            array, sizes = encode_many([model for _, _, model in waiting])
        except (ValidationError, TypeError):
            # One of them cannot be encoded: each on its own, to name the culprits.
            for position, location, model in waiting:
                try:
                    encoded = check_sendable(model, self._max_item_bytes)
                except (ValidationError, TypeError) as error:
                    self._result.problems.append(Problem(location, str(error), position))
                else:
                    self._accept(position, location, model, encoded)
            return
        start = 1  # item i follows the "[" and the items and commas before it
        for (position, location, model), size in zip(waiting, sizes, strict=True):
            problem = _size_problem(model, size, self._max_item_bytes)
            if problem is None:
                self._accept(position, location, model, array[start : start + size])
            else:
                self._result.problems.append(Problem(location, problem, position))
            start += size + 1

    def _accept(
        self, position: tuple[int, int], location: Location, model: Any, encoded: bytes
    ) -> None:
        self._result.valid += 1
        if self._keep is not None:
            self._keep(position, encoded)
        if isinstance(model, EventModel):
            self._result.stale.note(location, model.request.time, self._now)


def check_inputs(
    inputs: Sequence[InputFile],
    forced: RecordKind | None,
    *,
    max_item_bytes: int,
    now: datetime | None = None,
    keep: Keep | None = None,
) -> CheckedInputs:
    """Read every record once: decode, settle the kind (unless `forced`), validate,
    encode; each valid record's bytes go to `keep` with its position in the run.

    Raises `KindUnclearError` when records look like more than one kind, or like none.
    When the kind is not forced, records are kept as they are checked, each as the kind
    it looks like; the caller sends them only if this returns, when all are one kind.
    """
    now = now or datetime.now(timezone.utc)
    result = CheckedInputs(kind=forced)
    first_seen: dict[str, Location] = {}
    # Records no rule recognises are invalid as any kind; they wait here until the kind
    # is known, so that their message can name what is missing for that kind.
    unrecognised: list[tuple[tuple[int, int], RawRecord]] = []
    encoding = _Encoding(result, max_item_bytes, now, keep)
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
            _check_one(kind, record, position, result, encoding)
    encoding.flush()
    if forced is None:
        result.kind = _settle_kind(first_seen, [record for _, record in unrecognised])
    if result.kind is not None:
        for position, record in unrecognised:
            _check_one(result.kind, record, position, result, encoding)
        encoding.flush()
    result.problems.sort(key=lambda problem: problem.position)
    return result


def _check_one(
    kind: RecordKind,
    record: RawRecord,
    position: tuple[int, int],
    result: CheckedInputs,
    encoding: _Encoding,
) -> None:
    try:
        model = validate(kind, record.data)
    except (ValidationError, TypeError) as error:
        # TypeError: a model validator meeting a JSON type it did not expect.
        result.problems.append(Problem(record.location, str(error), position))
        return
    encoding.add(position, record.location, model)


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
