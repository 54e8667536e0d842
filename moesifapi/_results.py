"""What the clients' calls return: small typed records of what the server said.

Write calls return a `WriteResult`, batch calls a `BatchResult`,
`get_governance_rules()` a `GovernanceRules` sequence and `check_health()` a `Health`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import attrs

from ._governance import GovernanceDecision, RuleIndex, evaluate
from .models import AppConfig, EventRequestModel, GovernanceRule, Health

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
    _index: RuleIndex | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def evaluate(
        self,
        request: EventRequestModel,
        *,
        user_id: str | None = None,
        company_id: str | None = None,
        config: AppConfig,
    ) -> GovernanceDecision:
        """What these rules say about `request` from this user and company.

        `config` is the app's `AppConfig`: its `user_rules` and `company_rules` say
        which rules' cohorts a user or company is in, and fill the rules' variables.
        A `user_id` or `company_id` of None is unidentified. Pure: no I/O.
        """
        index = self._index
        if index is None:
            index = RuleIndex.of(self.rules)
            object.__setattr__(self, "_index", index)
        return evaluate(index, request, user_id=user_id, company_id=company_id, config=config)

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
