"""The sandbox Collector: its state, its fault switches, and the one core that answers.

`Collector.handle` decides every answer from (method, path, headers, body) without
doing I/O; the in-process transports and the local HTTP server only carry it out.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from ._decoding import BodyError, decode_json_body
from ._exchange import Outcome, RecordedRequest
from ._faults import Fault, FaultPlan, RetryAfter
from ._hold import HoldGate
from ._store import SandboxStore
from ._validation import find_problems

if TYPE_CHECKING:
    from ._transports import AsyncSandboxTransport, SandboxTransport

__all__ = [
    "DEFAULT_APPLICATION_ID",
    "DEFAULT_HOLD_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "SANDBOX_BASE_URL",
    "Collector",
    "default_config",
]

DEFAULT_APPLICATION_ID = "sandbox-app-id"
# The live API's event limit; far above the 12 MiB the client splits batches at.
DEFAULT_MAX_BODY_BYTES = 50 * 1024 * 1024
# A forgotten release() must not hang a test session forever.
DEFAULT_HOLD_TIMEOUT = 60.0
# ".invalid" can never resolve, so a client that bypasses the transport fails loudly.
SANDBOX_BASE_URL = "http://sandbox.moesif.invalid/v1"

_APP_ID_HEADER = "x-moesif-application-id"
_JSON_HEADERS = (
    ("Content-Type", "application/json; charset=utf-8"),
    ("Access-Control-Allow-Origin", "*"),
)

# path -> (kind of item stored, whether the body is a batch)
_WRITE_ROUTES: Mapping[str, tuple[str, bool]] = {
    "/v1/events": ("event", False),
    "/v1/events/batch": ("event", True),
    "/v1/actions": ("action", False),
    "/v1/actions/batch": ("action", True),
    "/v1/users": ("user", False),
    "/v1/users/batch": ("user", True),
    "/v1/companies": ("company", False),
    "/v1/companies/batch": ("company", True),
    "/v1/subscriptions": ("subscription", False),
    "/v1/subscriptions/batch": ("subscription", True),
}
_READ_ROUTES = frozenset({"/v1/config", "/v1/rules"})
# The health probe sits at the host root, outside /v1, and needs no application id.
_HEALTH_ROUTE = "/health/probe"
_HEALTH_ANSWER = {"status": True, "region": "sandbox"}

JSONObject = dict[str, Any]
HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]


def default_config(application_id: str = DEFAULT_APPLICATION_ID) -> JSONObject:
    """The app config a fresh collector serves: sample everything, no rules, no blocks."""
    return {
        "org_id": "sandbox-org",
        "app_id": f"sandbox-app-{_short_hash(application_id)}",
        "sample_rate": 100,
        "block_bot_traffic": False,
        "user_sample_rate": {},
        "company_sample_rate": {},
        "user_rules": {},
        "company_rules": {},
        "ip_addresses_blocked_by_name": {},
        "regex_config": [],
        "billing_config_jsons": {},
    }


def _short_hash(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _lower_headers(headers: HeadersLike) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lowered: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        # Repeated headers are joined, the way HTTP (and the API reference) says.
        lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
    return lowered


def _json_outcome(status: int, payload: object, *extra: tuple[str, str]) -> Outcome:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return Outcome(status, (*_JSON_HEADERS, *extra), body)


def _error(status: int, message: str, *extra: tuple[str, str]) -> Outcome:
    return _json_outcome(status, {"message": message}, *extra)


def _as_json_copy(value: object, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serializable: {exc}") from None


class Collector:
    """A local stand-in for the Moesif Collector API.

    It validates requests the way the API reference describes, stores what it
    accepts, and can be told to fail, stall or drop connections. Reach it in
    process through `transport()` / `async_transport()` at `base_url`, or over a
    real socket with `serve()`. Every method is thread-safe.

    >>> collector = Collector()
    >>> outcome = collector.handle(
    ...     "POST", "/v1/users", {"X-Moesif-Application-Id": "sandbox-app-id"},
    ...     b'{"user_id": "u1"}')
    >>> outcome.status, collector.users["u1"]
    (201, {'user_id': 'u1'})
    """

    def __init__(
        self,
        application_id: str = DEFAULT_APPLICATION_ID,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        config: Mapping[str, Any] | None = None,
        rules: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if not application_id:
            raise ValueError("application_id must not be empty")
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes!r}")
        self._application_id = application_id
        self._max_body_bytes = max_body_bytes
        self.base_url = SANDBOX_BASE_URL
        # One lock for state, log and fault plan; the condition lets wait_until()
        # wake on each handled request instead of polling.
        self._changed = threading.Condition(threading.RLock())
        self._store = SandboxStore()
        self._requests: list[RecordedRequest] = []
        self._faults = FaultPlan()
        self._gate = HoldGate()
        self._config: JSONObject = {}
        self._config_etag = ""
        self._rules: list[JSONObject] = []
        self._rules_tag = ""
        self.config = default_config(application_id) if config is None else config
        self.rules = [] if rules is None else rules

    def __repr__(self) -> str:
        with self._changed:
            return (
                f"<Collector events={len(self._store.events)}"
                f" actions={len(self._store.actions)} requests={len(self._requests)}>"
            )

    # -- settings ---------------------------------------------------------------

    @property
    def application_id(self) -> str:
        """The only X-Moesif-Application-Id this collector accepts."""
        return self._application_id

    @property
    def max_body_bytes(self) -> int:
        """Largest body accepted, compressed or decompressed; larger ones get 413."""
        return self._max_body_bytes

    @property
    def config(self) -> JSONObject:
        """What GET /config answers (a copy). Assign a dict to change it."""
        with self._changed:
            return copy.deepcopy(self._config)

    @config.setter
    def config(self, value: Mapping[str, Any]) -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"config must be a mapping, got {type(value).__name__}")
        fresh = _as_json_copy(dict(value), "config")
        with self._changed:
            self._config = fresh
            self._config_etag = _short_hash(fresh)

    @property
    def config_etag(self) -> str:
        """The X-Moesif-Config-ETag value; it changes whenever `config` does."""
        with self._changed:
            return self._config_etag

    @property
    def rules(self) -> list[JSONObject]:
        """What GET /rules answers (a copy). Assign a list of dicts to change it."""
        with self._changed:
            return copy.deepcopy(self._rules)

    @rules.setter
    def rules(self, value: Sequence[Mapping[str, Any]]) -> None:
        if isinstance(value, (str, bytes)) or not all(isinstance(r, Mapping) for r in value):
            raise TypeError("rules must be a sequence of mappings")
        fresh = _as_json_copy([dict(rule) for rule in value], "rules")
        with self._changed:
            self._rules = fresh
            self._rules_tag = _short_hash(fresh)

    @property
    def rules_tag(self) -> str:
        """The X-Moesif-Rules-Tag value; it changes whenever `rules` does."""
        with self._changed:
            return self._rules_tag

    # -- what was stored (snapshots; treat the dicts as read-only) ---------------

    @property
    def events(self) -> list[JSONObject]:
        """Accepted events, in arrival order."""
        with self._changed:
            return list(self._store.events)

    @property
    def actions(self) -> list[JSONObject]:
        """Accepted actions, in arrival order."""
        with self._changed:
            return list(self._store.actions)

    @property
    def users(self) -> dict[str, JSONObject]:
        """User profiles by user_id, each the merge of every update accepted."""
        with self._changed:
            return self._store.users.snapshot()

    @property
    def companies(self) -> dict[str, JSONObject]:
        """Company profiles by company_id, merged like users."""
        with self._changed:
            return self._store.companies.snapshot()

    @property
    def subscriptions(self) -> dict[str, JSONObject]:
        """Subscriptions by subscription_id, merged like users."""
        with self._changed:
            return self._store.subscriptions.snapshot()

    def user_session_tokens(self, user_id: str) -> list[str]:
        """Every distinct session_token sent for a user, oldest first.

        The profile's own ``session_token`` is only the latest; the API keeps older
        ones as aliases, and so does the sandbox, here.
        """
        with self._changed:
            return self._store.users.session_tokens(user_id)

    def company_session_tokens(self, company_id: str) -> list[str]:
        """Every distinct session_token sent for a company, oldest first."""
        with self._changed:
            return self._store.companies.session_tokens(company_id)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request handled so far, accepted or not, in arrival order."""
        with self._changed:
            return list(self._requests)

    def wait_until(self, predicate: Callable[[Collector], bool], timeout: float = 5.0) -> bool:
        """Block until `predicate(self)` is true, re-checking after every request.

        Returns False if `timeout` seconds pass first. Handy for background senders:
        ``collector.wait_until(lambda c: len(c.events) >= 10)``.
        """
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def write_ndjson(self, path: str | os.PathLike[str]) -> int:
        """Write every stored item to `path`, one JSON object per line; return the count.

        Lines look like ``{"type": "event", "data": {...}}``; user and company lines
        also carry ``"session_tokens"`` when any were sent.
        """
        with self._changed:
            records = list(self._store.export())
        with open(path, "w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
        return len(records)

    def reset(self) -> None:
        """Forget everything: stored items, the request log, faults (releasing held
        requests), and config and rules back to their defaults."""
        self.clear_faults()
        with self._changed:
            self._store.clear()
            self._requests.clear()
            self.config = default_config(self._application_id)
            self.rules = []
            self._changed.notify_all()

    # -- faults -------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 503, retry_after: RetryAfter | None = None
    ) -> None:
        """Answer the next `n` requests with `status` (and a Retry-After header if given:
        seconds, an aware datetime, or a raw header string). Stacks with earlier calls."""
        with self._changed:
            self._faults.fail_next(n, status, retry_after)

    def drop_next(self, n: int = 1) -> None:
        """Close the connection without answering for the next `n` requests."""
        with self._changed:
            self._faults.drop_next(n)

    def fail_randomly(
        self,
        fraction: float,
        status: int = 503,
        seed: int = 0,
        retry_after: RetryAfter | None = None,
    ) -> None:
        """Fail about `fraction` of requests with `status`, reproducibly for a `seed`.
        A fraction of 0 turns it off."""
        with self._changed:
            self._faults.fail_randomly(fraction, status, seed, retry_after)

    def drop_randomly(self, fraction: float, seed: int = 0) -> None:
        """Drop about `fraction` of connections, reproducibly for a `seed`; 0 turns it off."""
        with self._changed:
            self._faults.drop_randomly(fraction, seed)

    @property
    def latency(self) -> float:
        """Seconds every answer is delayed by (after the request is processed)."""
        with self._changed:
            return self._faults.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._changed:
            self._faults.latency = seconds

    def hold(self, timeout: float | None = DEFAULT_HOLD_TIMEOUT) -> None:
        """Keep every request that arrives from now on waiting, unprocessed and
        unanswered, until `release()` or until `timeout` seconds have passed."""
        self._gate.close(timeout)

    def release(self) -> None:
        """Let held requests (and later ones) through."""
        self._gate.open()

    @property
    def held(self) -> int:
        """How many requests are waiting at the hold right now."""
        return self._gate.waiting

    def wait_until_held(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until `count` requests are being held; False if `timeout` passes first."""
        return self._gate.wait_until_waiting(count, timeout)

    def clear_faults(self) -> None:
        """Turn every fault off, drop pending scripted ones, and release held requests."""
        with self._changed:
            self._faults.clear()
        self.release()

    # -- the core -----------------------------------------------------------------

    def handle(self, method: str, path: str, headers: HeadersLike, body: bytes) -> Outcome:
        """Decide the answer to one request, storing its items if it is accepted.

        `path` is the request target (``/v1/events``; a query or an absolute URL is
        fine). The hold is not applied here: front-ends wait for release first, then
        call this, then wait `outcome.delay` before answering or dropping.
        """
        lowered = _lower_headers(headers)
        with self._changed:
            fault = self._faults.next_fault()
            delay = self._faults.latency
        if fault is not None:
            outcome = self._fault_outcome(fault)
            accepted: tuple[str, list[JSONObject]] | None = None
        else:
            outcome, accepted = self._answer(method.upper(), path, lowered, body)
        record = RecordedRequest(
            method=method.upper(),
            path=path,
            headers=MappingProxyType(lowered),
            body=bytes(body),
            status=outcome.status,
        )
        with self._changed:
            if accepted is not None:
                kind, items = accepted
                for item in items:
                    self._store.add(kind, item)
            self._requests.append(record)
            self._changed.notify_all()
        return replace(outcome, delay=delay)

    @staticmethod
    def _fault_outcome(fault: Fault) -> Outcome:
        if fault.status is None:
            return Outcome(None)
        extra = () if fault.retry_after is None else (("Retry-After", fault.retry_after),)
        return _error(fault.status, f"sandbox: injected fault {fault.status}", *extra)

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Outcome, tuple[str, list[JSONObject]] | None]:
        route = urlsplit(path).path.rstrip("/")
        if route == _HEALTH_ROUTE:
            if method != "GET":
                message = f"{method} is not allowed on {route}; use GET"
                return _error(405, message, ("Allow", "GET")), None
            return _json_outcome(200, _HEALTH_ANSWER), None
        write = _WRITE_ROUTES.get(route)
        if write is None and route not in _READ_ROUTES:
            return _error(404, f"no such endpoint: {route or '/'}"), None
        allowed = "POST" if write is not None else "GET"
        if method != allowed:
            message = f"{method} is not allowed on {route}; use {allowed}"
            return _error(405, message, ("Allow", allowed)), None

        sent_id = headers.get(_APP_ID_HEADER, "").strip()
        if not sent_id:
            return _error(401, "missing X-Moesif-Application-Id header"), None
        if sent_id != self._application_id:
            return _error(401, "X-Moesif-Application-Id is incorrect"), None

        if write is None:
            return self._read(route), None
        kind, batch = write
        try:
            payload = decode_json_body(body, headers, self._max_body_bytes)
        except BodyError as exc:
            return _error(exc.status, exc.message), None
        problems = find_problems(kind, payload, batch=batch)
        if problems:
            message = problems[0]
            if len(problems) > 1:
                more = len(problems) - 1
                message += f" (and {more} more problem{'s' if more > 1 else ''})"
            return _json_outcome(400, {"message": message, "errors": problems}), None
        # find_problems() has checked the shape: an object, or an array of objects.
        items = cast("list[JSONObject]", payload if isinstance(payload, list) else [payload])
        with self._changed:
            etag, tag = self._config_etag, self._rules_tag
        # As the Collector does: each write's answer says which config and rules are
        # current, so a client can tell when to fetch them again.
        tags = (("X-Moesif-Config-ETag", etag), ("X-Moesif-Rules-Tag", tag))
        return _json_outcome(201, {}, *tags), (kind, items)

    def _read(self, route: str) -> Outcome:
        with self._changed:
            if route == "/v1/config":
                return _json_outcome(200, self._config, ("X-Moesif-Config-ETag", self._config_etag))
            return _json_outcome(200, self._rules, ("X-Moesif-Rules-Tag", self._rules_tag))

    # -- front-ends ----------------------------------------------------------------

    def transport(self) -> SandboxTransport:
        """An httpx transport that hands requests to this collector, no socket involved.

        Use with ``httpx.Client(transport=collector.transport())`` and `base_url`.
        """
        from ._transports import SandboxTransport

        return SandboxTransport(self)

    def async_transport(self) -> AsyncSandboxTransport:
        """The asyncio twin of `transport()`, for ``httpx.AsyncClient``."""
        from ._transports import AsyncSandboxTransport

        return AsyncSandboxTransport(self)

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve this collector over HTTP/1.1; yields the base URL (``http://host:port/v1``).

        Port 0 picks a free port. On exit the server stops accepting, releases held
        requests, closes idle keep-alive connections and waits (boundedly) for the
        requests in progress.
        """
        from ._server import SandboxServer

        server = SandboxServer(self, host, port)
        server.start()
        try:
            yield server.base_url
        finally:
            server.stop()
