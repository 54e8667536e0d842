"""What the sandbox keeps: events and actions in arrival order, profiles by id.

Profiles follow the reference's upsert rule: a recursive merge in which newer fields
override older ones, while every session token ever sent is kept in an alias list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["ProfileTable", "SandboxStore", "merge_profile"]

JSONObject = dict[str, Any]


def merge_profile(old: Mapping[str, Any], update: Mapping[str, Any]) -> JSONObject:
    """`update` merged on top of `old`, recursing into objects present in both.

    Arrays and scalars are replaced whole. A null in `update` means "not sent" and
    leaves the old value (or absence) alone. Neither argument is modified, so
    snapshots handed out earlier never change under a reader.

    >>> merge_profile({"metadata": {"a": 1, "b": 2}}, {"metadata": {"b": 3}})
    {'metadata': {'a': 1, 'b': 3}}
    """
    merged = dict(old)
    for key, value in update.items():
        if value is None:
            continue
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = merge_profile(current, value)
        elif isinstance(value, dict):
            # Strip nulls from a fresh object too, so the rule holds at every depth.
            merged[key] = merge_profile({}, value)
        else:
            merged[key] = value
    return merged


class ProfileTable:
    """Profiles of one kind (users, companies or subscriptions), upserted by id."""

    def __init__(self, id_field: str) -> None:
        self.id_field = id_field
        self._profiles: dict[str, JSONObject] = {}
        self._session_tokens: dict[str, list[str]] = {}

    def upsert(self, update: Mapping[str, Any]) -> None:
        key = str(update[self.id_field])
        self._profiles[key] = merge_profile(self._profiles.get(key, {}), update)
        token = update.get("session_token")
        if isinstance(token, str) and token:
            tokens = self._session_tokens.setdefault(key, [])
            if token not in tokens:
                tokens.append(token)

    def snapshot(self) -> dict[str, JSONObject]:
        return dict(self._profiles)

    def session_tokens(self, key: str) -> list[str]:
        return list(self._session_tokens.get(key, ()))

    def clear(self) -> None:
        self._profiles.clear()
        self._session_tokens.clear()


class SandboxStore:
    """Every accepted item. Not locked itself: the collector serializes access."""

    def __init__(self) -> None:
        self.events: list[JSONObject] = []
        self.actions: list[JSONObject] = []
        self.users = ProfileTable("user_id")
        self.companies = ProfileTable("company_id")
        self.subscriptions = ProfileTable("subscription_id")

    def add(self, kind: str, item: JSONObject) -> None:
        """Keep one validated item of `kind` ("event", "action", "user", ...)."""
        if kind == "event":
            self.events.append(item)
        elif kind == "action":
            self.actions.append(item)
        else:
            self._table(kind).upsert(item)

    def _table(self, kind: str) -> ProfileTable:
        tables = {
            "user": self.users,
            "company": self.companies,
            "subscription": self.subscriptions,
        }
        return tables[kind]

    def clear(self) -> None:
        self.events.clear()
        self.actions.clear()
        self.users.clear()
        self.companies.clear()
        self.subscriptions.clear()

    def export(self) -> Iterator[JSONObject]:
        """One record per stored item, in a stable order, for NDJSON dumps."""
        for event in self.events:
            yield {"type": "event", "data": event}
        for action in self.actions:
            yield {"type": "action", "data": action}
        for kind, table in (
            ("user", self.users),
            ("company", self.companies),
            ("subscription", self.subscriptions),
        ):
            for key, profile in table.snapshot().items():
                record: JSONObject = {"type": kind, "data": profile}
                tokens = table.session_tokens(key)
                if tokens:
                    record["session_tokens"] = tokens
                yield record
