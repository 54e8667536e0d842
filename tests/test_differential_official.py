"""Sampling and governance agree with the official SDK's (moesifapi 1.5.5), case by case.

Thousands of generated cases (a seeded `random.Random`: the same cases every run) go
through `AppConfig.sample_rate_for` and `GovernanceRules.evaluate` here, and through the
official `AppConfig.get_sampling_percentage` and `GovernanceRulesManager.govern_request`
in the official SDK's own virtualenv (`official/run_official.py`, one process for the
whole batch). Every answer must be the same, except where this project means to differ;
the official runner sets those cases aside ("excluded") and says why:

- sampling: the official catches any error in its regex rules (a condition on a path the
  event lacks: KeyError; a pattern that does not compile: re.error) and answers 100 for
  the event. Here a missing path is a non-match and a bad pattern skips its rule.
- governance: the official stops reading a user's (company's) rule entries at the first
  whose rule does not match or applies to those not in its cohort, and raises KeyError
  for an entry naming an unknown rule; here each entry is weighed on its own. It also
  raises, or logs "failed to apply rules" and carries on, for a non-string field value,
  a pattern that does not compile, variables in a list body, a blocking rule with no
  response.

Official rates are compared clamped to 0..100, as ours are. The excluded share is kept
under `MAX_EXCLUDED` per kind, so the comparison keeps its meaning. A difference not
settled yet is left out of the generated cases and pinned by an xfail test at the end.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from official.venv import official_python

from moesifapi import (
    AppConfig,
    EventModel,
    GovernanceDecision,
    GovernanceRule,
    GovernanceRules,
    from_dict,
    weight_for,
)

pytestmark = pytest.mark.slow  # thousands of cases through a second SDK; see pyproject.toml

RUNNER = Path(__file__).resolve().parent / "official" / "run_official.py"
SAMPLE_CASES = 4000
GOVERN_CASES = 4000
MAX_EXCLUDED = 0.30
RUNNER_TIMEOUT = 300.0
TIME = "2024-05-01T12:00:00.000Z"

# --- what the generated requests are made of ---

VERBS = ["GET", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get"]
URIS = [
    "https://api.acme.com/v1/items",
    "https://api.acme.com/v1/items?limit=5",
    "https://api.acme.com/v1/items/42/orders?x=1&y=2",
    "http://localhost:8080/health",
    "https://api.acme.com/",
    "https://api.acme.com",
    "https://api.acme.com/?q=1",
    "https://api.acme.com/v2/users/7#section",
    "httpss://odd.example/v1/items",
    "HTTPS://API.ACME.COM/V1/ITEMS",
    "ftp://files.acme.com/v1/items",
    "/v1/items?limit=5",
    "graphql",
]
IPS = ["10.0.0.1", "10.1.2.3", "192.168.1.20", "2001:db8::1", "::1", "127.0.0.1", "8.8.8.8"]
STATUSES = [200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 503]
INVALID_PATTERNS = ["(", "[a-", "*x", "(?P<"]
# Patterns that only ever match "" (or nothing) and patterns whose first match may be "".
EMPTY_PATTERNS = ["^", "$", "", "x*", "(?:)", "a?"]

SAMPLE_PATTERNS = {
    "request.verb": ["GET", "^POST$", "PUT|PATCH", "get", "(?i)get", "E", "T*", "^G", "DELETE"],
    "request.route": [
        "/v1/items",
        "^/v1",
        "items$",
        "^/$",
        "/",
        "health",
        "\\?",
        "orders",
        "s*",
        "/*",
        "limit",
        "^/v2/users/\\d+",
        "#",
    ],
    "request.ip_address": ["^10\\.", "192\\.168", "::1$", "127.0.0.1", "1*", "\\d", ":"],
    "response.status": ["200", "^2", "^5\\d\\d$", "4..", "0*", "2*", "^[45]", "3"],
}

GOVERN_HEADERS = {
    "X-Api-Key": ["key-123", "KEY-999", "abc"],
    "Content-Type": ["application/json", "text/plain"],
    "X-Tenant": ["acme", "globex", ""],
    "User-Agent": ["curl/8.0", "python-httpx/0.27"],
}
GOVERN_PATTERNS: dict[str, list[str]] = {
    "request.verb": ["GET", "^POST$", "PUT|PATCH", "get", "(?i)get", "DELETE"],
    # The official matches governance "request.route" against the whole URI.
    "request.route": [
        "/v1/items",
        "items\\?limit",
        "^https://api",
        "/health$",
        "orders",
        "\\?",
        "^/v1",
        "ACME",
    ],
    "request.ip": ["^10\\.", "192\\.168", "::1$", "127.0.0.1", "\\d"],
    "request.ip_address": ["^10\\.", "\\d"],  # not a governance field: never matches
    "response.status": ["200", "\\d"],  # nor this
    "request.body.operationName": ["GetUser", "^List", "Mutation", "User"],
    "request.body.query": ["users", "^\\{", "orders"],
    "request.body.user": ["alice", "bob", "^a"],
    "request.body.a.b": ["deep"],  # the key "a.b", not a nested field
    "request.body.missing": ["."],
    "request.headers.X-Api-Key": ["^key-", "999", "(?i)key"],
    "request.headers.x-api-key": ["^key-", "abc"],
    "request.headers.CONTENT-TYPE": ["json", "^text/"],
    "request.headers.x-tenant": ["acme", "glob"],
    "request.headers.user-agent": ["curl", "httpx"],
    "request.headers.X-Absent": ["."],
    "request.foo": ["."],
}
GOVERN_PATHS = list(GOVERN_PATTERNS)
OPERATIONS = ["GetUser", "ListOrders", "", "MutationDelete", "getuser"]
VARIABLES = ["0", "1", "name", "plan"]
VARIABLE_VALUES = ["Alice", "gold", "42", "", "{{name}}", "b\u00e9ta"]
TEMPLATES = [
    "blocked",
    "{{0}}",
    "Hello {{name}}",
    "{{plan}} limit {{1}}",
    "{{missing}}",
    "{{ name }}",
    "{{0}}{{0}}",
    "60",
    "",
]
RESPONSE_HEADERS = ["X-Blocked", "Retry-After", "X-Reason", "X-Plan"]
USERS = ["u1", "u2", "u3"]
COMPANIES = ["c1", "c2"]


def _maybe(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def _pattern(rng: random.Random, choices: list[str]) -> str:
    roll = rng.random()
    if roll < 0.012:
        return rng.choice(INVALID_PATTERNS)
    if roll < 0.15:
        return rng.choice(EMPTY_PATTERNS)
    if roll < 0.25:
        return "nomatch"
    return rng.choice(choices)


def _rate(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([-10, -1, 101, 150, 1000])
    if roll < 0.2:
        return rng.choice([0, 100])
    return rng.randint(1, 99)


def _event(rng: random.Random, *, ip: float, response: float, body: Any = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "time": TIME,
        "uri": rng.choice(URIS),
        "verb": rng.choice(VERBS),
        "headers": {},
    }
    roll = rng.random()
    if roll < ip:
        request["ip_address"] = rng.choice(IPS)
    elif roll < ip + (1 - ip) / 3:
        request["ip_address"] = ""
    if body is not None:
        request["body"] = body
    event: dict[str, Any] = {"request": request}
    if _maybe(rng, response):
        event["response"] = {"time": TIME, "status": rng.choice(STATUSES), "headers": {}}
    return event


# --- sampling cases ---


def sample_case(rng: random.Random) -> dict[str, Any]:
    event = _event(rng, ip=0.9, response=0.97)
    if _maybe(rng, 0.7):
        event["user_id"] = rng.choice([*USERS, "u4", ""])
    if _maybe(rng, 0.7):
        event["company_id"] = rng.choice([*COMPANIES, "c3", ""])
    config: dict[str, Any] = {}
    if _maybe(rng, 0.8):
        config["sample_rate"] = _rate(rng)
    if _maybe(rng, 0.5):
        config["user_sample_rate"] = {u: _rate(rng) for u in USERS if _maybe(rng, 0.5)}
    if _maybe(rng, 0.5):
        config["company_sample_rate"] = {c: _rate(rng) for c in COMPANIES if _maybe(rng, 0.6)}
    if _maybe(rng, 0.75):
        rules = []
        for _ in range(rng.randint(0, 4)):
            conditions = []
            for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3])):
                path = rng.choice(list(SAMPLE_PATTERNS))
                if _maybe(rng, 0.01):
                    path = "request.foo"  # not a sampling path: the official raises
                conditions.append(
                    {"path": path, "value": _pattern(rng, SAMPLE_PATTERNS.get(path, ["."]))}
                )
            rules.append({"conditions": conditions, "sample_rate": _rate(rng)})
        config["regex_config"] = rules
    return {"kind": "sample", "config": config, "event": event}


def ours_sample(case: dict[str, Any]) -> int:
    config = from_dict(AppConfig, case["config"])
    return config.sample_rate_for(from_dict(EventModel, case["event"]))


def official_sample(answer: Any) -> Any:
    return max(0, min(100, answer)) if isinstance(answer, int) else answer


# --- governance cases ---


def _request_body(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.25:
        return None
    if roll < 0.3:
        return {}
    if roll < 0.35:
        return ["a", {"operationName": "GetUser"}]
    if roll < 0.4:
        return "query { users }"
    body: dict[str, Any] = {}
    if _maybe(rng, 0.7):
        body["operationName"] = rng.choice(OPERATIONS)
    if _maybe(rng, 0.5):
        body["query"] = rng.choice(["{ users { id } }", "orders", "mutation"])
    if _maybe(rng, 0.4):
        body["user"] = rng.choice(["alice", "bob", "carol"])
    if _maybe(rng, 0.1):
        body["a.b"] = "deep"
    if _maybe(rng, 0.1):
        body["a"] = {"b": "deep"}
    if _maybe(rng, 0.01):
        body["count"] = 3  # the official cannot match a number: it raises
    return body


def _request_headers(rng: random.Random) -> dict[str, str]:
    headers = {}
    for name, values in GOVERN_HEADERS.items():
        if _maybe(rng, 0.5):
            spelling = rng.choice([name, name.lower(), name.upper()])
            headers[spelling] = rng.choice(values)
    return headers


def _regex_config(rng: random.Random) -> list[dict[str, Any]]:
    if _maybe(rng, 0.3):
        return []
    groups = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        conditions = []
        for _ in range(rng.choice([0, 1, 1, 1, 1, 2, 2, 3])):
            path = rng.choice(GOVERN_PATHS)
            conditions.append({"path": path, "value": _pattern(rng, GOVERN_PATTERNS[path])})
        groups.append({"conditions": conditions})
    return groups


def _response_body(rng: random.Random, has_variables: bool) -> Any:
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.45:
        return {"error": rng.choice(TEMPLATES)}
    if roll < 0.6:
        return {"error": {"message": rng.choice(TEMPLATES), "code": 7, "ok": False}}
    if roll < 0.7:
        return rng.choice(TEMPLATES)
    if roll < 0.75:
        return {}
    if roll < 0.8:
        return rng.choice([42, 0, True])
    # A list: the official cannot fill variables in one (it crashes); without, it is fine.
    if has_variables and not _maybe(rng, 0.05):
        return {"error": "{{name}}"}
    return rng.choice([["x", "{{0}}"], {"errors": ["{{0}}", "y"]}, []])


def _rule(rng: random.Random, rule_id: str) -> dict[str, Any]:
    kind = rng.choice(["regex", "user", "user", "company", "company"])
    block = _maybe(rng, 0.5)
    rule: dict[str, Any] = {
        "_id": rule_id,
        "name": f"rule {rule_id}",
        "type": kind,
        "block": block,
        "applied_to": rng.choice(["matching", "matching", "not_matching"]),
        "applied_to_unidentified": _maybe(rng, 0.4),
        "regex_config": _regex_config(rng),
    }
    if _maybe(rng, 0.5):
        names = rng.sample(VARIABLES, rng.randint(1, 3))
        rule["variables"] = [{"name": n, "path": rng.choice(["user_id", "name"])} for n in names]
    if _maybe(rng, 0.97 if block else 0.8):
        response: dict[str, Any] = {"status": rng.choice([401, 402, 403, 429, 451])}
        if _maybe(rng, 0.8):
            response["headers"] = {
                h: rng.choice(TEMPLATES) for h in RESPONSE_HEADERS if _maybe(rng, 0.4)
            }
        if block or _maybe(rng, 0.3):
            response["body"] = _response_body(rng, "variables" in rule)
        rule["response"] = response
    return rule


def _entries(rng: random.Random, own: list[str], others: list[str]) -> list[dict[str, Any]] | None:
    count = rng.choices([0, 1, 2, 3], weights=[15, 60, 18, 7])[0]
    if not own and not _maybe(rng, 0.05):
        count = 0
    entries: list[dict[str, Any]] = []
    for _ in range(count):
        if own and not _maybe(rng, 0.02):
            rule_id = rng.choice(own)
        else:  # a rule of another kind, or one not in the rules: the official raises
            rule_id = rng.choice([*others, "gone"])
        entry: dict[str, Any] = {"rules": rule_id}
        if _maybe(rng, 0.85):
            entry["values"] = {
                n: rng.choice(VARIABLE_VALUES) for n in VARIABLES if _maybe(rng, 0.6)
            }
        # Else no values: both fill from the last entry for the rule that has some.
        entries.append(entry)
    return entries


def govern_case(rng: random.Random) -> dict[str, Any]:
    rules = [_rule(rng, f"r{i}-{rng.randrange(10**6):06d}") for i in range(rng.randint(1, 5))]
    by_kind: dict[str, list[str]] = {"regex": [], "user": [], "company": []}
    for rule in rules:
        by_kind[rule["type"]].append(rule["_id"])
    config: dict[str, Any] = {}
    for key, entities, kind in (
        ("user_rules", USERS, "user"),
        ("company_rules", COMPANIES, "company"),
    ):
        if _maybe(rng, 0.9):
            others = [r for k, ids in by_kind.items() if k != kind for r in ids]
            listed = {}
            for entity in entities:
                if _maybe(rng, 0.7):
                    listed[entity] = _entries(rng, by_kind[kind], others)
            config[key] = listed
    event = _event(rng, ip=0.85, response=0.9, body=_request_body(rng))
    event["request"]["headers"] = _request_headers(rng)
    user_id = rng.choice([None, None, *USERS, "u9"])
    company_id = rng.choice([None, None, *COMPANIES, "c9"])
    for key, value in (("user_id", user_id), ("company_id", company_id)):
        if value is not None:
            event[key] = value
    return {
        "kind": "govern",
        "config": config,
        "rules": rules,
        "event": event,
        "user_id": user_id,
        "company_id": company_id,
    }


def ours_govern(case: dict[str, Any]) -> dict[str, Any]:
    config = from_dict(AppConfig, case["config"])
    rules = GovernanceRules(tuple(from_dict(GovernanceRule, r) for r in case["rules"]))
    event = from_dict(EventModel, case["event"])
    decision = rules.evaluate(
        event.request, user_id=case["user_id"], company_id=case["company_id"], config=config
    )
    assert isinstance(decision, GovernanceDecision)
    answer = {
        "blocked_by": decision.blocked_by,
        "status": decision.status,
        "headers": dict(decision.headers),
        "body": decision.body,
    }
    # As the official's answer reaches us: through JSON.
    result: dict[str, Any] = json.loads(json.dumps(answer))
    return result


# --- the comparison ---


def cases(make: Callable[[random.Random], dict[str, Any]], count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [make(rng) for _ in range(count)]


def run_official(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    python = official_python()
    lines = "".join(json.dumps(case) + "\n" for case in batch)
    done = subprocess.run(
        # -I: no PYTHONPATH, user site or script directory, so ours never shadows theirs.
        [str(python), "-I", str(RUNNER)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=RUNNER_TIMEOUT,
        check=False,
        cwd=RUNNER.parent,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(batch), done.stderr
    return answers


def compare(
    batch: list[dict[str, Any]],
    ours: Callable[[dict[str, Any]], Any],
    theirs: Callable[[Any], Any],
) -> tuple[Counter[str], list[str]]:
    """Why the cases set aside were, and a report of each case where the two differ."""
    excluded: Counter[str] = Counter()
    differences = []
    for case, answer in zip(batch, run_official(batch), strict=True):
        if "excluded" in answer:
            excluded[answer["excluded"]] += 1
            continue
        expected = theirs(answer["ok"])
        try:
            got = ours(case)
        except Exception as error:
            got = f"raised {type(error).__name__}: {error}"
        if got != expected:
            differences.append(
                f"case: {json.dumps(case)}\n  official: {expected!r}\n  ours:     {got!r}"
            )
    return excluded, differences


def check(kind: str, batch: list[dict[str, Any]], excluded: Counter[str], diffs: list[str]) -> None:
    total = len(batch)
    share = sum(excluded.values()) / total
    reasons = ", ".join(f"{reason}: {n}" for reason, n in excluded.most_common())
    print(f"{kind}: {total} cases, {total - sum(excluded.values())} compared; excluded {reasons}")
    assert not diffs, f"{len(diffs)} of {total} {kind} cases differ; the first:\n" + "\n".join(
        diffs[:5]
    )
    assert share < MAX_EXCLUDED, f"{share:.0%} of {kind} cases excluded ({reasons})"


def test_sample_rates_agree_with_the_official_sdk() -> None:
    batch = cases(sample_case, SAMPLE_CASES, seed=20240501)
    started = time.perf_counter()
    excluded, diffs = compare(batch, ours_sample, official_sample)
    print(f"sampling compared in {time.perf_counter() - started:.1f} s")
    check("sampling", batch, excluded, diffs)


def test_governance_decisions_agree_with_the_official_sdk() -> None:
    batch = cases(govern_case, GOVERN_CASES, seed=20240502)
    started = time.perf_counter()
    excluded, diffs = compare(batch, ours_govern, lambda answer: answer)
    print(f"governance compared in {time.perf_counter() - started:.1f} s")
    check("governance", batch, excluded, diffs)


@pytest.mark.parametrize("rate", range(101))
def test_weights_agree_with_the_official_middlewares(rate: int) -> None:
    # moesifdjango / moesifwsgi: `1 if sample_rate == 0 else math.floor(100 / sample_rate)`
    assert weight_for(rate) == (1 if rate == 0 else math.floor(100 / rate))


# --- disagreements found, and settled ---

REPEATED_ENTRY = {
    "kind": "govern",
    "config": {
        "user_rules": {"u1": [{"rules": "r1", "values": {"name": "Alice"}}, {"rules": "r1"}]}
    },
    "rules": [
        {
            "_id": "r1",
            "type": "user",
            "block": False,
            "applied_to": "matching",
            "applied_to_unidentified": False,
            "regex_config": [],
            "variables": [{"name": "name", "path": "user_id"}],
            "response": {"headers": {"X-Hello": "{{name}}"}},
        }
    ],
    "event": {
        "request": {"time": TIME, "uri": "https://api.acme.com/v1", "verb": "GET", "headers": {}}
    },
    "user_id": "u1",
    "company_id": None,
}


def test_a_repeated_entry_without_values_keeps_the_earlier_values() -> None:
    [answer] = run_official([REPEATED_ENTRY])
    assert answer == {
        "ok": {"blocked_by": None, "status": None, "headers": {"X-Hello": "Alice"}, "body": None}
    }
    assert ours_govern(REPEATED_ENTRY) == answer["ok"]
