"""`MoesifClient`: the synchronous client, a thin driver over `httpx.Client`.

Every decision (validation, encoding, batching, retries, deadlines, errors) is made by
the pure core (`_protocol`) and the delivery engine (`_engine`); this module only
carries out the engine's effects: it sends the bytes and sleeps between attempts.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from . import _constants as c
from . import _protocol as p
from ._bounds import BodyReader, attempt_timed_out, clamp_to_deadline, deadline_of_this_attempt
from ._engine import Answer, Engine, Overlap, Plan, Send, Wait
from ._queue import BeforeSend, OnError, QueueCalls, QueueCore, QueueSettings, ThreadQueue
from ._results import BatchResult, GovernanceRules, Health, WriteResult
from ._steering import CONFIG, SteeringCalls
from ._switching import quick_switches
from .models import ActionModel, AppConfig, CompanyModel, EventModel, SubscriptionModel, UserModel

__all__ = ["MoesifClient"]


class MoesifClient(SteeringCalls, QueueCalls):
    """Sends events, actions, users, companies and subscriptions to Moesif, blocking.

    Safe to share between threads. Use it as a context manager, or call `close()`.
    Settings are per instance: two clients with different application ids never mix.
    """

    _queue: ThreadQueue

    def __init__(
        self,
        *,
        application_id: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = c.DEFAULT_TIMEOUT,
        max_retries: int = c.DEFAULT_MAX_RETRIES,
        gzip: bool = True,
        gzip_level: int = c.GZIP_LEVEL,
        max_batch_bytes: int = c.DEFAULT_MAX_BATCH_BYTES,
        flush_interval: float = c.DEFAULT_FLUSH_INTERVAL,
        max_queue_size: int = c.DEFAULT_MAX_QUEUE_SIZE,
        on_error: OnError | None = None,
        before_send: BeforeSend | None = None,
        exit_timeout: float = c.DEFAULT_EXIT_TIMEOUT,
        user_agent_suffix: str | None = None,
        sampling: bool = False,
        http_client: httpx.Client | None = None,
    ) -> None:
        settings = p.Settings.resolve(
            application_id=application_id,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            gzip=gzip,
            max_batch_bytes=max_batch_bytes,
            user_agent_suffix=user_agent_suffix,
            gzip_level=gzip_level,
        )
        self._core = p.Core(settings)
        self._engine = Engine(self._core)
        queue_settings = QueueSettings.resolve(
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            on_error=on_error,
            before_send=before_send,
            exit_timeout=exit_timeout,
        )
        self._queue = ThreadQueue(
            QueueCore(queue_settings, settings.max_batch_bytes), self._engine, self._drive
        )
        self._steer(self._queue.core, sampling=sampling)
        self._alarm = _Alarm()
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        clamp_to_deadline(self._http)
        if self._owns_http:
            _clients_owning_http.add(self)
        _live_clients.add(self)

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)

    # --- lifecycle ---

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued within `timeout` (default `exit_timeout`), then
        release the connection pool.

        From the first moment of closing no retry wait outlasts the deadline, and a
        wait under way is cut short. Whatever is undelivered at the deadline goes to
        `on_error` with `ShutdownTimeoutError`. Later calls raise `ClientClosedError`.
        A caller's own `http_client` is left open.
        """
        seconds = self._queue.core.settings.close_timeout(timeout)
        deadline = self._engine.begin_close(seconds)
        self._alarm.ring()
        self._queue.close(deadline, seconds)
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> MoesifClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- events and actions ---

    def create_event(self, event: EventModel | Mapping[str, object]) -> WriteResult:
        """Log one API call (``POST /events``)."""
        return self._write(p.EVENTS, event)

    def create_events_batch(
        self, events: Sequence[EventModel | Mapping[str, object]]
    ) -> BatchResult:
        """Log many API calls (``POST /events/batch``), split to stay under the size limit."""
        return self._write_batch(p.EVENTS_BATCH, events)

    def create_action(self, action: ActionModel | Mapping[str, object]) -> WriteResult:
        """Log one user action (``POST /actions``)."""
        return self._write(p.ACTIONS, action)

    def create_actions_batch(
        self, actions: Sequence[ActionModel | Mapping[str, object]]
    ) -> BatchResult:
        """Log many user actions (``POST /actions/batch``)."""
        return self._write_batch(p.ACTIONS_BATCH, actions)

    # --- profiles ---

    def update_user(self, user: UserModel | Mapping[str, object]) -> WriteResult:
        """Create or merge into a user profile (``POST /users``)."""
        return self._write(p.USERS, user)

    def update_users_batch(self, users: Sequence[UserModel | Mapping[str, object]]) -> BatchResult:
        """Create or merge into many user profiles (``POST /users/batch``)."""
        return self._write_batch(p.USERS_BATCH, users)

    def update_company(self, company: CompanyModel | Mapping[str, object]) -> WriteResult:
        """Create or merge into a company profile (``POST /companies``)."""
        return self._write(p.COMPANIES, company)

    def update_companies_batch(
        self, companies: Sequence[CompanyModel | Mapping[str, object]]
    ) -> BatchResult:
        """Create or merge into many company profiles (``POST /companies/batch``)."""
        return self._write_batch(p.COMPANIES_BATCH, companies)

    def update_subscription(
        self, subscription: SubscriptionModel | Mapping[str, object]
    ) -> WriteResult:
        """Create or merge into a subscription (``POST /subscriptions``)."""
        return self._write(p.SUBSCRIPTIONS, subscription)

    def update_subscriptions_batch(
        self, subscriptions: Sequence[SubscriptionModel | Mapping[str, object]]
    ) -> BatchResult:
        """Create or merge into many subscriptions (``POST /subscriptions/batch``)."""
        return self._write_batch(p.SUBSCRIPTIONS_BATCH, subscriptions)

    # --- reads ---

    def get_app_config(self) -> AppConfig:
        """The app's server-side config (``GET /config``); `etag` holds its ETag."""
        return self._drive(self._engine.read(p.CONFIG_PATH, self._core.app_config))

    def get_governance_rules(self) -> GovernanceRules:
        """The app's governance rules (``GET /rules``); `tag` holds their tag."""
        return self._drive(self._engine.read(p.RULES_PATH, self._core.governance_rules))

    def check_health(self) -> Health:
        """Whether the Collector API is up (``GET /health/probe`` at the host root)."""
        return self._drive(self._engine.check_health())

    # --- background queue: the queue_* calls come from QueueCalls; a thread delivers ---

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued so far; True if all of it was delivered in time."""
        return self._queue.flush(timeout)

    # --- the driver: the only I/O ---

    def _write(self, endpoint: p.Endpoint[p.M], item: p.M | Mapping[str, object]) -> WriteResult:
        self._freshen()
        return self._drive(self._engine.write(endpoint, item))

    def _write_batch(
        self, endpoint: p.Endpoint[p.M], items: Sequence[p.M | Mapping[str, object]]
    ) -> BatchResult:
        self._freshen()
        return self._drive(self._engine.batch(endpoint, items))

    def _fetch_in_background(self, kinds: tuple[str, ...]) -> None:
        # Once a minute at most: a short-lived thread costs nothing next to the fetch.
        fetcher = threading.Thread(
            target=self._fetch, args=(kinds,), name="moesifapi-config", daemon=True
        )
        fetcher.start()

    def _fetch(self, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            try:
                if kind == CONFIG:
                    self._steering.fetched(kind, self.get_app_config())
                else:
                    self._steering.fetched(kind, self.get_governance_rules())
            except Exception as error:  # never into the host application
                self._steering.failed(kind, error)

    def _drive(self, plan: Plan[T]) -> T:
        """Carry out a plan's effects until it returns (or raises) its outcome."""
        answer: Answer = None
        while True:
            try:
                effect = plan.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(effect, Send):
                answer = self._transmit(effect)
            elif isinstance(effect, Wait):
                answer = self._sleep(effect.seconds)
            elif isinstance(effect, Overlap):
                self._overlap(effect)
                answer = None
            else:  # Concurrently: one thread sends them in turn, in order
                for lane in effect.lanes:
                    self._drive(lane)
                answer = None

    @staticmethod
    def _overlap(effect: Overlap) -> None:
        # gzip on a thread of its own while this one encodes; joined however it ends.
        pipeline = effect.pipeline
        worker = threading.Thread(target=pipeline.compress, name="moesifapi-gzip", daemon=True)
        with quick_switches():  # else the gzip thread waits up to 5 ms for the GIL
            worker.start()
            try:
                pipeline.encode()
            finally:
                worker.join()

    def _transmit(self, send: Send) -> httpx.Response | Exception:
        request = send.request
        try:
            with (
                deadline_of_this_attempt(send.total) as deadline,
                self._http.stream(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.content,
                    timeout=send.timeout,
                    follow_redirects=False,
                ) as response,
            ):
                reader = BodyReader(response, request.max_answer_bytes, request.describe)
                if response.is_stream_consumed:
                    return reader.already_read(response)
                for chunk in response.iter_raw():
                    if reader.feed(chunk):
                        break
                    if time.monotonic() > deadline:  # a transport the clamp cannot reach
                        return attempt_timed_out(send.total)
                return reader.response(response)
        except Exception as error:  # the engine decides what it means
            return error

    def _sleep(self, seconds: float) -> bool:
        return self._alarm.sleep(seconds)


T = TypeVar("T")


class _Alarm:
    """Sleeps that a close cuts short: `ring` wakes every sleep under way."""

    def __init__(self) -> None:
        self._rung = threading.Condition()
        self._rings = 0

    def sleep(self, seconds: float) -> bool:
        """Sleep `seconds`; True if a ring woke it first."""
        with self._rung:
            rings = self._rings
            return self._rung.wait_for(lambda: self._rings != rings, seconds)

    def ring(self) -> None:
        with self._rung:
            self._rings += 1
            self._rung.notify_all()


# At interpreter exit each client with items queued closes within its `exit_timeout`.
_live_clients: weakref.WeakSet[MoesifClient] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for client in list(_live_clients):
        if client._queue.core.pending:
            client.close()


atexit.register(_close_all_at_exit)


# A forked child must not share the parent's pooled sockets: each client that owns its
# connection pool gets a fresh one there (its queue is renewed by `_queue` likewise).
_clients_owning_http: weakref.WeakSet[MoesifClient] = weakref.WeakSet()


def _renew_connection_pools_after_fork() -> None:
    for client in list(_clients_owning_http):
        client._http = httpx.Client()
        clamp_to_deadline(client._http)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_connection_pools_after_fork)
