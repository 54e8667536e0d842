"""`AsyncMoesifClient`: the asyncio client, a thin driver over `httpx.AsyncClient`.

Every decision (validation, encoding, batching, retries, deadlines, errors) is made by
the pure core (`_protocol`) and the delivery engine (`_engine`); this module only
carries out the engine's effects: it awaits the bytes and sleeps between attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from . import _constants as c
from . import _protocol as p
from ._bounds import BodyReader, attempt_timed_out
from ._engine import Answer, Concurrently, Engine, Overlap, Plan, Send, Wait
from ._queue import BeforeSend, OnError, QueueCalls, QueueCore, QueueSettings, TaskQueue
from ._results import BatchResult, GovernanceRules, Health, WriteResult
from ._steering import CONFIG, SteeringCalls
from ._switching import quick_switches
from .exceptions import ClientClosedError
from .models import ActionModel, AppConfig, CompanyModel, EventModel, SubscriptionModel, UserModel

__all__ = ["AsyncMoesifClient"]


class AsyncMoesifClient(SteeringCalls, QueueCalls):
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
        gzip_level: int = c.GZIP_LEVEL,
        max_batch_bytes: int = c.DEFAULT_MAX_BATCH_BYTES,
        flush_interval: float = c.DEFAULT_FLUSH_INTERVAL,
        max_queue_size: int = c.DEFAULT_MAX_QUEUE_SIZE,
        on_error: OnError | None = None,
        before_send: BeforeSend | None = None,
        exit_timeout: float = c.DEFAULT_EXIT_TIMEOUT,
        user_agent_suffix: str | None = None,
        sampling: bool = False,
        http_client: httpx.AsyncClient | None = None,
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
        self._queue = TaskQueue(
            QueueCore(queue_settings, settings.max_batch_bytes),
            self._engine,
            self._drive,
        )
        self._steer(self._queue.core, sampling=sampling)
        self._fetches: set[asyncio.Task[None]] = set()
        self._sleeping: set[asyncio.Future[None]] = set()  # what a close wakes
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        # The loop the owned pool's connections belong to, and what closes them when
        # that loop shuts down; see `_pool`.
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._http_guard: AsyncGenerator[None, None] | None = None
        _live_clients.add(self)

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)

    # --- lifecycle ---

    async def aclose(self, timeout: float | None = None) -> None:
        """Deliver what is queued within `timeout` (default `exit_timeout`), then
        release the connection pool: as `MoesifClient.close`, awaited."""
        seconds = self._queue.core.settings.close_timeout(timeout)
        deadline = self._engine.begin_close(seconds)
        self._ring()
        await self._cancel_fetches()
        await self._queue.aclose(deadline, seconds)
        if self._owns_http and self._http_loop in (None, asyncio.get_running_loop()):
            await self._http.aclose()  # (another loop's connections can only be dropped)

    def _close_on_a_loop_of_its_own(self) -> None:
        # For `close_on_sigterm`, on a thread of its own: the loop the client ran on is
        # stopped in the signal handler, so the close starts over on a new loop (as
        # on any other loop); batches the stopped loop had in flight are reported.
        asyncio.run(self.aclose())

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
        return await self._drive(self._engine.read(p.CONFIG_PATH, self._core.app_config))

    async def get_governance_rules(self) -> GovernanceRules:
        """The app's governance rules (``GET /rules``); `tag` holds their tag."""
        return await self._drive(self._engine.read(p.RULES_PATH, self._core.governance_rules))

    async def check_health(self) -> Health:
        """Whether the Collector API is up (``GET /health/probe`` at the host root)."""
        return await self._drive(self._engine.check_health())

    # --- background queue: the queue_* calls come from QueueCalls; a task delivers ---

    async def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued so far; True if all of it was delivered in time."""
        return await self._queue.flush(timeout)

    # --- the driver: the only I/O ---

    async def _write(
        self, endpoint: p.Endpoint[p.M], item: p.M | Mapping[str, object]
    ) -> WriteResult:
        self._freshen()
        return await self._drive(self._engine.write(endpoint, item))

    async def _write_batch(
        self, endpoint: p.Endpoint[p.M], items: Sequence[p.M | Mapping[str, object]]
    ) -> BatchResult:
        self._freshen()
        return await self._drive(self._engine.batch(endpoint, items))

    async def _cancel_fetches(self) -> None:
        # Config and rules are no use any more. A fetch on another loop is cancelled
        # there; one on this loop is waited for, which takes one turn of the loop.
        loop = asyncio.get_running_loop()
        here = []
        for fetch in list(self._fetches):
            if fetch.get_loop() is loop:
                fetch.cancel()
                here.append(fetch)
            else:
                with contextlib.suppress(RuntimeError):  # that loop is closed already
                    fetch.get_loop().call_soon_threadsafe(fetch.cancel)
        if here:
            await asyncio.wait(here)

    def _fetch_in_background(self, kinds: tuple[str, ...]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used outside a loop: the next use inside one fetches
            self._steering.not_started(kinds)
            return
        task = loop.create_task(self._fetch(kinds), name="moesifapi-config")
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

    async def _fetch(self, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            try:
                if kind == CONFIG:
                    self._steering.fetched(kind, await self.get_app_config())
                else:
                    self._steering.fetched(kind, await self.get_governance_rules())
            except asyncio.CancelledError:  # the loop is ending, or aclose()
                self._steering.failed(kind, ClientClosedError("the fetch was cancelled"))
                raise
            except Exception as error:  # never into the host application
                self._steering.failed(kind, error)

    async def _drive(self, plan: Plan[T]) -> T:
        """Carry out a plan's effects until it returns (or raises) its outcome."""
        answer: Answer = None
        while True:
            try:
                effect = plan.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(effect, Send):
                answer = await self._transmit(effect)
            elif isinstance(effect, Wait):
                answer = await self._sleep(effect.seconds)
            elif isinstance(effect, Overlap):
                await self._overlap(effect)
                answer = None
            else:
                await self._run_lanes(effect)
                answer = None

    @staticmethod
    async def _overlap(effect: Overlap) -> None:
        # gzip on a thread of its own, as in the sync client (the loop's default
        # executor may be busy with other work, and would then hold the gzip up), while
        # the loop's thread encodes; then the last sub-batch's gzip awaited. Cancelled
        # in that wait, the thread stops after the run it is on, by itself; nothing was
        # sent.
        pipeline = effect.pipeline
        loop = asyncio.get_running_loop()
        compressed: asyncio.Future[None] = loop.create_future()

        def compress() -> None:
            try:
                pipeline.compress()  # never raises
            finally:
                with contextlib.suppress(RuntimeError):  # that loop is closed already
                    loop.call_soon_threadsafe(_wake, compressed)

        worker = threading.Thread(target=compress, name="moesifapi-gzip", daemon=True)
        with quick_switches():  # as in the sync client: GIL hand-offs within 0.5 ms
            try:
                worker.start()
            except RuntimeError:  # no thread to be had: the engine plans on one thread
                return
            pipeline.encode()
            try:
                await compressed
            except BaseException:
                pipeline.abort()
                raise
            worker.join()  # it has told us it is done: it is ending, or has ended

    async def _run_lanes(self, effect: Concurrently) -> None:
        # A few requests in flight at once: against a distant server each is mostly
        # waiting. A lane starts (and decides whether to) only once it holds a slot.
        slots = asyncio.Semaphore(effect.limit)

        async def run(lane: Plan[None]) -> None:
            async with slots:
                await self._drive(lane)

        await asyncio.gather(*(run(lane) for lane in effect.lanes))

    async def _transmit(self, send: Send) -> httpx.Response | Exception:
        http = await self._pool()
        try:
            # Cancelled past the attempt's total deadline, whatever phase it is in.
            return await asyncio.wait_for(self._exchange(http, send), send.total)
        except asyncio.TimeoutError:
            return attempt_timed_out(send.total)
        except Exception as error:  # the engine decides what it means
            return error

    @staticmethod
    async def _exchange(http: httpx.AsyncClient, send: Send) -> httpx.Response:
        request = send.request
        async with http.stream(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            timeout=send.timeout,
            follow_redirects=False,
        ) as response:
            reader = BodyReader(response, request.max_answer_bytes, request.describe)
            if response.is_stream_consumed:
                return reader.already_read(response)
            async for chunk in response.aiter_raw():
                if reader.feed(chunk):
                    break
            return reader.response(response)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep `seconds`; True if a close woke it first."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleeping.add(woken)
        try:
            done, _ = await asyncio.wait((woken,), timeout=seconds)
            return bool(done)
        finally:
            self._sleeping.discard(woken)
            woken.cancel()

    def _ring(self) -> None:
        for woken in list(self._sleeping):  # from any thread, onto each sleep's own loop
            with contextlib.suppress(RuntimeError):  # that loop is closed already
                woken.get_loop().call_soon_threadsafe(_wake, woken)

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


async def _close_when_the_loop_ends(http: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    opened_by = os.getpid()
    try:
        yield
    finally:  # run by the loop's shutdown_asyncgens(), in that loop
        if os.getpid() == opened_by:  # a forked child leaves the parent's sockets alone
            await http.aclose()


T = TypeVar("T")


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


# As in `_client`: a forked child gets fresh pools (its queue is renewed by `_queue`).
_live_clients: weakref.WeakSet[AsyncMoesifClient] = weakref.WeakSet()


def _renew_after_fork() -> None:
    for client in list(_live_clients):
        if client._owns_http:
            client._http = httpx.AsyncClient()
            client._http_loop = client._http_guard = None
        client._sleeping = set()
        client._fetches = set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_after_fork)
