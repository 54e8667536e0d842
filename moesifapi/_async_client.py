"""`AsyncMoesifClient`: the asyncio client, a thin I/O loop over `httpx.AsyncClient`.

Every decision (validation, encoding, batching, retries, errors) is made by the pure
core in `_protocol`; this module only awaits the bytes and sleeps between attempts.
It mirrors `_client` line for line; change both together.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from types import TracebackType

import httpx

from . import _constants as c
from . import _protocol as p
from ._queue import BeforeSend, OnError, QueueCalls, QueueCore, QueueSettings, TaskQueue
from ._results import BatchResult, GovernanceRules, WriteResult
from .exceptions import APIError
from .models import ActionModel, AppConfig, CompanyModel, EventModel, SubscriptionModel, UserModel

__all__ = ["AsyncMoesifClient"]


class AsyncMoesifClient(QueueCalls):
    """Sends events, actions, users, companies and subscriptions to Moesif, awaited.

    Safe to share between tasks of one event loop. Used later from another loop, it
    starts over there (connection pool and queue worker) and delivers what was left
    queued. Use ``async with``, or await `aclose()`.
    """

    _queue: TaskQueue

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
        http_client: httpx.AsyncClient | None = None,
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
        self._queue = TaskQueue(
            QueueCore(queue_settings, settings.max_batch_bytes),
            send=self._send,
            plan=self._core.plan_encoded_batch,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        # The loop the owned pool's connections belong to, and what closes them when
        # that loop shuts down; see `_pool`.
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._http_guard: AsyncGenerator[None, None] | None = None
        if self._owns_http:
            _clients_owning_http.add(self)

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)

    # --- lifecycle ---

    async def aclose(self) -> None:
        """Deliver what is queued, then release the connection pool.

        With the server unreachable this returns once retries are spent, every
        undelivered item having gone to `on_error`. A caller's own `http_client` is
        left open.
        """
        await self._queue.aclose()
        if self._owns_http and self._http_loop in (None, asyncio.get_running_loop()):
            await self._http.aclose()  # (another loop's connections can only be dropped)

    async def __aenter__(self) -> AsyncMoesifClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- events and actions ---

    async def create_event(self, event: EventModel | Mapping[str, object]) -> WriteResult:
        """Log one API call (``POST /events``)."""
        return await self._write(p.EVENTS, event)

    async def create_events_batch(
        self, events: Sequence[EventModel | Mapping[str, object]]
    ) -> BatchResult:
        """Log many API calls (``POST /events/batch``), split to stay under the size limit."""
        return await self._write_batch(p.EVENTS_BATCH, events)

    async def create_action(self, action: ActionModel | Mapping[str, object]) -> WriteResult:
        """Log one user action (``POST /actions``)."""
        return await self._write(p.ACTIONS, action)

    async def create_actions_batch(
        self, actions: Sequence[ActionModel | Mapping[str, object]]
    ) -> BatchResult:
        """Log many user actions (``POST /actions/batch``)."""
        return await self._write_batch(p.ACTIONS_BATCH, actions)

    # --- profiles ---

    async def update_user(self, user: UserModel | Mapping[str, object]) -> WriteResult:
        """Create or merge into a user profile (``POST /users``)."""
        return await self._write(p.USERS, user)

    async def update_users_batch(
        self, users: Sequence[UserModel | Mapping[str, object]]
    ) -> BatchResult:
        """Create or merge into many user profiles (``POST /users/batch``)."""
        return await self._write_batch(p.USERS_BATCH, users)

    async def update_company(self, company: CompanyModel | Mapping[str, object]) -> WriteResult:
        """Create or merge into a company profile (``POST /companies``)."""
        return await self._write(p.COMPANIES, company)

    async def update_companies_batch(
        self, companies: Sequence[CompanyModel | Mapping[str, object]]
    ) -> BatchResult:
        """Create or merge into many company profiles (``POST /companies/batch``)."""
        return await self._write_batch(p.COMPANIES_BATCH, companies)

    async def update_subscription(
        self, subscription: SubscriptionModel | Mapping[str, object]
    ) -> WriteResult:
        """Create or merge into a subscription (``POST /subscriptions``)."""
        return await self._write(p.SUBSCRIPTIONS, subscription)

    async def update_subscriptions_batch(
        self, subscriptions: Sequence[SubscriptionModel | Mapping[str, object]]
    ) -> BatchResult:
        """Create or merge into many subscriptions (``POST /subscriptions/batch``)."""
        return await self._write_batch(p.SUBSCRIPTIONS_BATCH, subscriptions)

    # --- reads ---

    async def get_app_config(self) -> AppConfig:
        """The app's server-side config (``GET /config``); `etag` holds its ETag."""
        return self._core.app_config(await self._send(self._core.get(p.CONFIG_PATH)))

    async def get_governance_rules(self) -> GovernanceRules:
        """The app's governance rules (``GET /rules``); `tag` holds their tag."""
        return self._core.governance_rules(await self._send(self._core.get(p.RULES_PATH)))

    # --- background queue: the queue_* calls come from QueueCalls; a task delivers ---

    async def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued so far; True if all of it was delivered in time."""
        return await self._queue.flush(timeout)

    # --- the I/O loop ---

    async def _write(
        self, endpoint: p.Endpoint[p.M], item: p.M | Mapping[str, object]
    ) -> WriteResult:
        return self._core.write_result(await self._send(self._core.plan_write(endpoint, item)))

    async def _write_batch(
        self, endpoint: p.Endpoint[p.M], items: Sequence[p.M | Mapping[str, object]]
    ) -> BatchResult:
        plan = self._core.plan_batch(endpoint, items)
        # A few sub-batches in flight at once: against a distant server each request is
        # mostly waiting. After a failure no new one starts; those in flight finish.
        in_flight = asyncio.Semaphore(c.MAX_CONCURRENT_SUB_BATCHES)

        async def send(sub: p.SubBatch) -> None:
            async with in_flight:
                if plan.error is not None:
                    return
                try:
                    response = await self._send(sub.request)
                except APIError as error:
                    plan.fail(error)
                    return
                plan.record(sub, self._core.write_result(response))

        await asyncio.gather(*(send(sub) for sub in plan.sub_batches))
        return plan.outcome()

    async def _send(
        self, request: p.PlannedRequest, on_retry: Callable[[], None] | None = None
    ) -> httpx.Response:
        http = await self._pool()
        attempt = 0
        while True:
            try:
                response = await http.request(
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
            await self._sleep(delay)

    async def _pool(self) -> httpx.AsyncClient:
        """The HTTP client for the running loop.

        Pooled connections belong to the event loop that opened them. An owned pool is
        closed when its loop shuts down (`asyncio.run` and `asyncio.Runner` finalize
        async generators, and a guard generator does it), and the client opens a new
        one on the next loop it is used on. A caller's own `http_client` is theirs.
        """
        if self._owns_http:
            loop = asyncio.get_running_loop()
            if self._http_loop is not loop:
                if self._http_loop is not None:
                    self._http = httpx.AsyncClient()
                self._http_loop = loop
                self._http_guard = _close_when_the_loop_ends(self._http)
                await self._http_guard.__anext__()  # now known to the loop
        return self._http

    @staticmethod
    async def _sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _close_when_the_loop_ends(http: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    opened_by = os.getpid()
    try:
        yield
    finally:  # run by the loop's shutdown_asyncgens(), in that loop
        if os.getpid() == opened_by:  # a forked child leaves the parent's sockets alone
            await http.aclose()


# As in `_client`: a forked child gets fresh pools (its queue is renewed by `_queue`).
_clients_owning_http: weakref.WeakSet[AsyncMoesifClient] = weakref.WeakSet()


def _renew_connection_pools_after_fork() -> None:
    for client in list(_clients_owning_http):
        client._http = httpx.AsyncClient()
        client._http_loop = client._http_guard = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_connection_pools_after_fork)
