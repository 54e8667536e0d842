"""The official SDK's (moesifapi 1.5.5) sampling and governance answers, for comparison.

Run BY THE OFFICIAL SDK'S PYTHON (`python -I run_official.py`), never with this project
installed: both packages are imported as ``moesifapi``. Reads one JSON case a line on
standard input and writes one JSON line for each, in order:

- ``{"kind": "sample", "config": {...}, "event": {...}}`` gives the rate of
  ``AppConfig().get_sampling_percentage(event, config, event.user_id, event.company_id)``;
- ``{"kind": "govern", "config": {...}, "rules": [...], "event": {...}, "user_id": ...,
  "company_id": ...}`` gives ``GovernanceRulesManager.govern_request``'s answer as
  ``{"blocked_by", "status", "headers", "body"}``, the body decoded from the
  ``[json.dumps(body).encode()]`` the official hands the middleware.

Each answer is ``{"ok": answer}``, or ``{"excluded": reason}`` where the official's answer
is one this project deliberately does not give (see tests/test_differential_official.py):
it raised, logged a warning (it catches its own errors and carries on with a default),
or left an entity's rule list early, at an entry before the last.
"""

from __future__ import annotations

import json
import logging
import sys
from types import SimpleNamespace
from typing import Any

from moesifapi.app_config.app_config import AppConfig  # type: ignore[import-not-found]
from moesifapi.app_config.regex_config_helper import RegexConfigHelper  # type: ignore[import-not-found]
from moesifapi.governance_manager import GovernanceRulesManager  # type: ignore[import-not-found]


class Warnings(logging.Handler):
    """Every record of WARNING or above the official logs, kept until `take`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")

    def take(self) -> list[str]:
        taken, self.messages = self.messages, []
        return taken


WARNINGS = Warnings()
_root = logging.getLogger("moesifapi")
_root.addHandler(WARNINGS)
_root.setLevel(logging.WARNING)
_root.propagate = False  # keep the official's complaints off standard error


def _event(event: dict[str, Any]) -> SimpleNamespace:
    """The attributes the official reads of an `EventModel`."""
    request = event["request"]
    response = event.get("response")
    return SimpleNamespace(
        request=SimpleNamespace(
            verb=request.get("verb"), uri=request.get("uri"), ip_address=request.get("ip_address")
        ),
        response=None if response is None else SimpleNamespace(status=response.get("status")),
        user_id=event.get("user_id"),
        company_id=event.get("company_id"),
    )


def _raised(error: BaseException) -> str:
    kind = type(error)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return f"official raised {name}"


def sample(case: dict[str, Any]) -> dict[str, Any]:
    config = case["config"]
    event = _event(case["event"])
    # The official's own steps first, outside its try, to name what it would swallow.
    regex_config = config.get("regex_config")
    if regex_config:
        helper = RegexConfigHelper()
        try:
            helper.fetch_sample_rate_on_regex_match(
                regex_config, helper.prepare_config_mapping(event)
            )
        except Exception as error:
            return {"excluded": _raised(error)}
    WARNINGS.take()
    try:
        rate = AppConfig().get_sampling_percentage(event, config, event.user_id, event.company_id)
    except Exception as error:  # it catches everything itself; never seen
        return {"excluded": _raised(error)}
    if WARNINGS.take():
        return {"excluded": "official logged a warning"}
    return {"ok": rate}


def _early_break(
    manager: GovernanceRulesManager,
    by_id: dict[str, Any],
    entries: list[dict[str, Any]] | None,
    fields: dict[str, Any],
    body: Any,
    headers: dict[str, str],
) -> str | None:
    """Why `get_user_rules`/`get_company_rules` would leave `entries` early, if they would.

    They `break` at the first entry whose rule does not match the request or applies to
    those not in its cohort, and raise KeyError for an entry naming a rule not cached.
    A break at the last entry changes nothing; before it, the entries after it are
    neither applied nor counted as in the cohort, which this project does not copy.
    """
    if not entries:
        return None
    for index, entry in enumerate(entries):
        rule_id = entry["rules"]
        if rule_id not in by_id:
            return "entity entry for a rule id not cached (official raises KeyError)"
        rule = by_id[rule_id]
        try:
            matched = manager.does_regex_config_match(rule["regex_config"], fields, body, headers)
        except Exception as error:
            return _raised(error)
        if not matched or rule["applied_to"] == "not_matching":
            if index < len(entries) - 1:
                return "official breaks out of the entity's rule list before its last entry"
            return None
    return None


def _entries(config: dict[str, Any], key: str, entity: str) -> Any:
    return (config.get(key) or {}).get(entity)


def govern(case: dict[str, Any]) -> dict[str, Any]:
    config = case["config"]
    request = case["event"]["request"]
    user_id = case.get("user_id")
    company_id = case.get("company_id")
    body = request.get("body")
    headers = request.get("headers") or {}
    event_info = SimpleNamespace(
        verb=request.get("verb"), ip_address=request.get("ip_address"), uri=request.get("uri")
    )
    manager = GovernanceRulesManager(None)
    try:
        manager.cache_rules(case["rules"])
    except Exception as error:
        return {"excluded": _raised(error)}
    fields = manager.prepare_request_fields(event_info, body)
    checks = []
    if company_id is not None:
        checks.append((manager.company_rules, _entries(config, "company_rules", company_id)))
    if user_id is not None:
        checks.append((manager.user_rules, _entries(config, "user_rules", user_id)))
    for by_id, entries in checks:
        reason = _early_break(manager, by_id, entries, fields, body, headers)
        if reason is not None:
            return {"excluded": reason}
    WARNINGS.take()
    try:
        holder = manager.govern_request(config, event_info, user_id, company_id, body, headers)
    except Exception as error:
        return {"excluded": _raised(error)}
    if WARNINGS.take():
        return {"excluded": "official logged a warning (failed to apply rules)"}
    blocked_by = holder.get("blocked_by")
    answer_body = None
    if "blocked_by" in holder:
        answer_body = json.loads(b"".join(holder["body"]).decode("utf-8"))
    return {
        "ok": {
            "blocked_by": blocked_by,
            "status": holder["status"],
            "headers": holder["headers"],
            "body": answer_body,
        }
    }


KINDS = {"sample": sample, "govern": govern}


def main() -> int:
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        try:
            answer = KINDS[case["kind"]](case)
            text = json.dumps(answer)
        except Exception as error:  # e.g. an answer json.dumps cannot write
            text = json.dumps({"excluded": _raised(error)})
        out.write(text + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
