"""Keeping the app's config and rules fresh: when to fetch them, pure.

Moesif steers its SDKs from the server: `GET /config` (sampling, the cohorts of the
governance rules) and `GET /rules`. A client holds the latest of each and fetches again
when a write's answer carries a different `X-Moesif-Config-ETag` / `X-Moesif-Rules-Tag`
than the one held, at most once a minute, and in any case every five minutes while in
use. The clients run the fetches in the background (a thread, or a task); this module
only says when, keeps what came back, and logs what failed.

Nothing is fetched until something uses it: a client built with ``sampling=True``, or
a first call to `app_config()` or `governance_rules()`.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ._results import GovernanceRules
from ._sampling import event_fields, rate_for, weight_for
from .exceptions import ClientClosedError, ForbiddenError, UnauthorizedError, ValidationError
from .models import AppConfig, EventModel

if TYPE_CHECKING:
    from ._engine import Engine
    from ._queue import QueueCore

__all__ = ["CONFIG", "RULES", "Steering", "SteeringCalls"]

logger = logging.getLogger("moesifapi")

CONFIG = "config"
RULES = "rules"

AT_MOST_EVERY = 60.0
"""Seconds between two fetches of the same thing, at the least, whatever the tags say."""

AT_LEAST_EVERY = 300.0
"""Seconds after which a thing in use is fetched again even with no new tag."""

_NEVER = float("inf")


class _Track:
    """What is known of one fetched thing (the config, or the rules)."""

    __slots__ = ("attempted_at", "fetched", "held_tag", "in_flight", "seen_tag", "wanted")

    def __init__(self) -> None:
        self.wanted = False
        self.in_flight = False
        self.fetched = False  # a fetch has succeeded at least once
        self.attempted_at: float | None = None
        self.held_tag: str | None = None
        self.seen_tag: str | None = None

    def due(self, now: float) -> bool:
        if not self.wanted or self.in_flight:
            return False
        if self.attempted_at is None:
            return True
        since = now - self.attempted_at
        if since < AT_MOST_EVERY:
            return False
        return (
            since >= AT_LEAST_EVERY
            or not self.fetched  # the last try failed: try again
            or (self.seen_tag is not None and self.seen_tag != self.held_tag)
        )

    def next_look(self) -> float:
        """The earliest time `due` could turn true, with no new tag seen."""
        if not self.wanted or self.in_flight:
            return _NEVER
        if self.attempted_at is None:
            return -_NEVER
        stale = not self.fetched or (self.seen_tag is not None and self.seen_tag != self.held_tag)
        return self.attempted_at + (AT_MOST_EVERY if stale else AT_LEAST_EVERY)


class Steering:
    """A client's copy of the app's config and rules, and when to fetch them again.

    Thread-safe. `due()` is called on every use, so its common case is one clock read
    and one comparison, without the lock.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.clock = clock
        self.rand = rand
        self.config = AppConfig()
        self.rules = GovernanceRules(())
        self._tracks = {CONFIG: _Track(), RULES: _Track()}
        self._lock = threading.Lock()
        self._look_at = _NEVER  # before this time nothing can be due
        self._warned_unauthorized = False
        _all_steerings.add(self)

    def want(self, *kinds: str) -> None:
        """From now on keep `kinds` fresh (the first use starts a fetch)."""
        tracks = self._tracks
        if all(tracks[kind].wanted for kind in kinds):  # every call after the first
            return
        with self._lock:
            for kind in kinds:
                self._tracks[kind].wanted = True
            self._replan()

    def due(self) -> tuple[str, ...]:
        """What to fetch now; each one returned is marked in flight until it ends."""
        if self.clock() < self._look_at:
            return ()
        with self._lock:
            now = self.clock()
            kinds = tuple(kind for kind, track in self._tracks.items() if track.due(now))
            for kind in kinds:
                track = self._tracks[kind]
                track.in_flight = True
                track.attempted_at = now
            self._replan()
        return kinds

    def saw_tags(self, config_etag: str | None, rules_tag: str | None) -> None:
        """A write's answer carried these tags: a different one means a change."""
        with self._lock:
            for kind, tag in ((CONFIG, config_etag), (RULES, rules_tag)):
                if tag is not None:
                    self._tracks[kind].seen_tag = tag
            self._replan()

    def not_started(self, kinds: tuple[str, ...]) -> None:
        """`due` gave these, but no fetch could start (no event loop to run it)."""
        with self._lock:
            for kind in kinds:
                track = self._tracks[kind]
                track.in_flight = False
                track.attempted_at = None
            self._replan()

    def fetched(self, kind: str, value: AppConfig | GovernanceRules) -> None:
        with self._lock:
            track = self._tracks[kind]
            if isinstance(value, AppConfig):
                self.config = value
                track.held_tag = value.etag
            else:
                self.rules = value
                track.held_tag = value.tag
            if track.seen_tag is None:
                track.seen_tag = track.held_tag
            first = not track.fetched
            track.fetched = True
            track.in_flight = False
            self._replan()
        logger.debug("moesifapi: %s %s", "fetched" if first else "refreshed", _NAMES[kind])

    def failed(self, kind: str, error: BaseException) -> None:
        """A fetch failed: keep what is held (or the defaults), log, try again later."""
        with self._lock:
            track = self._tracks[kind]
            track.in_flight = False
            self._replan()
            warn_unauthorized = isinstance(error, (UnauthorizedError, ForbiddenError)) and not (
                self._warned_unauthorized
            )
            if warn_unauthorized:
                self._warned_unauthorized = True
        name = _NAMES[kind]
        if isinstance(error, ClientClosedError):
            logger.debug("moesifapi: no %s fetched: the client is closed", name)
        elif warn_unauthorized:
            logger.warning(
                "moesifapi: could not fetch the %s: %s; check your application id. "
                "Sampling and governance use the defaults until a fetch succeeds.",
                name,
                error,
            )
        else:
            logger.info(
                "moesifapi: could not fetch the %s (%s); trying again in %g s",
                name,
                error,
                AT_MOST_EVERY,
            )

    def sample(self, event: EventModel, *, owned: bool = False) -> EventModel | None:
        """`event` to send, with its `weight` set; None when it is sampled out.

        It is kept with the probability its sample rate gives. A kept event gets the
        weight it stands for, unless it has one; the caller's model is left as it was
        (a copy gets the weight) unless the event is `owned`, made for this call.
        """
        weight = self.weight(lambda: event_fields(event), event.user_id, event.company_id)
        if weight is None:
            return None
        if event.weight is None:
            if not owned:
                event = copy.copy(event)
            event.weight = weight
        return event

    def weight(
        self,
        fields: Callable[[], Mapping[str, str]],
        user_id: str | None,
        company_id: str | None,
    ) -> int | None:
        """The weight of an event with these parts if it is kept; None when it is
        sampled out (`sample`, for an event not built yet: see `rate_for`)."""
        rate = rate_for(self.config, fields, user_id, company_id)
        if rate < 100 and self.rand() * 100 >= rate:
            return None
        return weight_for(rate)

    def after_fork_in_child(self) -> None:
        # A fetch in flight in the parent is not running in the child.
        self._lock = threading.Lock()
        for track in self._tracks.values():
            if track.in_flight:
                track.in_flight = False
                track.attempted_at = None
        self._replan()

    def _replan(self) -> None:
        self._look_at = min(track.next_look() for track in self._tracks.values())


_NAMES = {CONFIG: "app config", RULES: "governance rules"}


class SteeringCalls:
    """`app_config()`, `governance_rules()` and sampling, the same on both clients.

    Each client runs the fetches its own way (`_fetch_in_background`): a thread for
    `MoesifClient`, a task on the running loop for `AsyncMoesifClient`. Both go
    through the client's delivery engine, with its retries and deadlines.
    """

    _steering: Steering
    _engine: Engine

    def _steer(self, queue: QueueCore, *, sampling: bool) -> None:
        if type(sampling) is not bool:
            raise ValidationError(f"must be True or False, got {sampling!r}", field="sampling")
        self._steering = Steering()
        self._engine.on_tags = self._saw_tags
        queue.sampler = self._steering.sample
        if sampling:
            self._steering.want(CONFIG)
            queue.sampling = True

    def app_config(self) -> AppConfig:
        """The app's config as last fetched, at once: no I/O on the caller's thread.

        The first call starts keeping it fresh in the background; until a fetch
        succeeds this is the default `AppConfig()`: sample everything.
        """
        self._steering.want(CONFIG)
        self._freshen()
        return self._steering.config

    def governance_rules(self) -> GovernanceRules:
        """The app's governance rules as last fetched, at once: no I/O here.

        The first call starts keeping the rules (and the config, which says who is
        in each rule's cohort) fresh in the background; until a fetch succeeds there
        are no rules.
        """
        self._steering.want(CONFIG, RULES)
        self._freshen()
        return self._steering.rules

    def _saw_tags(self, config_etag: str | None, rules_tag: str | None) -> None:
        self._steering.saw_tags(config_etag, rules_tag)
        self._freshen()

    def _freshen(self) -> None:
        kinds = self._steering.due()
        if kinds:
            self._fetch_in_background(kinds)

    def _fetch_in_background(self, kinds: tuple[str, ...]) -> None:
        raise NotImplementedError


_all_steerings: weakref.WeakSet[Steering] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for steering in list(_all_steerings):
        steering.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
