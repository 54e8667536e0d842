"""The first pass of `moesif send`: every record decoded, its kind settled, and validated.

Nothing is sent until this pass is over, so a bad record found at the end of a file
stops the run before the first request rather than half-way through. A large NDJSON
file is checked in parts side by side, one per core (up to four), the others in forked
processes; what the pass finds, and the order records are spooled in, is the same.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .._constants import MAX_EVENT_BYTES
from .._wire import encode_input, encode_inputs, encode_item
from .._wording import counted
from ..exceptions import ValidationError
from ..models import ActionModel, EventModel, _to_utc_millis
from ._kinds import KINDS, RecordKind, detect_kind
from ._parallel import ChildFailed, Forked, can_fork
from ._records import (
    Decoded,
    InputFile,
    Location,
    RawRecord,
    ndjson_cuts,
    read_decoded,
    read_ndjson_part,
)
from ._spool import Spool

__all__ = [
    "MAX_EVENT_AGE",
    "CheckedInputs",
    "KindUnclearError",
    "Problem",
    "StaleEvents",
    "check_inputs",
    "check_sendable",
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
        self.note_stale(where, when)

    def note_stale(self, where: object, when: datetime | None) -> None:
        """Count an event known to be stale; `where` may be None once three are shown,
        and `when` None where the caller keeps the oldest itself (`note_oldest`)."""
        self.count += 1
        if len(self.examples) < 3:
            self.examples.append(str(where))
        if when is not None:
            self.note_oldest(when)

    def note_oldest(self, when: datetime) -> None:
        """Keep `when` as the oldest time if it is older than any so far."""
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


# The kinds of record the Collector API takes at most `MAX_EVENT_BYTES` of, one by one.
_ONE_ITEM_LIMITED: Mapping[type, str] = {EventModel: "event", ActionModel: "action"}


def check_sendable(model: Any, max_item_bytes: int) -> bytes:
    """`model` encoded as it goes out in a batch; `ValidationError` if it cannot: a value
    JSON cannot carry, or more bytes than a request may hold. The client would find the
    same, but only once earlier chunks had been sent."""
    encoded = encode_item(model)
    problem = _size_problem(type(model), len(encoded), max_item_bytes)
    if problem is not None:
        raise ValidationError(problem)
    return encoded


def _size_problem(cls: type, size: int, max_item_bytes: int) -> str | None:
    """Why a `cls` encoded in `size` bytes cannot go in a batch; None if it can."""
    kind = _ONE_ITEM_LIMITED.get(cls)
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


# Valid records are encoded this many at a time (`encode_inputs`, which validates the
# decoded dicts by the models' own rules without building the models).
_ENCODE_CHUNK = 64

# A record waiting to be encoded: its position in the run, its line and array index
# (its `Location` is made only if there is something to say about it), its data.
_Waiting = tuple[tuple[int, int], int, "int | None", Mapping[str, object]]


class _Encoding:
    """Records of one kind waiting to be validated and encoded, then counted, kept and
    checked for age in the order they came; `flush` before reading the result.

    Each record is the dict `json` decoded, already in the wire format the models read
    (the same keys, null for unset): `encode_inputs` checks a chunk of them against the
    model's fields and writes the bytes the model would, raising the errors the model
    would. When a chunk has a bad record, its records are encoded one by one
    (`encode_input`), which names each culprit as the model path does.
    """

    def __init__(
        self, result: CheckedInputs, max_item_bytes: int, now: datetime, keep: Keep | None
    ) -> None:
        self._result = result
        self.max_item_bytes = max_item_bytes
        self.now = now
        self._oldest_fresh = now - MAX_EVENT_AGE  # an event from before this is stale
        # The same instant as the API writes times, rounded up to the millisecond (an
        # event's time is a whole millisecond): an event whose time is written that
        # way is fresh if and only if its text is not less than this.
        fresh_from = self._oldest_fresh.astimezone(timezone.utc)
        if fresh_from.microsecond % 1000:
            fresh_from += timedelta(microseconds=1000 - fresh_from.microsecond % 1000)
        self._fresh_from = fresh_from.strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{fresh_from.microsecond // 1000:03d}Z"
        )
        self._keep = keep
        self._cls: type | None = None
        self._source = ""
        self._waiting: list[_Waiting] = []
        self._oldest_text: str | None = None  # of the stale events `_stale_text` saw

    def add(
        self,
        kind: RecordKind,
        source: str,
        position: tuple[int, int],
        line: int,
        index: int | None,
        data: object,
    ) -> None:
        if data.__class__ is not dict and not isinstance(data, Mapping):
            message = f"must be a JSON object, got {_json_type(data)}"
            self._problem(position, line, index, message, source)
            return
        if kind.model is not self._cls or source != self._source:
            self.flush()
            self._cls = kind.model
            self._source = source
        waiting = self._waiting
        waiting.append((position, line, index, data))
        if len(waiting) >= _ENCODE_CHUNK:
            self.flush()

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        cls = self._cls
        if not waiting or cls is None:
            return
        try:
            array, sizes = encode_inputs(cls, [data for _, _, _, data in waiting])
        except (ValidationError, TypeError):
            # TypeError: a model validator meeting a JSON type it did not expect.
            # One of them is invalid: each on its own, to name the culprits.
            for position, line, index, data in waiting:
                try:
                    encoded = encode_input(cls, data)
                except (ValidationError, TypeError) as error:
                    self._problem(position, line, index, str(error))
                    continue
                self._checked(cls, position, line, index, data, encoded)
            return
        start = 1  # item i follows the "[" and the items and commas before it
        checked = self._checked
        keep = self._keep
        fit = self._fit(cls)
        ages = cls is EventModel
        fresh_from = self._fresh_from
        stale_text = self._stale_text
        valid = 0
        for waited, size in zip(waiting, sizes, strict=True):
            end = start + size
            if size > fit or not ages:
                checked(cls, *waited, array[start:end])
            else:  # the common case, written out: a valid event that fits
                valid += 1
                if keep is not None:
                    keep(waited[0], array[start:end])
                # The API's own form ("2024-05-01T12:00:00.123Z"), already validated,
                # orders as text as its time does; any other form is converted.
                value = waited[3]["request"]["time"]  # type: ignore[index]
                if (
                    value.__class__ is str
                    and len(value) == 24
                    and value[10] == "T"
                    and value[19] == "."
                    and value[23] == "Z"
                ):
                    if value < fresh_from:
                        stale_text(value, waited[1], waited[2])
                else:
                    self._note_age(*waited)
            start = end + 1
        result = self._result
        result.valid += valid
        if self._oldest_text is not None:
            result.stale.note_oldest(_request_time({"request": {"time": self._oldest_text}}))
            self._oldest_text = None

    def _stale_text(self, value: str, line: int, index: int | None) -> None:
        """Count a stale event whose time is `value`, in the API's own form."""
        stale = self._result.stale
        where = Location(self._source, line, index) if len(stale.examples) < 3 else None
        stale.note_stale(where, None)  # the oldest text is converted once, at the flush
        if self._oldest_text is None or value < self._oldest_text:
            self._oldest_text = value

    def _fit(self, cls: type) -> int:
        """The most bytes a `cls` may encode to (`_size_problem` refuses more)."""
        fit = self.max_item_bytes - 2
        return min(fit, MAX_EVENT_BYTES) if cls in _ONE_ITEM_LIMITED else fit

    def _checked(
        self,
        cls: type,
        position: tuple[int, int],
        line: int,
        index: int | None,
        data: Any,
        encoded: bytes,
    ) -> None:
        problem = _size_problem(cls, len(encoded), self.max_item_bytes)
        if problem is not None:
            self._problem(position, line, index, problem)
            return
        self._result.valid += 1
        if self._keep is not None:
            self._keep(position, encoded)
        if cls is EventModel:
            self._note_age(position, line, index, data)

    def _note_age(
        self, position: tuple[int, int], line: int, index: int | None, event: Any
    ) -> None:
        """Count the valid event `event` (its wire dict) if it is stale."""
        when = _request_time(event)
        if when < self._oldest_fresh:
            stale = self._result.stale
            where = Location(self._source, line, index) if len(stale.examples) < 3 else None
            stale.note_stale(where, when)

    def _problem(
        self,
        position: tuple[int, int],
        line: int,
        index: int | None,
        message: str,
        source: str | None = None,
    ) -> None:
        where = Location(self._source if source is None else source, line, index)
        self._result.problems.append(Problem(where, message, position))


def _request_time(event: Any) -> datetime:
    """The request time of `event`, a valid event's wire dict, as its model holds it."""
    value = event["request"]["time"]
    # The API's own form ("2024-05-01T12:00:00.123Z") is the common case, which
    # `fromisoformat` reads (from Python 3.11) as the model's converter does.
    if value.__class__ is str and len(value) == 24 and value[19] == "." and value[23] == "Z":
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if when.tzinfo is timezone.utc:
                return when
    converted: datetime = _to_utc_millis(value)
    return converted


def check_inputs(
    inputs: Sequence[InputFile],
    forced: RecordKind | None,
    *,
    max_item_bytes: int,
    now: datetime | None = None,
    keep: Keep | None = None,
    spool: Spool | None = None,
) -> CheckedInputs:
    """Read every record once: decode, settle the kind (unless `forced`), validate,
    encode; each valid record's bytes go to `keep` with its position in the run, or to
    `spool`.

    Raises `KindUnclearError` when records look like more than one kind, or like none.
    When the kind is not forced, records are kept as they are checked, each as the kind
    it looks like; the caller sends them only if this returns, when all are one kind.

    With a `spool`, a large NDJSON input is cut into parts checked side by side, one in
    this process and each other in a forked child (see `_check_in_parts`); what this
    returns, and what the spool holds, is the same as from one pass.
    """
    now = now or datetime.now(timezone.utc)
    checking = _Pass(forced, max_item_bytes, now, spool.add if spool is not None else keep)
    for source_number, source in enumerate(inputs):
        cuts = _parallel_cuts(source) if spool is not None else None
        if cuts is None or spool is None:
            checking.read(source_number, source.display_name, read_decoded(source))
        else:
            _check_in_parts(checking, source_number, source, cuts, spool)
    return checking.finish()


class _Pass:
    """The first pass's state: the result so far, the kinds seen, the records waiting
    for the kind to be settled, and the records waiting to be encoded."""

    def __init__(
        self, forced: RecordKind | None, max_item_bytes: int, now: datetime, keep: Keep | None
    ) -> None:
        self.forced = forced
        self.result = CheckedInputs(kind=forced)
        self.first_seen: dict[str, Location] = {}
        # Records no rule recognises are invalid as any kind; they wait here until the
        # kind is known, so that their message can name what is missing for that kind.
        self.unrecognised: list[tuple[tuple[int, int], RawRecord]] = []
        self.encoding = _Encoding(self.result, max_item_bytes, now, keep)

    def read(
        self, source_number: int, name: str, decoded: Iterable[Decoded], first_record: int = 0
    ) -> int:
        """Check the records `decoded` from input `source_number`, numbered from
        `first_record`; how many there were."""
        forced = self.forced
        first_seen = self.first_seen
        unrecognised = self.unrecognised
        problems = self.result.problems
        add = self.encoding.add
        record_number = first_record - 1
        for record_number, (line, index, data, problem) in enumerate(decoded, first_record):
            position = (source_number, record_number)
            if problem is not None:
                problems.append(Problem(Location(name, line, index), problem, position))
                continue
            kind = forced
            if kind is None:
                detected = detect_kind(data)
                if detected is None:
                    record = RawRecord(Location(name, line, index), data)
                    unrecognised.append((position, record))
                    continue
                if detected not in first_seen:
                    first_seen[detected] = Location(name, line, index)
                kind = KINDS[detected]
            add(kind, name, position, line, index, data)
        return record_number + 1 - first_record

    def finish(self) -> CheckedInputs:
        """Settle the kind, check the records that waited for it, and say what was found."""
        result = self.result
        encoding = self.encoding
        encoding.flush()
        if self.forced is None:
            result.kind = _settle_kind(self.first_seen, [record for _, record in self.unrecognised])
        if result.kind is not None:
            for position, record in self.unrecognised:
                where = record.location
                encoding.add(
                    result.kind, where.source, position, where.line, where.index, record.data
                )
            encoding.flush()
        result.problems.sort(key=lambda problem: problem.position)
        return result


# --- checking the parts of one large NDJSON input side by side ---

# An NDJSON input of at least this many bytes is checked in parts, side by side in
# forked processes: below it, the fork and the merge cost more than they save. The
# environment variables are internal (for the tests: small files, a set number of parts).
_PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_PARALLEL_MIN_BYTES_ENV = "MOESIF_CLI_PARALLEL_MIN_BYTES"
_PARALLEL_PARTS_ENV = "MOESIF_CLI_PARALLEL_PARTS"
_MAX_PARTS = 4


def _parallel_cuts(source: InputFile) -> list[int] | None:
    """Where to cut `source` to check its parts side by side; None to check it whole."""
    if source.is_stdin or not can_fork():
        return None
    parts_setting = os.environ.get(_PARALLEL_PARTS_ENV, "")
    if parts_setting.isdigit():
        parts = int(parts_setting)
    else:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            cpus = os.cpu_count() or 1
        parts = min(cpus, _MAX_PARTS)
    if parts < 2:
        return None
    min_bytes_setting = os.environ.get(_PARALLEL_MIN_BYTES_ENV, "")
    min_bytes = int(min_bytes_setting) if min_bytes_setting.isdigit() else _PARALLEL_MIN_BYTES
    return ndjson_cuts(source, parts, min_bytes)


class _LocatedStale(StaleEvents):
    """`StaleEvents` keeping the first few locations themselves, for a part checked in
    a child, whose line numbers the parent shifts once it knows where the part starts."""

    def __init__(self) -> None:
        super().__init__()
        self.located: list[Location] = []

    def note_stale(self, where: object, when: datetime | None) -> None:
        if len(self.located) < 3 and isinstance(where, Location):
            self.located.append(where)
        super().note_stale(where, when)


@dataclass
class _PartReport:
    """What a child found in its part, line and record numbers counted from the part's
    start (its first line is line 1, its first record record 0)."""

    records: int
    lines: int
    valid: int
    problems: list[Problem]
    stale_count: int
    stale_located: list[Location]
    oldest: datetime | None
    first_seen: dict[str, Location]
    unrecognised: list[tuple[tuple[int, int], RawRecord]]
    kept: int
    last_kept: tuple[int, int] | None


def _check_part(
    checking: _Pass,
    source_number: int,
    source: InputFile,
    start: int,
    end: int,
    part_spool: Spool,
    now: datetime,
) -> _PartReport:
    """In a child: check bytes `start` to `end` of `source` into `part_spool`."""
    encoding = checking.encoding
    part = _Pass(checking.forced, encoding.max_item_bytes, now, part_spool.add)
    stale = part.result.stale = _LocatedStale()
    lines: list[int] = []
    records = part.read(
        source_number, source.display_name, read_ndjson_part(source, start, end, 0, lines)
    )
    part.encoding.flush()
    if not part_spool.in_order:  # cannot be: the part's records are read in order
        raise RuntimeError("a part's records were spooled out of order")
    part_spool.flush()
    result = part.result
    return _PartReport(
        records=records,
        lines=lines[0],
        valid=result.valid,
        problems=result.problems,
        stale_count=stale.count,
        stale_located=stale.located,
        oldest=stale.oldest,
        first_seen=part.first_seen,
        unrecognised=part.unrecognised,
        kept=part_spool.count,
        last_kept=part_spool.last,
    )


def _check_in_parts(
    checking: _Pass, source_number: int, source: InputFile, cuts: list[int], spool: Spool
) -> None:
    """Check `source` cut at `cuts`: the first part here, each other in a forked child
    into a spool of its own, merged in order as if read in one pass. A part whose child
    fails, or could not be started, is checked here instead (raising what one pass
    would, if anything)."""
    now = checking.encoding.now
    name = source.display_name
    ranges = list(itertools.pairwise(cuts))
    children: list[tuple[Forked[_PartReport], Spool] | None] = []
    try:
        for start, end in ranges[1:]:
            part_spool = Spool()
            work = functools.partial(
                _check_part, checking, source_number, source, start, end, part_spool, now
            )
            forked = Forked(work)
            children.append((forked, part_spool))  # stopped below even if `start` raises
            try:
                forked.start()
            except OSError:  # no more processes: this one checks the part
                part_spool.close()
                children[-1] = None
        records = 0
        line_offset = 0
        for (start, end), child in zip(ranges, [None, *children], strict=True):
            if child is not None:
                forked, part_spool = child
                try:
                    report = forked.result()
                except ChildFailed:
                    pass
                else:
                    _merge_part(checking, report, source_number, records, line_offset)
                    spool.adopt(part_spool, records, report.kept, report.last_kept)
                    records += report.records
                    line_offset += report.lines
                    continue
            lines: list[int] = []
            part = read_ndjson_part(source, start, end, line_offset, lines)
            records += checking.read(source_number, name, part, records)
            line_offset = lines[0]
            checking.encoding.flush()  # what this part left waiting goes before the next's
    finally:
        for child in children:
            if child is not None:
                child[0].stop()
                child[1].close()


def _merge_part(
    checking: _Pass, report: _PartReport, source_number: int, record_offset: int, line_offset: int
) -> None:
    """Add what a child found in its part to `checking`, its numbers shifted to the run's."""

    def shifted(where: Location) -> Location:
        return Location(where.source, where.line + line_offset, where.index)

    def moved(position: tuple[int, int]) -> tuple[int, int]:
        return (position[0], position[1] + record_offset)

    result = checking.result
    result.valid += report.valid
    result.problems.extend(
        Problem(shifted(problem.location), problem.message, moved(problem.position))
        for problem in report.problems
    )
    stale = result.stale
    for where in report.stale_located:
        if len(stale.examples) < 3:
            stale.examples.append(str(shifted(where)))
    stale.count += report.stale_count
    if report.oldest is not None:
        stale.note_oldest(report.oldest)
    for kind, where in report.first_seen.items():
        if kind not in checking.first_seen:
            checking.first_seen[kind] = shifted(where)
    checking.unrecognised.extend(
        (moved(position), RawRecord(shifted(record.location), record.data))
        for position, record in report.unrecognised
    )


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
