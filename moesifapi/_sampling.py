"""Sampling, pure: what share of API calls the app's config says to send.

`sample_rate_for` follows the official Python middlewares' order (moesifapi 1.5.5,
``app_config/``): the first dynamic (regex) sampling rule that matches the event, then
the user's own rate, then the company's, then the app's `sample_rate`. `weight_for`
is the weight a kept event carries, so that Moesif can count what was left out.

The regular expressions come from the server. One that does not compile is skipped
and logged once; nothing here raises for what the server sent.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from typing import TYPE_CHECKING

from .exceptions import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .models import AppConfig, EventModel, RegexCondition

__all__ = ["event_fields", "rate_for", "route_of", "sample_rate_for", "search", "weight_for"]

logger = logging.getLogger("moesifapi")

# The official helper's own pattern: scheme, host, then the path up to any query. A URI
# it does not match (no scheme, or nothing after the host but "/") has the route "/".
_ROUTE = re.compile(r"http[s]*://[^/]+(/[^?]+)")


def route_of(uri: str) -> str:
    """The route that sampling rules match: the URL's path without its query."""
    found = _ROUTE.match(uri)
    return found.group(1) if found is not None else "/"


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        # Some patterns compile with a FutureWarning (a possible nested set, "[[]")
        # or, on 3.10, a DeprecationWarning: never the host application's to see.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        # Cached with its answer, so each bad pattern is reported once.
        logger.warning(
            "moesifapi: skipping a rule from the server whose regular expression %r "
            "does not compile: %s",
            pattern,
            error,
        )
        return None


def search(pattern: str, text: str) -> re.Match[str] | None:
    """`re.search` of a server-sent `pattern` in `text`; None when the pattern is invalid."""
    compiled = _compiled(pattern)
    return None if compiled is None else compiled.search(text)


def event_fields(event: EventModel) -> dict[str, str]:
    """The values a sampling condition's `path` can name, for one event.

    Only the parts the event has are present: a condition on a missing one never
    matches.
    """
    request = event.request
    fields = {}
    if request.verb:
        fields["request.verb"] = request.verb
    if request.uri:
        fields["request.route"] = route_of(request.uri)
    if request.ip_address:
        fields["request.ip_address"] = request.ip_address
    response = event.response
    if response is not None and response.status:
        fields["response.status"] = str(response.status)
    return fields


def _conditions_hold(conditions: Iterable[RegexCondition], fields: Mapping[str, str]) -> bool:
    # As the official helper does: one pattern per path (a later condition on the same
    # path replaces an earlier one), every path must match, and a match must be
    # non-empty text: a pattern that can only match "" (such as "^") matches nothing.
    # A rule with no conditions matches nothing.
    by_path = {condition.path: condition.value for condition in conditions}
    if not by_path:
        return False
    for path, pattern in by_path.items():
        value = fields.get(path)
        if not value:
            return False
        found = search(pattern, value)
        if found is None or not found.group(0):
            return False
    return True


def _clamped(rate: int) -> int:
    return 0 if rate < 0 else 100 if rate > 100 else rate


def sample_rate_for(config: AppConfig, event: EventModel) -> int:
    """The percentage (0 to 100) of events like `event` to send, by `config`."""
    return rate_for(config, lambda: event_fields(event), event.user_id, event.company_id)


def rate_for(
    config: AppConfig,
    fields: Callable[[], Mapping[str, str]],
    user_id: str | None,
    company_id: str | None,
) -> int:
    """`sample_rate_for` from an event's parts: `fields` gives what `event_fields`
    would (called only when the config has regex rules), and the event's ids. The
    capture middleware samples with it before any event is built."""
    if config.regex_config:
        found = fields()
        for rule in config.regex_config:
            if _conditions_hold(rule.conditions, found):
                return _clamped(rule.sample_rate)
    if user_id:
        rate = config.user_sample_rate.get(user_id)
        if rate is not None:
            return _clamped(rate)
    if company_id:
        rate = config.company_sample_rate.get(company_id)
        if rate is not None:
            return _clamped(rate)
    return 100 if config.sample_rate is None else _clamped(config.sample_rate)


def weight_for(rate: int) -> int:
    """The `weight` of an event kept at `rate` %: ``floor(100 / rate)``, and 1 for 0.

    As Moesif's middlewares compute it: each event sent stands for `weight` events.
    Rates outside 0 to 100 are taken as the nearer bound.
    """
    if type(rate) is not int:
        raise ValidationError(f"must be an int percentage, got {rate!r}", field="rate")
    rate = _clamped(rate)
    return 1 if rate == 0 else 100 // rate
