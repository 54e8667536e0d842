"""`MoesifClient`: the synchronous client, a thin I/O loop over `httpx.Client`.

Every decision (validation, encoding, batching, retries, errors) is made by the pure
core in `_protocol`; this module only sends the bytes and sleeps between attempts.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

import httpx

from . import _constants as c
from . import _protocol as p
from ._queue import BeforeSend, OnError, QueueCalls, QueueCore, QueueSettings, ThreadQueue
from ._results import BatchResult, GovernanceRules, WriteResult
from .exceptions import APIError
from .models import ActionModel, AppConfig, CompanyModel, EventModel, SubscriptionModel, UserModel

__all__ = ["MoesifClient"]


class MoesifClient(QueueCalls):
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
        max_batch_bytes: int = c.DEFAULT_MAX_BATCH_BYTES,
        flush_interval: float = c.DEFAULT_FLUSH_INTERVAL,
        max_queue_size: int = c.DEFAULT_MAX_QUEUE_SIZE,
        on_error: OnError | None = None,
        before_send: BeforeSend | None = None,
        exit_timeout: float = c.DEFAULT_EXIT_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        settings = p.Settings.resolve(
            application_id=application_id,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            gzip=gzip,
            max_batch_bytes=max_batch_bytes,
        )
        self._core = p.Core(settings)
        queue_settings = QueueSettings.resolve(
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            on_error=on_error,
            before_send=before_send,
            exit_timeout=exit_timeout,
        )
        self._queue = ThreadQueue(
            QueueCore(queue_settings, settings.max_batch_bytes),
            send=self._send,
            plan=self._core.plan_encoded_batch,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        if self._owns_http:
            _clients_owning_http.add(self)

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)

    # --- lifecycle ---

    def close(self) -> None:
        """Deliver what is queued, then release the connection pool.

        With the server unreachable this returns once retries are spent, every
        undelivered item having gone to `on_error`. A caller's own `http_client` is
        left open.
        """
        self._queue.close()
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
        return self._core.app_config(self._send(self._core.get(p.CONFIG_PATH)))

    def get_governance_rules(self) -> GovernanceRules:
        """The app's governance rules (``GET /rules``); `tag` holds their tag."""
        return self._core.governance_rules(self._send(self._core.get(p.RULES_PATH)))

    # --- background queue: the queue_* calls come from QueueCalls; a thread delivers ---

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued so far; True if all of it was delivered in time."""
        return self._queue.flush(timeout)

    # --- the I/O loop ---

    def _write(self, endpoint: p.Endpoint[p.M], item: p.M | Mapping[str, object]) -> WriteResult:
        return self._core.write_result(self._send(self._core.plan_write(endpoint, item)))

    def _write_batch(
        self, endpoint: p.Endpoint[p.M], items: Sequence[p.M | Mapping[str, object]]
    ) -> BatchResult:
        plan = self._core.plan_batch(endpoint, items)
        for sub in plan.sub_batches:
            try:
                response = self._send(sub.request)
            except APIError as error:
                plan.fail(error)
                break
            plan.record(sub, self._core.write_result(response))
        return plan.outcome()

    def _send(
        self, request: p.PlannedRequest, on_retry: Callable[[], None] | None = None
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.content,
                    timeout=self._core.settings.timeout,
                )
            except httpx.HTTPError as raw:
                error: APIError = self._core.error_for_exception(raw)
            else:
                status_error = self._core.error_for_response(response)
                if status_error is None:
                    return response
                error = status_error
            delay = self._core.retry_delay(attempt, error)
            if delay is None:
                raise error
            attempt += 1
            if on_retry is not None:
                on_retry()
            self._sleep(delay)

    @staticmethod
    def _sleep(seconds: float) -> None:
        time.sleep(seconds)


# A forked child must not share the parent's pooled sockets: each client that owns its
# connection pool gets a fresh one there (its queue is renewed by `_queue` likewise).
_clients_owning_http: weakref.WeakSet[MoesifClient] = weakref.WeakSet()


def _renew_connection_pools_after_fork() -> None:
    for client in list(_clients_owning_http):
        client._http = httpx.Client()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_connection_pools_after_fork)
