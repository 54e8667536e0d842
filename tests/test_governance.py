"""Governance: which of the app's rules apply to a request, and what they answer.

Inputs are built from the wire format, as `GET /rules` and `GET /config` return them.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moesifapi._sampling as sampling
from moesifapi import (
    AppConfig,
    EventRequestModel,
    GovernanceRule,
    GovernanceRules,
    from_dict,
)
from moesifapi._governance import ALLOW, GovernanceDecision, RuleIndex

T = "2024-05-01T12:00:00Z"
URI = "https://api.example.com/v1/items?page=2"


@pytest.fixture(autouse=True)
def _fresh_regex_cache() -> Iterator[None]:
    sampling._compiled.cache_clear()
    yield
    sampling._compiled.cache_clear()


def request(
    *,
    uri: str = URI,
    verb: str = "GET",
    headers: dict[str, str] | None = None,
    ip: str | None = None,
    body: object = None,
) -> EventRequestModel:
    data: dict[str, Any] = {"time": T, "uri": uri, "verb": verb, "headers": headers or {}}
    if ip is not None:
        data["ip_address"] = ip
    if body is not None:
        data["body"] = body
    return from_dict(EventRequestModel, data)


def rule(
    rule_id: str,
    kind: str = "regex",
    *,
    block: bool = True,
    applied_to: str | None = None,
    unidentified: bool | None = None,
    status: int | None = 403,
    headers: dict[str, str] | None = None,
    body: object = None,
    regex: list[list[tuple[str, str]]] | None = None,
    variables: list[str] | None = None,
    response: bool = True,
) -> dict[str, Any]:
    """A rule as `GET /rules` returns it; `regex` is groups of (path, pattern) conditions."""
    wire: dict[str, Any] = {"_id": rule_id, "name": rule_id, "type": kind, "block": block}
    if applied_to is not None:
        wire["applied_to"] = applied_to
    if unidentified is not None:
        wire["applied_to_unidentified"] = unidentified
    if response:
        answer: dict[str, Any] = {"status": status, "headers": headers or {}}
        if body is not None:
            answer["body"] = body
        wire["response"] = answer
    if regex is not None:
        wire["regex_config"] = [
            {"conditions": [{"path": path, "value": value} for path, value in group]}
            for group in regex
        ]
    if variables is not None:
        wire["variables"] = [{"name": name, "path": "user_id"} for name in variables]
    return wire


def ruleset(*wires: dict[str, Any]) -> GovernanceRules:
    return GovernanceRules(tuple(from_dict(GovernanceRule, wire) for wire in wires))


def entries(*rule_ids: str, **values: dict[str, str]) -> list[dict[str, Any]]:
    """A user's or company's entries: one per rule id, `values` keyed by rule id."""
    return [{"rules": rule_id, "values": values.get(rule_id, {})} for rule_id in rule_ids]


def config(
    user_rules: dict[str, Any] | None = None, company_rules: dict[str, Any] | None = None
) -> AppConfig:
    return from_dict(
        AppConfig, {"user_rules": user_rules or {}, "company_rules": company_rules or {}}
    )


NO_CONFIG = config()


def decide(
    rules: GovernanceRules,
    req: EventRequestModel | None = None,
    *,
    user_id: str | None = None,
    company_id: str | None = None,
    cfg: AppConfig = NO_CONFIG,
) -> GovernanceDecision:
    return rules.evaluate(
        req if req is not None else request(), user_id=user_id, company_id=company_id, config=cfg
    )


# --- nothing applies ---


def test_no_rules_is_the_shared_allow() -> None:
    decision = decide(ruleset())
    assert decision is ALLOW
    assert decision.blocked_by is None
    assert decision.status is None
    assert decision.headers == {}
    assert decision.body is None
    assert decision.applied == ()
    assert not decision.blocked
    assert decision.body_bytes() == b""


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param(ruleset(rule("r", regex=[[("request.verb", "^POST$")]])), id="regex-miss"),
        pytest.param(ruleset(rule("u", "user", applied_to="matching")), id="user-not-listed"),
        pytest.param(ruleset(rule("c", "company", applied_to="matching")), id="co-not-listed"),
    ],
)
def test_rules_that_do_not_apply_allow(rules: GovernanceRules) -> None:
    assert decide(rules, user_id="alice", company_id="acme") is ALLOW


# --- order and merging ---

REGEX = rule("rx", "regex", status=401, body={"by": "rx"}, headers={"X-Rx": "1"})
COMPANY = rule("co", "company", status=402, body={"by": "co"}, headers={"X-Co": "1"})
USER = rule("us", "user", status=429, body={"by": "us"}, headers={"X-Us": "1"})
LISTED = config(user_rules={"alice": entries("us")}, company_rules={"acme": entries("co")})


@pytest.mark.parametrize(
    ("wires", "winner", "applied"),
    [
        pytest.param([REGEX, COMPANY, USER], "us", ("rx", "co", "us"), id="all"),
        pytest.param([USER, COMPANY, REGEX], "us", ("rx", "co", "us"), id="list-order-ignored"),
        pytest.param([COMPANY, REGEX], "co", ("rx", "co"), id="company-over-regex"),
        pytest.param([USER, REGEX], "us", ("rx", "us"), id="user-over-regex"),
        pytest.param([USER, COMPANY], "us", ("co", "us"), id="user-over-company"),
        pytest.param([REGEX], "rx", ("rx",), id="regex-only"),
    ],
)
def test_regex_then_company_then_user_later_wins(
    wires: list[dict[str, Any]], winner: str, applied: tuple[str, ...]
) -> None:
    decision = decide(ruleset(*wires), user_id="alice", company_id="acme", cfg=LISTED)
    statuses = {"rx": 401, "co": 402, "us": 429}
    assert decision.applied == applied
    assert decision.blocked_by == winner
    assert decision.blocked
    assert decision.status == statuses[winner]
    assert decision.body == {"by": winner}
    assert decision.headers == {f"X-{name.capitalize()}": "1" for name in applied}


def test_headers_of_all_rules_merge_later_overwrites() -> None:
    rules = ruleset(
        rule("a", block=False, headers={"X-A": "a", "X-Shared": "a"}),
        rule("b", block=False, headers={"X-B": "b", "X-Shared": "b"}),
        rule("u", "user", block=False, headers={"X-Shared": "u"}),
    )
    decision = decide(rules, user_id="alice", cfg=config(user_rules={"alice": entries("u")}))
    assert decision.headers == {"X-A": "a", "X-B": "b", "X-Shared": "u"}
    assert decision.applied == ("a", "b", "u")


def test_non_blocking_rules_only_add_headers() -> None:
    decision = decide(
        ruleset(rule("n", block=False, status=429, body={"no": 1}, headers={"X-N": "1"}))
    )
    assert decision.applied == ("n",)
    assert decision.headers == {"X-N": "1"}
    assert decision.blocked_by is None
    assert not decision.blocked
    assert decision.status is None
    assert decision.body is None
    assert decision.body_bytes() == b""


def test_later_non_blocking_rule_keeps_the_block() -> None:
    rules = ruleset(
        rule("b", status=403, body={"e": "b"}, headers={"X-B": "1"}),
        rule("n", block=False, status=200, body={"e": "n"}, headers={"X-N": "1"}),
    )
    decision = decide(rules)
    assert (decision.blocked_by, decision.status, decision.body) == ("b", 403, {"e": "b"})
    assert decision.headers == {"X-B": "1", "X-N": "1"}
    assert decision.applied == ("b", "n")


def test_later_blocking_rule_wins_status_and_body() -> None:
    rules = ruleset(rule("first", status=401, body="one"), rule("second", status=429, body="two"))
    decision = decide(rules)
    assert (decision.blocked_by, decision.status, decision.body) == ("second", 429, "two")


def test_blocking_rule_without_response() -> None:
    decision = decide(ruleset(rule("b", response=False)))
    assert decision.blocked_by == "b"
    assert decision.status is None
    assert decision.headers == {}
    assert decision.body_bytes() == b""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "Too many", "n": [1, 2]}, b'{"error":"Too many","n":[1,2]}'),
        ("blocked", b'"blocked"'),
        ([1, {"a": None}], b'[1,{"a":null}]'),
        (None, b""),
    ],
)
def test_body_bytes_is_compact_json(body: object, expected: bytes) -> None:
    assert decide(ruleset(rule("b", body=body))).body_bytes() == expected


# --- who a user or company rule applies to ---

U_MATCH = rule("um", "user", applied_to="matching", unidentified=True)
U_MATCH_NO_UNID = rule("um2", "user", applied_to="matching", unidentified=False)
U_NOT = rule("un", "user", applied_to="not_matching")
U_NOT_UNID = rule("un2", "user", applied_to="not_matching", unidentified=True)
C_MATCH = rule("cm", "company", applied_to="matching", unidentified=True)
C_NOT = rule("cn", "company", applied_to="not_matching")
EVERYONE = [U_MATCH, U_MATCH_NO_UNID, U_NOT, U_NOT_UNID, C_MATCH, C_NOT]
COHORTS = config(
    user_rules={"alice": entries("um", "um2"), "bob": entries("un", "un2")},
    company_rules={"acme": entries("cm"), "globex": entries("cn")},
)


@pytest.mark.parametrize(
    ("user_id", "company_id", "applied"),
    [
        pytest.param(None, None, ("cm", "um", "un2"), id="unidentified-both"),
        pytest.param("alice", None, ("cm", "um", "um2", "un", "un2"), id="listed-user"),
        pytest.param("bob", None, ("cm",), id="user-listed-for-not-matching"),
        pytest.param("carol", None, ("cm", "un", "un2"), id="unlisted-user"),
        pytest.param(None, "acme", ("cm", "cn", "um", "un2"), id="listed-company"),
        pytest.param(None, "globex", ("um", "un2"), id="company-listed-for-not-matching"),
        pytest.param(None, "initech", ("cn", "um", "un2"), id="unlisted-company"),
        pytest.param("carol", "initech", ("cn", "un", "un2"), id="both-unlisted"),
        pytest.param("", None, ("cm", "un", "un2"), id="empty-user-id-is-identified"),
    ],
)
def test_which_entity_rules_apply(
    user_id: str | None, company_id: str | None, applied: tuple[str, ...]
) -> None:
    decision = decide(ruleset(*EVERYONE), user_id=user_id, company_id=company_id, cfg=COHORTS)
    assert decision.applied == applied


def test_unidentified_rules_need_their_regex_to_match() -> None:
    rules = ruleset(
        rule("miss", "user", unidentified=True, regex=[[("request.verb", "^POST$")]]),
        rule("hit", "user", unidentified=True, regex=[[("request.verb", "^GET$")]]),
        rule("cmiss", "company", unidentified=True, regex=[[("request.route", "nope")]]),
    )
    assert decide(rules).applied == ("hit",)


def test_matching_rules_apply_in_listed_order_then_not_matching_in_rule_order() -> None:
    rules = ruleset(
        rule("n1", "user", applied_to="not_matching"),
        rule("a", "user", applied_to="matching"),
        rule("n2", "user", applied_to="not_matching"),
        rule("b", "user", applied_to="matching"),
        rule("n3", "user", applied_to="not_matching"),
    )
    cfg = config(user_rules={"alice": entries("b", "n2", "a")})
    decision = decide(rules, user_id="alice", cfg=cfg)
    assert decision.applied == ("b", "a", "n1", "n3")
    assert decision.blocked_by == "n3"


@pytest.mark.parametrize(
    ("listed", "applied"),
    [
        pytest.param(("ghost", "a"), ("a",), id="unknown-id-skipped"),
        pytest.param(("a", "ghost", "b"), ("a", "b"), id="unknown-id-in-middle"),
        pytest.param(("miss", "a"), ("a",), id="non-matching-regex-skipped"),
        pytest.param(("a", "miss", "b"), ("a", "b"), id="scan-goes-on-after-miss"),
        pytest.param(("ghost", "miss"), (), id="nothing-applies"),
    ],
)
def test_listed_entries_that_cannot_apply_are_skipped(
    listed: tuple[str, ...], applied: tuple[str, ...], entity: str
) -> None:
    rules = ruleset(
        rule("a", entity, applied_to="matching"),
        rule("miss", entity, applied_to="matching", regex=[[("request.verb", "^DELETE$")]]),
        rule("b", entity, applied_to="matching"),
    )
    listing = {"someone": entries(*listed)}
    if entity == "user":
        decision = decide(rules, user_id="someone", cfg=config(user_rules=listing))
    else:
        decision = decide(rules, company_id="someone", cfg=config(company_rules=listing))
    assert decision.applied == applied


@pytest.fixture(params=["user", "company"])
def entity(request: pytest.FixtureRequest) -> str:
    """Run the test for user rules and for company rules."""
    return str(request.param)


# --- regex_config: an OR of ANDs ---

BODY = {
    "plan": "free",
    "count": 42,
    "ratio": 1.5,
    "flag": True,
    "obj": {"a": 1},
    "arr": [1],
    "none": None,
    "operationName": "GetUser",
    "query": "query GetUser { user { id } }",
}


@pytest.mark.parametrize(
    ("regex", "req_kwargs", "applies"),
    [
        pytest.param([], {}, True, id="empty-config-matches-all"),
        pytest.param([[]], {}, False, id="empty-group-matches-nothing"),
        pytest.param([[], [("request.verb", "GET")]], {}, True, id="empty-group-then-match"),
        pytest.param(
            [[("request.verb", "^POST$")], [("request.verb", "^GET$")]], {}, True, id="or"
        ),
        pytest.param(
            [[("request.verb", "^POST$")], [("request.verb", "^PUT$")]], {}, False, id="or-none"
        ),
        pytest.param([[("request.verb", "GET"), ("request.route", "items")]], {}, True, id="and"),
        pytest.param(
            [[("request.verb", "GET"), ("request.route", "nope")]], {}, False, id="and-fails"
        ),
        pytest.param([[("request.verb", "^get$")]], {}, False, id="case-sensitive"),
        pytest.param([[("request.ip", r"^10\.")]], {"ip": "10.1.2.3"}, True, id="ip"),
        pytest.param([[("request.ip", r"^10\.")]], {"ip": "172.16.0.1"}, False, id="ip-differs"),
        pytest.param([[("request.ip", ".")]], {}, False, id="no-ip"),
        pytest.param([[("request.route", r"page=2")]], {}, True, id="route-has-query"),
        pytest.param(
            [[("request.route", r"^https://api\.example\.com/v1/items\?page=2$")]],
            {},
            True,
            id="route-is-full-uri",
        ),
        pytest.param([[("request.route", "^/v1/items$")]], {}, False, id="route-not-path-only"),
        pytest.param(
            [[("request.headers.x-api-key", "^k1$")]],
            {"headers": {"X-Api-Key": "k1"}},
            True,
            id="header-lower-path",
        ),
        pytest.param(
            [[("request.headers.X-API-KEY", "^k1$")]],
            {"headers": {"x-api-key": "k1"}},
            True,
            id="header-upper-path",
        ),
        pytest.param(
            [[("request.headers.x-api-key", "^k1$")]],
            {"headers": {"X-Api-Key": "k2"}},
            False,
            id="header-differs",
        ),
        pytest.param(
            [[("request.headers.x-api-key", ".")]],
            {"headers": {"Accept": "*/*"}},
            False,
            id="header-absent",
        ),
        pytest.param([[("request.headers.x-api-key", ".")]], {}, False, id="no-headers"),
        pytest.param([[("request.body.plan", "^free$")]], {"body": BODY}, True, id="body-text"),
        pytest.param([[("request.body.plan", "^pro$")]], {"body": BODY}, False, id="body-differs"),
        pytest.param([[("request.body.count", "^42$")]], {"body": BODY}, True, id="body-int"),
        pytest.param([[("request.body.ratio", r"^1\.5$")]], {"body": BODY}, True, id="body-float"),
        pytest.param([[("request.body.flag", "^true$")]], {"body": BODY}, True, id="body-bool"),
        pytest.param([[("request.body.flag", "^True$")]], {"body": BODY}, False, id="bool-not-py"),
        pytest.param([[("request.body.obj", ".")]], {"body": BODY}, False, id="body-object"),
        pytest.param([[("request.body.arr", ".")]], {"body": BODY}, False, id="body-array"),
        pytest.param([[("request.body.none", ".")]], {"body": BODY}, False, id="body-null"),
        pytest.param([[("request.body.absent", ".")]], {"body": BODY}, False, id="body-absent"),
        pytest.param([[("request.body.plan", ".")]], {}, False, id="no-body"),
        pytest.param([[("request.body.plan", ".")]], {"body": "plan"}, False, id="text-body"),
        pytest.param(
            [[("request.body.a.b", ".")]], {"body": {"a": {"b": "x"}}}, False, id="nested"
        ),
        pytest.param(
            [[("request.body.operationName", "^GetUser$")]], {"body": BODY}, True, id="graphql-op"
        ),
        pytest.param(
            [[("request.body.operationName", "^GetOrder$")]],
            {"body": BODY},
            False,
            id="graphql-other-op",
        ),
        pytest.param([[("request.unknown", ".")]], {}, False, id="unknown-path"),
        pytest.param([[("request.verb", "(")]], {}, False, id="invalid-regex"),
        pytest.param(
            [[("request.verb", "(")], [("request.verb", "GET")]], {}, True, id="invalid-then-ok"
        ),
    ],
)
@pytest.mark.parametrize("rule_kind", ["regex", "user", "company"])
def test_regex_config(
    regex: list[list[tuple[str, str]]], req_kwargs: dict[str, Any], applies: bool, rule_kind: str
) -> None:
    # The same matching for a regex rule and for an unidentified user's or company's rule.
    wire = rule("r", rule_kind, unidentified=True, regex=regex)
    decision = decide(ruleset(wire), request(**req_kwargs))
    assert decision.applied == (("r",) if applies else ())
    assert decision.blocked is applies


@pytest.mark.parametrize(
    ("field", "pattern"), [("zero", "^0$"), ("off", "^false$"), ("nought", r"^0\.0$")]
)
def test_falsy_body_numbers_and_bools_never_match_as_in_the_official_code(
    field: str, pattern: str
) -> None:
    # The official middlewares test a value's truth before matching it: 0, 0.0 and
    # false match nothing there, and so here (the differential tests hold us to it).
    body = {"zero": 0, "off": False, "nought": 0.0}
    rules = ruleset(rule("r", regex=[[(f"request.body.{field}", pattern)]]))
    assert decide(rules, request(body=body)).applied == ()
    truthy = ruleset(rule("r", regex=[[("request.body.n", "^1$")]]))
    assert decide(truthy, request(body={"n": 1})).applied == ("r",)


def test_invalid_regex_never_raises_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    rules = ruleset(
        rule("bad", regex=[[("request.headers.x", "[")]]),
        rule("ok", block=False, headers={"X-Ok": "1"}),
    )
    req = request(headers={"X": "y"})
    with caplog.at_level(logging.WARNING, logger="moesifapi"):
        for _ in range(5):
            decision = decide(rules, req)
            assert decision.applied == ("ok",)
            assert not decision.blocked
    warned = [r for r in caplog.records if r.name == "moesifapi" and r.levelno >= logging.WARNING]
    assert len(warned) == 1


def test_pattern_that_warns_never_raises() -> None:
    rules = ruleset(rule("r", regex=[[("request.verb", "[[]")]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decide(rules).applied == ()


# --- variables ---

TEMPLATED: dict[str, Any] = {
    "headers": {"X-Plan": "{{plan}} for {{0}}", "X-Raw": "{{undeclared}}", "X-Fixed": "ok"},
    "body": {
        "message": "Hello {{0}}, plan {{plan}}",
        "nested": {"list": ["{{plan}}", 7, {"deep": "{{0}}"}, None], "flag": True},
        "keep": "{{undeclared}} {0} {{ 0 }}",
    },
}


def filled(name: str, plan: str) -> tuple[dict[str, str], dict[str, Any]]:
    headers = {"X-Plan": f"{plan} for {name}", "X-Raw": "{{undeclared}}", "X-Fixed": "ok"}
    body = {
        "message": f"Hello {name}, plan {plan}",
        "nested": {"list": [plan, 7, {"deep": name}, None], "flag": True},
        "keep": "{{undeclared}} {0} {{ 0 }}",
    }
    return headers, body


def templated(rule_id: str, kind: str, **kwargs: Any) -> dict[str, Any]:
    return rule(rule_id, kind, variables=["0", "plan"], **TEMPLATED, **kwargs)


@pytest.mark.parametrize(
    ("values", "name", "plan"),
    [
        pytest.param({"0": "alice", "plan": "pro"}, "alice", "pro", id="all-values"),
        pytest.param({"0": "alice"}, "alice", "UNKNOWN", id="missing-value"),
        pytest.param({}, "UNKNOWN", "UNKNOWN", id="no-values"),
        pytest.param({"0": "", "plan": "x"}, "", "x", id="empty-value-used"),
    ],
)
def test_variables_are_filled_from_the_entity_entry(
    values: dict[str, str], name: str, plan: str, entity: str
) -> None:
    rules = ruleset(templated("t", entity, applied_to="matching"))
    listing = {"someone": [{"rules": "t", "values": values}]}
    if entity == "user":
        decision = decide(rules, user_id="someone", cfg=config(user_rules=listing))
    else:
        decision = decide(rules, company_id="someone", cfg=config(company_rules=listing))
    headers, body = filled(name, plan)
    assert decision.headers == headers
    assert decision.body == body


@pytest.mark.parametrize(
    ("wire", "user_id"),
    [
        pytest.param(templated("t", "regex"), "alice", id="regex-rule"),
        pytest.param(templated("t", "user", unidentified=True), None, id="unidentified"),
        pytest.param(templated("t", "user", applied_to="not_matching"), "alice", id="not-listed"),
    ],
)
def test_variables_are_unknown_without_an_entry(wire: dict[str, Any], user_id: str | None) -> None:
    # Alice's values are for another rule: they fill nothing here.
    cfg = config(user_rules={"alice": [{"rules": "other", "values": {"0": "x", "plan": "y"}}]})
    decision = decide(ruleset(wire), user_id=user_id, cfg=cfg)
    headers, body = filled("UNKNOWN", "UNKNOWN")
    assert decision.headers == headers
    assert decision.body == body


def test_only_declared_variables_are_filled() -> None:
    wire = rule("t", "user", variables=["0"], headers={"X": "{{0}}/{{1}}"}, body="{{0}}{{1}}")
    cfg = config(user_rules={"alice": [{"rules": "t", "values": {"0": "a", "1": "b"}}]})
    decision = decide(ruleset(wire), user_id="alice", cfg=cfg)
    assert decision.headers == {"X": "a/{{1}}"}
    assert decision.body == "a{{1}}"
    assert decision.body_bytes() == b'"a{{1}}"'


def test_each_rule_is_filled_from_its_own_entry() -> None:
    rules = ruleset(
        rule("a", "user", block=False, variables=["v"], headers={"X-A": "{{v}}"}),
        rule("b", "user", variables=["v"], headers={"X-B": "{{v}}"}, body={"v": "{{v}}"}),
    )
    cfg = config(user_rules={"alice": entries("a", "b", a={"v": "1"}, b={"v": "2"})})
    decision = decide(rules, user_id="alice", cfg=cfg)
    assert decision.headers == {"X-A": "1", "X-B": "2"}
    assert decision.body == {"v": "2"}


# --- purity ---


def test_evaluate_mutates_neither_rules_nor_config() -> None:
    wires = [
        templated("t", "user", applied_to="matching"),
        templated("rx", "regex", block=False),
        rule("cn", "company", applied_to="not_matching", headers={"X-C": "1"}),
    ]
    rules = ruleset(*wires)
    cfg = config(user_rules={"alice": entries("t", "ghost", t={"0": "A", "plan": "P"})})
    rules_before, cfg_before = copy.deepcopy(rules.rules), copy.deepcopy(cfg)
    first = decide(rules, user_id="alice", company_id="acme", cfg=cfg)
    assert rules.rules == rules_before
    assert cfg == cfg_before
    assert rules.rules[0].response is not None
    assert rules.rules[0].response.body == TEMPLATED["body"]
    # A caller changing what it got back does not change the next decision.
    assert isinstance(first.body, dict)
    first.body["nested"]["list"].append("changed")
    second = decide(rules, user_id="alice", company_id="acme", cfg=cfg)
    assert second.body == filled("A", "P")[1]
    assert rules.rules == rules_before


def test_evaluate_twice_is_equal_and_indexes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[RuleIndex] = []
    original = RuleIndex.of.__func__  # type: ignore[attr-defined]

    def counting(cls: type[RuleIndex], rules: Any) -> RuleIndex:
        index: RuleIndex = original(cls, rules)
        built.append(index)
        return index

    monkeypatch.setattr(RuleIndex, "of", classmethod(counting))
    rules = ruleset(REGEX, COMPANY, USER)
    first = decide(rules, user_id="alice", company_id="acme", cfg=LISTED)
    second = decide(rules, user_id="alice", company_id="acme", cfg=LISTED)
    third = decide(rules, cfg=LISTED)
    assert first == second
    assert first.applied == ("rx", "co", "us")
    assert third.applied == ("rx",)
    assert len(built) == 1


# --- property ---

ids = st.sampled_from(["r0", "r1", "r2", "r3", "r4"])
PATHS = [
    "request.verb",
    "request.ip",
    "request.route",
    "request.headers.x-key",
    "request.body.plan",
    "request.body.operationName",
    "request.other",
]


patterns = st.one_of(
    st.sampled_from(["^GET$", "(", "[", ".", "items", "free", "^", "1", "true"]),
    st.text(alphabet="ab^$.*+?()[]{}|\\/1", max_size=6),
)
groups = st.lists(
    st.fixed_dictionaries({"path": st.sampled_from(PATHS), "value": patterns}), max_size=3
).map(lambda conditions: {"conditions": conditions})
texts = st.text(alphabet="ab{}01 ", max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
rule_wires = st.fixed_dictionaries(
    {"_id": ids, "type": st.sampled_from(["regex", "user", "company"])},
    optional={
        "block": st.booleans(),
        "applied_to": st.sampled_from(["matching", "not_matching"]),
        "applied_to_unidentified": st.booleans(),
        "response": st.fixed_dictionaries(
            {},
            optional={
                "status": st.integers(100, 599),
                "headers": st.dictionaries(st.sampled_from(["X-A", "X-B"]), texts, max_size=2),
                "body": json_values,
            },
        ),
        "variables": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["0", "a"]), "path": st.just("x")}),
            max_size=2,
        ),
        "regex_config": st.lists(groups, max_size=3),
    },
)
entity_entries = st.lists(
    st.fixed_dictionaries(
        {"rules": st.sampled_from(["r0", "r1", "r2", "r3", "r4", "ghost"])},
        optional={"values": st.dictionaries(st.sampled_from(["0", "a"]), texts, max_size=2)},
    ),
    max_size=4,
)
entities = st.sampled_from(["alice", "acme"])
configs = st.fixed_dictionaries(
    {},
    optional={
        "user_rules": st.dictionaries(entities, entity_entries, max_size=2),
        "company_rules": st.dictionaries(entities, entity_entries, max_size=2),
    },
)
requests = st.builds(
    request,
    uri=st.sampled_from([URI, "https://h", "/v1/items"]),
    verb=st.sampled_from(["GET", "POST"]),
    headers=st.none() | st.dictionaries(st.sampled_from(["X-Key", "x-key", "Accept"]), texts),
    ip=st.none() | st.just("10.0.0.1"),
    body=st.none() | json_values | st.dictionaries(st.sampled_from(["plan", "x"]), json_values),
)


@settings(max_examples=100, deadline=None)
@given(
    wires=st.lists(rule_wires, max_size=5),
    cfg_wire=configs,
    req=requests,
    user_id=st.none() | entities,
    company_id=st.none() | entities,
)
def test_evaluate_never_raises(
    wires: list[dict[str, Any]],
    cfg_wire: dict[str, Any],
    req: EventRequestModel,
    user_id: str | None,
    company_id: str | None,
) -> None:
    rules = ruleset(*wires)
    cfg = from_dict(AppConfig, cfg_wire)
    decision = decide(rules, req, user_id=user_id, company_id=company_id, cfg=cfg)
    known = {rule.id for rule in rules}
    assert decision.blocked_by is None or decision.blocked_by in known
    assert decision.blocked == (decision.blocked_by is not None)
    assert set(decision.applied) <= known
    if decision.blocked_by is None:
        assert decision.status is None
        assert decision.body is None
    assert isinstance(decision.body_bytes(), bytes)
    assert decide(rules, req, user_id=user_id, company_id=company_id, cfg=cfg) == decision
