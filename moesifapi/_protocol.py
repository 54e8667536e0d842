"""The clients' pure core: settings, the endpoints, what to send and what an answer means.

Nothing here does I/O. When to send and when to try again is the delivery engine's
(`_engine`); both clients share all of it and differ only in how the bytes move.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import queue
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

import attrs
import httpx

from . import _constants as c
from . import _gzip
from ._limits import refuse_oversized
from ._results import GovernanceRules, Health, WriteResult
from ._version import __version__
from ._wire import encode_input, encode_inputs, from_dict
from .exceptions import (
    MAX_ERROR_BODY_CHARS,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    BatchItemTooLargeError,
    ValidationError,
    exception_for_status,
)
from .models import (
    ActionModel,
    AppConfig,
    CompanyModel,
    EventModel,
    GovernanceRule,
    SubscriptionModel,
    UserModel,
)

M = TypeVar("M", bound=attrs.AttrsInstance)

logger = logging.getLogger("moesifapi")


# --- endpoints ---


@attrs.frozen
class Endpoint(Generic[M]):
    """One Collector endpoint: its path and the model its body carries.

    `ordered` batches hold profile updates, which the server merges in arrival order:
    their sub-batches go one after another, never several at once. `item_limit` is
    the API's own bound on one item's JSON, in bytes, and what the item is called.
    """

    path: str
    model: type[M]
    batch: bool = False
    ordered: bool = False
    item_limit: tuple[int, str] | None = None


# "The maximum size of an event (one API call or custom action) is 1MB" (apidocs).
_ONE_EVENT = (c.MAX_EVENT_BYTES, "event")
_ONE_ACTION = (c.MAX_EVENT_BYTES, "action")
EVENTS = Endpoint("/events", EventModel, item_limit=_ONE_EVENT)
EVENTS_BATCH = Endpoint("/events/batch", EventModel, batch=True, item_limit=_ONE_EVENT)
ACTIONS = Endpoint("/actions", ActionModel, item_limit=_ONE_ACTION)
ACTIONS_BATCH = Endpoint("/actions/batch", ActionModel, batch=True, item_limit=_ONE_ACTION)
USERS = Endpoint("/users", UserModel)
USERS_BATCH = Endpoint("/users/batch", UserModel, batch=True, ordered=True)
COMPANIES = Endpoint("/companies", CompanyModel)
COMPANIES_BATCH = Endpoint("/companies/batch", CompanyModel, batch=True, ordered=True)
SUBSCRIPTIONS = Endpoint("/subscriptions", SubscriptionModel)
SUBSCRIPTIONS_BATCH = Endpoint("/subscriptions/batch", SubscriptionModel, batch=True, ordered=True)
CONFIG_PATH = "/config"
RULES_PATH = "/rules"
# At the host root, not under /v1: https://api.moesif.net/health/probe.
HEALTH_PATH = "/health/probe"


# --- settings ---


def _check_timeout(value: object) -> httpx.Timeout:
    # Every phase bounded: None (no limit) or an infinite value would switch one off.
    if isinstance(value, httpx.Timeout):
        phases = (value.connect, value.read, value.write, value.pool)
        if all(isinstance(p, (int, float)) and math.isfinite(p) and p > 0 for p in phases):
            return value
    elif (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        return httpx.Timeout(float(value))
    raise ValidationError(
        "must be a positive, finite number of seconds or an httpx.Timeout with every "
        f"phase set, got {value!r}",
        field="timeout",
    )


def _check_user_agent_suffix(value: object) -> str | None:
    # It goes into a header as it is: a control character (a CR or LF above all) would
    # break the header apart, and httpx refuses non-ASCII values only when it sends.
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f"must be a non-empty str (or None for no suffix), got {value!r}",
            field="user_agent_suffix",
        )
    if not all(" " <= ch <= "~" for ch in value):
        raise ValidationError(
            f"must be printable ASCII without control characters, got {value!r}",
            field="user_agent_suffix",
        )
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.frozen
class Settings:
    """One client's validated configuration; two clients never share one."""

    application_id: str = attrs.field(repr=False)
    base_url: str
    timeout: httpx.Timeout
    max_retries: int
    gzip: bool
    max_batch_bytes: int
    user_agent_suffix: str | None = None
    gzip_level: int = c.GZIP_LEVEL

    @classmethod
    def resolve(
        cls,
        *,
        application_id: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        gzip: bool,
        max_batch_bytes: int,
        user_agent_suffix: str | None = None,
        gzip_level: int = c.GZIP_LEVEL,
    ) -> Settings:
        """Settings from arguments, falling back to the environment; bad values raise."""
        app_id = (
            application_id if application_id is not None else os.environ.get(c.APPLICATION_ID_ENV)
        )
        if not isinstance(app_id, str) or not app_id.strip():
            raise ValidationError(
                f"is required: pass application_id=... or set {c.APPLICATION_ID_ENV}",
                field="application_id",
            )
        url = base_url if base_url is not None else os.environ.get(c.BASE_URL_ENV)
        url = (url or c.DEFAULT_BASE_URL).rstrip("/")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as error:
            raise ValidationError(f"is not a URL: {error}", field="base_url") from error
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValidationError(
                f"must be an http(s) URL such as {c.DEFAULT_BASE_URL}, got {url!r}",
                field="base_url",
            )
        if parsed.scheme == "http" and not _is_loopback(parsed.host):
            logger.warning(
                "moesifapi: base_url %s is plain http: the application id travels in "
                "clear text; use https",
                url,
            )
        if type(max_retries) is not int or max_retries < 0:
            raise ValidationError(f"must be an int >= 0, got {max_retries!r}", field="max_retries")
        if type(gzip_level) is not int or not 1 <= gzip_level <= 9:
            raise ValidationError(
                f"must be an int from 1 (fastest) to 9 (smallest), got {gzip_level!r}",
                field="gzip_level",
            )
        if type(max_batch_bytes) is not int or max_batch_bytes < 1024:
            raise ValidationError(
                f"must be an int of at least 1024 bytes, got {max_batch_bytes!r}",
                field="max_batch_bytes",
            )
        return cls(
            application_id=app_id.strip(),
            base_url=url,
            timeout=_check_timeout(timeout),
            max_retries=max_retries,
            gzip=bool(gzip),
            max_batch_bytes=max_batch_bytes,
            user_agent_suffix=_check_user_agent_suffix(user_agent_suffix),
            gzip_level=gzip_level,
        )

    @property
    def attempt_timeout(self) -> float:
        """The total time one attempt may take, headers and body included: the
        largest of the timeout's phases (so a plain `timeout=10` is 10 s in all)."""
        t = self.timeout
        return max(p for p in (t.connect, t.read, t.write, t.pool) if p is not None)

    @property
    def masked_application_id(self) -> str:
        """Enough of the id to tell two apps apart in a log, not enough to use it."""
        app_id = self.application_id
        return app_id[:4] + "****" if len(app_id) > 12 else "****"


def user_agent(suffix: str | None = None) -> str:
    """``moesifapi-typed/<version> python/<x.y.z> httpx/<version>``, then `suffix`
    (an integration's own product token) after a space."""
    import platform  # only here, once per client: 1.3 ms off `import moesifapi`

    agent = (
        f"moesifapi-typed/{__version__} "
        f"python/{platform.python_version()} httpx/{httpx.__version__}"
    )
    return f"{agent} {suffix}" if suffix else agent


# --- requests ---


@attrs.frozen
class PlannedRequest:
    """Everything needed to send one request, ready for either I/O loop.

    `path` is the endpoint's, for the log; the headers (with the application id) are
    left out of the repr, which error trackers record from stack frames.
    """

    method: str
    path: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    content: bytes | None = attrs.field(default=None, repr=False)
    # The most of the answer's body read, decompressed; a success past it is an error.
    max_answer_bytes: int = c.MAX_WRITE_ANSWER_BYTES

    @property
    def describe(self) -> str:
        return f"{self.method} {self.path}"


@attrs.frozen
class SubBatch:
    """Items `start` to `end` (exclusive) of a batch, and the request carrying them."""

    start: int
    end: int
    request: PlannedRequest


def split_into_batches(sizes: Sequence[int], max_bytes: int) -> list[tuple[int, int]]:
    """Index ranges whose JSON array (``[a,b,...]``) stays within `max_bytes`, in order.

    Raises `BatchItemTooLargeError` for the first item that cannot fit even alone.

    >>> split_into_batches([4, 4, 4], max_bytes=11)
    [(0, 2), (2, 3)]
    """
    ranges: list[tuple[int, int]] = []
    start = 0
    used = 2  # the brackets
    for index, size in enumerate(sizes):
        if size + 2 > max_bytes:
            raise BatchItemTooLargeError(index, size + 2, max_bytes)
        extra = size if index == start else size + 1  # a comma before all but the first
        if used + extra > max_bytes:
            ranges.append((start, index))
            start, used, extra = index, 2, size
        used += extra
    if start < len(sizes):
        ranges.append((start, len(sizes)))
    return ranges


# `plan_encoded_batch` compresses this many items at a time (about 300 kB of JSON).
_GROUP_ITEMS = 256


# A batch call of more items than this is planned by a `BatchPipeline` (when gzip is on):
# below it the second thread costs more than it saves.
PIPELINE_MIN_ITEMS = 4096
# The pipeline encodes this many items at a time (about 1.2 MB of JSON for a typical
# event); its compressing thread takes whatever has been encoded since it last looked.
_PIPELINE_CHUNK_ITEMS = 1024


def join_batch(encoded: Sequence[bytes]) -> bytes:
    """A JSON array from items already encoded: no item is serialized twice."""
    return b"[" + b",".join(encoded) + b"]"


# --- the core both clients share ---


class Core:
    """Decisions shared by both clients: request building, answers, retries, batches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        base = {
            c.APPLICATION_ID_HEADER: settings.application_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent(settings.user_agent_suffix),
        }
        self._get_headers: Mapping[str, str] = base
        self._post_headers: Mapping[str, str] = (
            {**base, "Content-Encoding": "gzip"} if settings.gzip else base
        )

    def describe(self, class_name: str) -> str:
        s = self.settings
        return (
            f"{class_name}(application_id={s.masked_application_id!r}, "
            f"base_url={s.base_url!r}, max_retries={s.max_retries})"
        )

    # building requests

    def _post(self, path: str, body: bytes | bytearray | memoryview) -> PlannedRequest:
        if self.settings.gzip:
            body = _gzip.compress(body, self.settings.gzip_level)
        elif not isinstance(body, bytes):
            body = bytes(body)
        return PlannedRequest("POST", path, self.settings.base_url + path, self._post_headers, body)

    def get(self, path: str) -> PlannedRequest:
        return PlannedRequest(
            "GET",
            path,
            self.settings.base_url + path,
            self._get_headers,
            max_answer_bytes=c.MAX_READ_ANSWER_BYTES,
        )

    def get_at_root(self, path: str) -> PlannedRequest:
        """A GET of `path` at the base URL's host root, outside the API's ``/v1``.

        >>> settings = Settings.resolve(application_id="app", base_url="https://api.moesif.net/v1",
        ...     timeout=1, max_retries=0, gzip=True, max_batch_bytes=1024)
        >>> Core(settings).get_at_root(HEALTH_PATH).url
        'https://api.moesif.net/health/probe'
        """
        url = httpx.URL(self.settings.base_url).copy_with(path=path, query=None, fragment=None)
        return PlannedRequest("GET", path, str(url), self._get_headers)

    def plan_write(self, endpoint: Endpoint[M], item: M | Mapping[str, object]) -> PlannedRequest:
        """One validated item as a ready request; bad input raises before any I/O."""
        encoded = encode_input(endpoint.model, item)
        refuse_oversized([len(encoded)], endpoint.item_limit)
        return self._post(endpoint.path, encoded)

    def plan_encoded_batch(self, endpoint: Endpoint[M], encoded: Sequence[bytes]) -> PlannedRequest:
        """A batch request from items encoded earlier (by the background queue).

        Compressed a group of items at a time, never joined whole first: copying a
        12 MiB batch into one buffer holds the GIL for milliseconds, and a caller's
        `queue_event` on another thread would wait that long; zlib lets go of the
        GIL while it compresses, as ISA-L does. With zlib the bytes are those of
        compressing the joined array; with ISA-L (`_gzip.streams_as_one`) they split
        where the groups end, the same every time, and inflate to the same array.
        """
        settings = self.settings
        if not settings.gzip or len(encoded) <= _GROUP_ITEMS:
            return self._post(endpoint.path, join_batch(encoded))
        deflate = _gzip.compressor(settings.gzip_level)
        out = [deflate.compress(b"[")]
        for start in range(0, len(encoded), _GROUP_ITEMS):
            if start:
                out.append(deflate.compress(b","))
            out.append(deflate.compress(b",".join(encoded[start : start + _GROUP_ITEMS])))
        out.append(deflate.compress(b"]"))
        out.append(deflate.flush())
        body = _gzip.restamped(b"".join(out), settings.gzip_level)  # a few % of the JSON
        return PlannedRequest(
            "POST", endpoint.path, settings.base_url + endpoint.path, self._post_headers, body
        )

    def plan_batch(
        self, endpoint: Endpoint[M], items: Sequence[M | Mapping[str, object]]
    ) -> list[SubBatch]:
        """Items validated, each encoded once, and cut into sub-batches under the limit."""
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
            raise ValidationError(
                f"must be a list of {endpoint.model.__name__} or dicts, got {type(items).__name__}"
            )
        # Models and wire-format dicts alike (dicts without building their models), into
        # one buffer holding the whole array; each sub-batch is a slice of it with its
        # own brackets, so no item is encoded twice and only the slices are copied.
        array, sizes = encode_inputs(endpoint.model, items)
        refuse_oversized(sizes, endpoint.item_limit)
        ranges = split_into_batches(sizes, self.settings.max_batch_bytes)
        if len(ranges) == 1:  # the common case: the whole array is the body, as it is
            return [SubBatch(0, len(sizes), self._post(endpoint.path, array))]
        view = memoryview(array)
        starts = [0] * (len(sizes) + 1)
        offset = 1  # item i starts after the "[" and the items and commas before it
        for index, size in enumerate(sizes):
            starts[index] = offset
            offset += size + 1
        starts[len(sizes)] = offset
        subs = []
        for start, end in ranges:
            body = b"".join((b"[", view[starts[start] : starts[end] - 1], b"]"))
            subs.append(SubBatch(start, end, self._post(endpoint.path, body)))
        return subs

    def pipeline_batch(
        self, endpoint: Endpoint[M], items: Sequence[M | Mapping[str, object]]
    ) -> BatchPipeline | None:
        """The same plan as `plan_batch`, made on two threads, for a batch big enough
        to gain from it (gzip on, more than `PIPELINE_MIN_ITEMS` items); else None."""
        if (
            not self.settings.gzip
            or not isinstance(items, (list, tuple))
            or len(items) <= PIPELINE_MIN_ITEMS
        ):
            return None
        return BatchPipeline(self, endpoint, items)

    # reading answers

    def error_for_response(self, response: httpx.Response) -> APIStatusError | None:
        """None for a success, else the typed error for the status code."""
        status = response.status_code
        if 200 <= status < 300:
            return None
        body = response.text[:MAX_ERROR_BODY_CHARS]
        cls = exception_for_status(status)
        reason = response.reason_phrase or "error"
        detail = f": {body[:200]}" if body else ""
        if 300 <= status < 400:  # never followed: the body and the app id stay here
            location = response.headers.get("Location")
            detail = f", redirecting to {location!r} (not followed; check base_url){detail}"
        message = f"{status} {reason} from {response.request.method} {response.url}{detail}"
        return cls(message, response=response, body=body)

    def error_for_exception(self, error: Exception) -> APIError:
        """A raw httpx failure as one of ours, the original kept as `__cause__`."""
        if isinstance(error, APIError):  # ours already (a body over its cap)
            return error
        wrapped: APIError
        if isinstance(error, httpx.TimeoutException):
            wrapped = APITimeoutError(f"timed out talking to {self.settings.base_url}: {error}")
        elif isinstance(error, httpx.TransportError):
            wrapped = APIConnectionError(
                f"could not reach {self.settings.base_url}: {error or type(error).__name__}"
            )
        else:
            wrapped = APIError(f"request to {self.settings.base_url} failed: {error}")
        wrapped.__cause__ = error
        return wrapped

    @staticmethod
    def write_result(response: httpx.Response) -> WriteResult:
        return WriteResult(
            status_code=response.status_code,
            config_etag=response.headers.get(c.CONFIG_ETAG_HEADER),
            rules_tag=response.headers.get(c.RULES_TAG_HEADER),
        )

    @staticmethod
    def _json(response: httpx.Response) -> object:
        try:
            return json.loads(response.content)
        except ValueError as error:
            raise APIError(f"the server's answer to {response.request.url} is not JSON") from error

    def app_config(self, response: httpx.Response) -> AppConfig:
        data = self._json(response)
        if not isinstance(data, Mapping):
            raise APIError(f"expected a JSON object from {CONFIG_PATH}, got {data!r:.80}")
        try:
            config = from_dict(AppConfig, data)
        except ValidationError as error:
            raise APIError(f"unexpected app config from the server: {error}") from error
        return attrs.evolve(config, etag=response.headers.get(c.CONFIG_ETAG_HEADER))

    def governance_rules(self, response: httpx.Response) -> GovernanceRules:
        data = self._json(response)
        if not isinstance(data, list):
            raise APIError(f"expected a JSON array from {RULES_PATH}, got {data!r:.80}")
        try:
            rules = tuple(from_dict(GovernanceRule, rule) for rule in data)
        except ValidationError as error:
            raise APIError(f"unexpected governance rule from the server: {error}") from error
        return GovernanceRules(rules, tag=response.headers.get(c.RULES_TAG_HEADER))

    def health(self, response: httpx.Response) -> Health:
        data = self._json(response)
        if not isinstance(data, Mapping):
            raise APIError(f"expected a JSON object from {HEALTH_PATH}, got {data!r:.80}")
        extra = {key: value for key, value in data.items() if key not in ("status", "region")}
        status, region = data.get("status"), data.get("region", "")
        if not isinstance(status, bool) or not isinstance(region, str):
            raise APIError(f"unexpected health answer from the server: {data!r:.200}")
        return Health(status=status, region=region, extra=extra)


# --- a big batch, planned on two threads ---

# What the encoding thread hands the compressing one: a run of encoded items (JSON
# joined with commas, no brackets; empty when a sub-batch ends at a chunk's start) and
# whether the sub-batch ends with it. None: nothing more comes.
_Piece = tuple[bytes | memoryview, bool]


class _Stopped(Exception):
    """`encode` gives up: the compressing thread failed, or the call was cancelled."""


class BatchPipeline:
    """`Core.plan_batch` for a big batch, with its compression on a second thread.

    The thread that drives the call runs `encode`: the items are validated and encoded
    a chunk at a time (Python, holding the GIL) and cut into the same sub-batches as
    `split_into_batches` makes. Meanwhile `compress`, on another thread, gzips each
    sub-batch from the runs handed over so far: zlib lets go of the GIL, so the two
    overlap on two cores. Nothing here does I/O, and nothing is sent before `result`:
    every item is still validated before the first request, as with `plan_batch`.

    The bodies are byte for byte those of `plan_batch` (one gzip stream per sub-batch,
    same level, header and deflate settings). On any failure to encode or check an item
    `result` plans the batch again with `plan_batch`, which raises what it would have
    raised; an error on the compressing thread is raised by `result` as it came.
    """

    def __init__(
        self, core: Core, endpoint: Endpoint[M], items: Sequence[M | Mapping[str, object]]
    ) -> None:
        self._core = core
        self._endpoint: Endpoint[attrs.AttrsInstance] = endpoint  # type: ignore[assignment]
        self._items: Sequence[object] = items
        self._pieces: queue.SimpleQueue[_Piece | None] = queue.SimpleQueue()
        self._ranges: list[tuple[int, int]] = []
        self._bodies: list[bytes] = []  # compressed, one per sub-batch, in order
        self._encoded = False  # `encode` went through to the end
        self._stop = False  # set by `abort`, or when the compressing thread failed
        self._compress_error: BaseException | None = None

    # the driving thread

    def encode(self) -> None:
        """Validate, encode and split the items, handing each run to `compress`.

        Ends by telling `compress` that nothing more comes, however it ends; a bad item
        stops it early (`result` then raises as `plan_batch` would).
        """
        try:
            self._encode()
        except Exception:  # `result` plans again, and raises the error
            self._stop = True
        else:
            self._encoded = True
        finally:
            self._pieces.put(None)

    def abort(self) -> None:
        """Stop `compress` after the run it is on (the call was cancelled)."""
        self._stop = True
        self._pieces.put(None)

    def _encode(self) -> None:
        endpoint, items = self._endpoint, self._items
        limit = self._core.settings.max_batch_bytes
        put = self._pieces.put
        ranges = self._ranges
        start = 0  # the first item of the sub-batch under way
        used = 2  # its bytes so far, brackets included
        index = 0
        for first in range(0, len(items), _PIPELINE_CHUNK_ITEMS):
            if self._stop:  # the compressing thread failed, or `abort`
                raise _Stopped
            chunk = items[first : first + _PIPELINE_CHUNK_ITEMS]
            array, sizes = encode_inputs(endpoint.model, chunk)  # type: ignore[arg-type]
            refuse_oversized(sizes, endpoint.item_limit)
            view = memoryview(array)
            run = 1  # where this chunk's part of the sub-batch under way begins
            offset = 1  # where the item `index` begins in `array`
            # As `split_into_batches`, carried on from chunk to chunk.
            for size in sizes:
                if size + 2 > limit:
                    raise BatchItemTooLargeError(index, size + 2, limit)
                extra = size if index == start else size + 1
                if used + extra > limit:
                    put((view[run : offset - 1], True))
                    ranges.append((start, index))
                    start, used, extra = index, 2, size
                    run = offset
                used += extra
                offset += size + 1
                index += 1
            put((view[run : offset - 1], index == len(items)))
        ranges.append((start, len(items)))

    # the compressing thread

    def compress(self) -> None:
        """Gzip the sub-batches from the runs `encode` hands over, until it ends.

        Never raises: an error is kept for `result`, and stops `encode` early.
        """
        try:
            self._compress()
        except BaseException as error:  # raised by `result`, on the calling thread
            self._compress_error = error
            self._stop = True

    def _compress(self) -> None:
        level = self._core.settings.gzip_level
        # Fed as it comes only where that gives the bytes of the whole (zlib); else
        # each sub-batch is compressed at once when its last run is in (ISA-L, fast
        # enough not to need the head start), so the bytes never depend on timing.
        streams = _gzip.streams_as_one(level)
        take, take_now = self._pieces.get, self._pieces.get_nowait
        parts: list[bytes | memoryview] = []  # of the sub-batch under way, not yet fed
        deflate: _gzip.Compressor | None = None  # once part of it has been fed
        out: list[bytes] = []  # its compressed bytes so far
        opened = False
        ended = False
        while not ended:
            # Each time round, all that was handed over meanwhile: few, large calls to
            # zlib, as each one costs this thread a wait for the GIL to come back.
            pieces = [take()]
            while True:
                try:
                    pieces.append(take_now())
                except queue.Empty:
                    break
            for piece in pieces:
                if piece is None or self._stop:
                    ended = True
                    break
                run, last = piece
                if run:
                    parts.append(b"," if opened else b"[")
                    parts.append(run)
                    opened = True
                if not last:
                    continue
                parts.append(b"]")
                if deflate is None:  # all of it at once: exactly what `_post` does
                    self._bodies.append(_gzip.compress(b"".join(parts), level))
                else:
                    out.append(deflate.compress(b"".join(parts)))
                    out.append(deflate.flush())
                    self._bodies.append(_gzip.restamped(b"".join(out), level))
                parts, deflate, out, opened = [], None, [], False
            if parts and not ended and streams:  # part of a sub-batch: on with its stream
                if deflate is None:
                    deflate = _gzip.compressor(level)
                out.append(deflate.compress(b"".join(parts)))
                parts = []

    # the driving thread again, once both have ended

    def result(self) -> list[SubBatch]:
        """The sub-batches, as `Core.plan_batch` returns them, or its error."""
        if self._compress_error is not None:
            raise self._compress_error
        if not self._encoded or len(self._bodies) != len(self._ranges):
            # A bad item (or never run): the sequential plan raises what it would.
            return self._core.plan_batch(self._endpoint, self._items)  # type: ignore[arg-type]
        core = self._core
        path = self._endpoint.path
        url = core.settings.base_url + path
        return [
            SubBatch(start, end, PlannedRequest("POST", path, url, core._post_headers, body))
            for (start, end), body in zip(self._ranges, self._bodies, strict=True)
        ]
