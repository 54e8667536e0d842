"""What the clients' calls return: small typed records of what the server said.

Write calls return a `WriteResult`, batch calls a `BatchResult`,
`get_governance_rules()` a `GovernanceRules` sequence and `check_health()` a `Health`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import attrs

from .models import GovernanceRule, Health

__all__ = ["BatchResult", "GovernanceRules", "Health", "WriteResult"]


@attrs.frozen
class WriteResult:
    """The answer to one write request.

    `config_etag` is the `X-Moesif-Config-ETag` header: when it differs from the
    `AppConfig.etag` you hold, the app config changed. `rules_tag` is likewise the
    `X-Moesif-Rules-Tag` header.
    """

    status_code: int
    config_etag: str | None = None
    rules_tag: str | None = None


@attrs.frozen
class BatchResult:
    """What a batch call sent: `items` in `requests` requests (sub-batches).

    `status_code`, `config_etag` and `rules_tag` come from the last answer; an empty
    batch sends nothing and has a `status_code` of None.
    """

    items: int
    requests: int
    status_code: int | None = None
    config_etag: str | None = None
    rules_tag: str | None = None


@attrs.frozen
class GovernanceRules(Sequence[GovernanceRule]):
    """The app's governance rules, with the `X-Moesif-Rules-Tag` they were served with."""

    rules: tuple[GovernanceRule, ...]
    tag: str | None = None

    @overload
    def __getitem__(self, index: int) -> GovernanceRule: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[GovernanceRule]: ...

    def __getitem__(self, index: int | slice) -> GovernanceRule | Sequence[GovernanceRule]:
        return self.rules[index]

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[GovernanceRule]:
        return iter(self.rules)
