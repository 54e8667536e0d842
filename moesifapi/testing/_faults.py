"""Injected failures: scripted next-N faults, seeded random faults and added latency.

The plan only decides; the collector turns a decision into an answer, and the
transports and the server carry it out, so a fault looks the same on every path.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TypeAlias

__all__ = ["DROP", "Fault", "FaultPlan", "RetryAfter", "format_retry_after"]

RetryAfter: TypeAlias = int | float | str | datetime


@dataclass(frozen=True)
class Fault:
    """One injected failure: answer `status` (with Retry-After), or, if `status` is
    None, close the connection without answering."""

    status: int | None
    retry_after: str | None = None


DROP = Fault(status=None)


def format_retry_after(value: RetryAfter | None) -> str | None:
    """The Retry-After header text for seconds, an aware datetime, or a raw string."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("retry_after datetime must be timezone-aware")
        return format_datetime(value.astimezone(timezone.utc), usegmt=True)
    if isinstance(value, bool) or value < 0 or not math.isfinite(value):
        raise ValueError(f"retry_after must be a non-negative number of seconds, got {value!r}")
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_status(status: int) -> int:
    if isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"status must be an HTTP status code (100-599), got {status!r}")
    return status


def _check_fraction(fraction: float) -> float:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    return fraction


class _RandomFault:
    def __init__(self, fraction: float, fault: Fault, seed: int) -> None:
        self.fraction = _check_fraction(fraction)
        self.fault = fault
        self.rng = random.Random(seed)

    def roll(self) -> bool:
        return self.rng.random() < self.fraction


class FaultPlan:
    """Which fault, if any, the next request gets. Callers hold the collector's lock."""

    def __init__(self) -> None:
        self._scripted: deque[Fault] = deque()
        self._random_drop: _RandomFault | None = None
        self._random_failure: _RandomFault | None = None
        self._latency = 0.0

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"latency must be a non-negative number of seconds, got {seconds!r}")
        self._latency = float(seconds)

    @property
    def pending(self) -> int:
        return len(self._scripted)

    def fail_next(self, count: int, status: int, retry_after: RetryAfter | None) -> None:
        fault = Fault(_check_status(status), format_retry_after(retry_after))
        self._scripted.extend([fault] * _check_count(count))

    def drop_next(self, count: int) -> None:
        self._scripted.extend([DROP] * _check_count(count))

    def fail_randomly(
        self, fraction: float, status: int, seed: int, retry_after: RetryAfter | None
    ) -> None:
        fault = Fault(_check_status(status), format_retry_after(retry_after))
        self._random_failure = _RandomFault(fraction, fault, seed) if fraction else None

    def drop_randomly(self, fraction: float, seed: int) -> None:
        self._random_drop = _RandomFault(fraction, DROP, seed) if fraction else None

    def next_fault(self) -> Fault | None:
        """The fault for the request arriving now, consuming one scripted fault if any.

        Scripted faults come first, in the order they were asked for. Each random
        mode draws once per request whatever else happens, so its sequence depends
        only on its seed and the number of requests.
        """
        dropped = self._random_drop is not None and self._random_drop.roll()
        failed = self._random_failure is not None and self._random_failure.roll()
        if self._scripted:
            return self._scripted.popleft()
        if dropped:
            return DROP
        if failed and self._random_failure is not None:
            return self._random_failure.fault
        return None

    def clear(self) -> None:
        self._scripted.clear()
        self._random_drop = None
        self._random_failure = None
        self._latency = 0.0


def _check_count(count: int) -> int:
    if isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    return count
