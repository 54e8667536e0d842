"""Governance, pure: which of the app's rules apply to a request, and what they answer.

`evaluate` follows the official Python middlewares (moesifapi 1.5.5,
``governance_manager.py``): regex rules, then company rules, then user rules, each
applicable rule in turn adding its response headers and, when it blocks, setting the
status and body, so that a later rule wins. Where the official code raises (a rule id
it does not know) or stops early (the first listed rule that does not match ends the
scan), this module does what Moesif documents instead: see
docs/sampling-and-governance.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from ._sampling import search

if TYPE_CHECKING:
    from .models import (
        AppConfig,
        EntityRuleValues,
        EventRequestModel,
        GovernanceRule,
        RegexConditionGroup,
    )

__all__ = ["GovernanceDecision", "RuleIndex", "evaluate"]

logger = logging.getLogger("moesifapi")

_BODY = "request.body."
_HEADERS = "request.headers."
_UNKNOWN = "UNKNOWN"


def _read_only(headers: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(headers))


@attrs.frozen
class GovernanceDecision:
    """What the app's governance rules say about one request.

    `blocked_by` is the id of the rule that blocks it (the last one, when several
    do), or None. A blocked request is answered with `status`, `headers` and `body`
    instead of calling the app; otherwise `headers` are added to the app's answer.
    `applied` lists the ids of every rule that applied, in order.
    """

    blocked_by: str | None = None
    status: int | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_read_only)
    body: object = None
    applied: tuple[str | None, ...] = ()

    @property
    def blocked(self) -> bool:
        """Whether a rule blocks the request."""
        return self.blocked_by is not None

    def body_bytes(self) -> bytes:
        """The body as UTF-8 JSON, as a middleware sends it; empty when there is none."""
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


ALLOW = GovernanceDecision()
"""The decision when no rule applies."""


@attrs.frozen
class RuleIndex:
    """The rules sorted once by what they apply to."""

    regex: tuple[GovernanceRule, ...]
    user: dict[str | None, GovernanceRule]
    company: dict[str | None, GovernanceRule]
    unidentified_user: tuple[GovernanceRule, ...]
    unidentified_company: tuple[GovernanceRule, ...]

    @classmethod
    def of(cls, rules: Iterable[GovernanceRule]) -> RuleIndex:
        regex: list[GovernanceRule] = []
        user: dict[str | None, GovernanceRule] = {}
        company: dict[str | None, GovernanceRule] = {}
        for rule in rules:
            if rule.type == "regex":
                regex.append(rule)
            elif rule.type == "user":
                user[rule.id] = rule
            elif rule.type == "company":
                company[rule.id] = rule
        return cls(
            regex=tuple(regex),
            user=user,
            company=company,
            unidentified_user=tuple(r for r in user.values() if r.applied_to_unidentified),
            unidentified_company=tuple(r for r in company.values() if r.applied_to_unidentified),
        )

    @property
    def empty(self) -> bool:
        return not (self.regex or self.user or self.company)


class _Request:
    """The values a governance condition's `path` can name, looked up on demand."""

    __slots__ = ("_headers", "body", "fields", "request")

    def __init__(self, request: EventRequestModel) -> None:
        self.request = request
        self.body = request.body
        operation = self.body.get("operationName") if isinstance(self.body, dict) else None
        self.fields: dict[str, object] = {
            "request.verb": request.verb,
            "request.ip": request.ip_address,
            # The full URI, query included, as the official middlewares match it.
            "request.route": request.uri,
            "request.body.operationName": operation,
        }
        self._headers: dict[str, str] | None = None

    def value(self, path: str) -> object:
        if path.startswith(_BODY) and self.body and isinstance(self.body, dict):
            return self.body.get(path[len(_BODY) :])
        if path.startswith(_HEADERS) and self.request.headers:
            if self._headers is None:
                self._headers = {k.lower(): v for k, v in self.request.headers.items()}
            return self._headers.get(path[len(_HEADERS) :].lower())
        return self.fields.get(path)


def _text(value: object) -> str | None:
    # Strings match as they are; numbers and booleans (a JSON body's fields) as their
    # JSON text. Objects, arrays and null match nothing.
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return None


def _matches(regex_config: Sequence[RegexConditionGroup], request: _Request) -> bool:
    # An OR of groups, each an AND of conditions. No groups: every request. A group
    # with no conditions: none.
    if not regex_config:
        return True
    for group in regex_config:
        if not group.conditions:
            continue
        for condition in group.conditions:
            value = request.value(condition.path)
            if not value:
                break
            text = _text(value)
            if text is None or search(condition.value, text) is None:
                break
        else:
            return True
    return False


def _entity_rules(
    by_id: Mapping[str | None, GovernanceRule],
    entries: Sequence[EntityRuleValues],
    request: _Request,
) -> list[GovernanceRule]:
    # Listed entries put the user (or company) in a rule's cohort: a "matching" rule
    # applies, in the order listed. Then each "not_matching" rule it is not listed
    # for applies, in the rules' own order. A rule also needs its regex_config to match.
    applicable = []
    cohorts = set()
    for entry in entries:
        cohorts.add(entry.rules)
        rule = by_id.get(entry.rules)
        if rule is None:
            logger.debug(
                "moesifapi: config lists governance rule %r, not in the rules", entry.rules
            )
            continue
        if rule.applied_to != "not_matching" and _matches(rule.regex_config, request):
            applicable.append(rule)
    for rule in by_id.values():
        if (
            rule.applied_to == "not_matching"
            and rule.id not in cohorts
            and _matches(rule.regex_config, request)
        ):
            applicable.append(rule)
    return applicable


def _filled_text(text: str, names: Sequence[str], values: Mapping[str, str]) -> str:
    for name in names:
        text = text.replace("{{" + name + "}}", values.get(name, _UNKNOWN))
    return text


def _filled(value: object, names: Sequence[str], values: Mapping[str, str]) -> object:
    """`value` with ``{{name}}`` replaced, for each variable the rule declares."""
    if not value:
        return value
    if isinstance(value, str):
        return _filled_text(value, names, values)
    if type(value) is dict:
        return {key: _filled(item, names, values) for key, item in value.items()}
    if type(value) is list:
        return [_filled(item, names, values) for item in value]
    return value


class _Answer:
    __slots__ = ("applied", "blocked_by", "body", "headers", "status")

    def __init__(self) -> None:
        self.blocked_by: str | None = None
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body: object = None
        self.applied: list[str | None] = []

    def apply(
        self, rules: Iterable[GovernanceRule], entries: Sequence[EntityRuleValues] = ()
    ) -> None:
        for rule in rules:
            values: Mapping[str, str] = {}
            for entry in entries:  # the last entry for the rule with values fills them
                if entry.rules == rule.id and entry.values:
                    values = entry.values
            names = [variable.name for variable in rule.variables]
            response = rule.response
            self.applied.append(rule.id)
            if response is not None and response.headers:
                for key, header in response.headers.items():
                    self.headers[key] = _filled_text(header, names, values) if names else header
            if rule.block:
                # A blocking rule with no id still blocks; it is named by its position.
                self.blocked_by = rule.id if rule.id is not None else f"rule {len(self.applied)}"
                self.status = None if response is None else response.status
                self.body = None if response is None else _filled(response.body, names, values)

    def decision(self) -> GovernanceDecision:
        if not self.applied:
            return ALLOW
        return GovernanceDecision(
            blocked_by=self.blocked_by,
            status=self.status,
            headers=self.headers,
            body=self.body,
            applied=tuple(self.applied),
        )


def evaluate(
    index: RuleIndex,
    request: EventRequestModel,
    *,
    user_id: str | None,
    company_id: str | None,
    config: AppConfig,
) -> GovernanceDecision:
    """What the rules in `index` say about `request` from this user and company."""
    if index.empty:
        return ALLOW
    seen = _Request(request)
    answer = _Answer()
    answer.apply(rule for rule in index.regex if _matches(rule.regex_config, seen))
    if company_id is None:
        unidentified = index.unidentified_company
        answer.apply(rule for rule in unidentified if _matches(rule.regex_config, seen))
    else:
        entries = config.company_rules.get(company_id, ())
        answer.apply(_entity_rules(index.company, entries, seen), entries)
    if user_id is None:
        unidentified = index.unidentified_user
        answer.apply(rule for rule in unidentified if _matches(rule.regex_config, seen))
    else:
        entries = config.user_rules.get(user_id, ())
        answer.apply(_entity_rules(index.user, entries, seen), entries)
    return answer.decision()
