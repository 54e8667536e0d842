"""Code written for the official SDK (moesifapi 1.5.5) runs unchanged on this package.

`seed_examples/` holds the API reference's three Python examples as the reference
prints them, with only its own two typos fixed: a missing comma in the `rsp_headers`
JSON (both event examples), and `EventRequestModel` written where `UserModel` was
meant (the user example). Each runs in a fresh interpreter against the sandbox server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import moesifapi
from moesifapi import Health, MoesifAPIClient, MoesifClient
from moesifapi.testing import Collector

EXAMPLES = Path(__file__).resolve().parent / "seed_examples"
# The API reference this project grew from, where a checkout sits beside it.
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "004_98db71d44575d73b.txt"

# What the official `moesifapi.models` package exports (its `__init__` star-imports one
# module per model).
OFFICIAL_MODELS = [
    "CampaignModel",
    "CompanyModel",
    "EventModel",
    "EventRequestModel",
    "EventResponseModel",
    "StatusModel",
    "SubscriptionModel",
    "UserModel",
]
# The official `ApiController`'s calls, which `MoesifAPIClient(...).api` offers.
OFFICIAL_CALLS = [
    "create_event",
    "create_events_batch",
    "update_user",
    "update_users_batch",
    "update_company",
    "update_companies_batch",
    "update_subscription",
    "update_subscriptions_batch",
    "get_app_config",
    "get_governance_rules",
]


def star_import(module: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(f"from {module} import *", namespace)
    return namespace


# --- the import paths ---


def test_the_client_module_star_import_gives_the_client_the_helper_and_the_models() -> None:
    names = star_import("moesifapi.moesif_api_client")
    assert names["MoesifAPIClient"] is MoesifAPIClient
    assert names["APIHelper"] is moesifapi.APIHelper
    for name in OFFICIAL_MODELS:
        assert name in names, name
    assert names["StatusModel"] is Health


def test_the_models_star_import_gives_the_official_models_but_the_probes() -> None:
    names = star_import("moesifapi.models")
    for name in OFFICIAL_MODELS:
        if name != "StatusModel":
            assert names[name] is getattr(moesifapi, name), name


def test_the_models_star_import_gives_the_status_model() -> None:
    assert star_import("moesifapi.models")["StatusModel"] is Health


# The keyword arguments of each official model's constructor.
OFFICIAL_MODEL_KEYWORDS = {
    "EventModel": "request response session_token tags user_id company_id metadata direction"
    " weight blocked_by transaction_id",
    "EventRequestModel": "time uri verb headers api_version ip_address body transfer_encoding",
    "EventResponseModel": "time status headers body ip_address transfer_encoding",
    "UserModel": "user_id company_id modified_time ip_address session_token user_agent_string"
    " metadata campaign",
    "CompanyModel": "company_id company_domain modified_time ip_address session_token metadata"
    " campaign",
    "CampaignModel": "utm_source utm_medium utm_campaign utm_term utm_content referrer"
    " referring_domain gclid",
    "SubscriptionModel": "subscription_id company_id current_period_start current_period_end"
    " status metadata",
}


@pytest.mark.parametrize(("name", "keywords"), OFFICIAL_MODEL_KEYWORDS.items())
def test_each_model_takes_the_official_constructors_keywords(name: str, keywords: str) -> None:
    ours = {field.alias for field in attrs.fields(getattr(moesifapi, name))}
    assert set(keywords.split()) <= ours


def test_the_helper_has_its_official_import_path() -> None:
    from moesifapi.api_helper import APIHelper

    assert APIHelper is moesifapi.APIHelper


def test_the_official_entry_point_offers_every_controller_call() -> None:
    client = MoesifAPIClient("app-id")
    try:
        assert isinstance(client.api, MoesifClient)
        assert client.api_controller is client.api
        for name in OFFICIAL_CALLS:
            assert callable(getattr(client.api, name)), name
        assert callable(client.health.get_health_probe)
    finally:
        client.api.close()


def test_two_official_clients_keep_their_own_application_ids() -> None:
    # The official SDK stores the id on a class: the second client rewrites the first.
    collector = Collector(application_id="first-app-id")
    with collector.serve() as base_url:
        first = MoesifAPIClient("first-app-id", base_url=base_url)
        second = MoesifAPIClient("second-app-id", base_url=base_url)
        try:
            first.api.update_user({"user_id": "u1"})
            with pytest.raises(moesifapi.UnauthorizedError):
                second.api.update_user({"user_id": "u2"})
        finally:
            first.api.close()
            second.api.close()
    assert list(collector.users) == ["u1"]


# --- APIHelper.json_deserialize, as the official one behaves ---


def ten_times(value: int) -> int:
    return value * 10


@pytest.mark.parametrize(
    ("given", "unboxing", "expected"),
    [
        ('{"a": [1, 2.5, null, true]}', None, {"a": [1, 2.5, None, True]}),
        (b'{"a": 1}', None, {"a": 1}),
        ("7", ten_times, 70),
        ("[1, 2, 3]", ten_times, [10, 20, 30]),
        ('{"n": 1}', lambda d: sorted(d), ["n"]),
        (None, None, None),
        (None, ten_times, None),
        ("not json", None, "not json"),
        ("not json", ten_times, "not json"),
        ("", None, ""),
        ('{"a": 1', None, '{"a": 1'),
        (b"\xff\xfe not utf-8", None, b"\xff\xfe not utf-8"),
    ],
    ids=[
        "object",
        "bytes",
        "unboxed-scalar",
        "unboxed-each-element",
        "unboxed-object",
        "none",
        "none-not-unboxed",
        "not-json",
        "not-json-not-unboxed",
        "empty",
        "truncated",
        "bad-utf8",
    ],
)
def test_json_deserialize_behaves_as_the_official_helper(
    given: object, unboxing: Callable[[Any], object] | None, expected: object
) -> None:
    assert moesifapi.APIHelper.json_deserialize(given, unboxing) == expected


def test_json_deserialize_takes_unboxing_function_by_name() -> None:
    helper = moesifapi.APIHelper
    assert helper.json_deserialize("[1]", unboxing_function=ten_times) == [10]


def test_json_deserialize_hands_back_what_is_already_parsed() -> None:
    headers = {"Host": "api.acmeinc.com"}
    assert moesifapi.APIHelper.json_deserialize(headers) is headers


# --- the API reference's own Python examples, run as written ---

# Runs an example as a script; the reference leaves `my_application_id` for the reader
# to set, and a reader's own script sets it before the example's first line.
RUNNER = (
    "import os, runpy, sys\n"
    "runpy.run_path(sys.argv[1], run_name='__main__',"
    " init_globals={'my_application_id': os.environ['MOESIF_APPLICATION_ID']})\n"
)


def run_example(name: str, base_url: str, application_id: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOESIF_")}
    env |= {"MOESIF_BASE_URL": base_url, "MOESIF_APPLICATION_ID": application_id}
    result = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def check_the_reference_event(event: dict[str, Any]) -> None:
    request, response = event["request"], event["response"]
    assert (request["verb"], request["uri"]) == ("PATCH", "https://api.acmeinc.com/items/reviews/")
    assert (request["api_version"], request["ip_address"]) == ("1.1.0", "61.48.220.123")
    assert request["headers"]["User-Agent"].startswith("Dalvik/2.1.0")
    assert request["body"] == {"items": [{"type": 1, "id": "fwfrf"}, {"type": 2, "id": "d43d3f"}]}
    assert response["status"] == 500
    assert response["headers"]["Cache-Control"] == "no-cache"  # after the restored comma
    assert response["body"]["Error"] == "InvalidArgumentException"
    assert (event["user_id"], event["session_token"]) == ("my_user_id", "my_application_id")
    assert request["time"].endswith("Z")
    assert event["transaction_id"]


def test_the_reference_create_event_example_runs_unchanged() -> None:
    collector = Collector()
    with collector.serve() as base_url:
        run_example("create_event.py", base_url, collector.application_id)
    assert [r.path for r in collector.requests] == ["/v1/events"]
    [event] = collector.events
    check_the_reference_event(event)


def test_the_reference_create_events_batch_example_runs_unchanged() -> None:
    collector = Collector()
    with collector.serve() as base_url:
        run_example("create_events_batch.py", base_url, collector.application_id)
    assert [r.path for r in collector.requests] == ["/v1/events/batch"]
    [event] = collector.events
    check_the_reference_event(event)


def test_the_reference_update_user_example_runs_unchanged() -> None:
    collector = Collector()
    with collector.serve() as base_url:
        run_example("update_user.py", base_url, collector.application_id)
    assert [r.path for r in collector.requests] == ["/v1/users"]
    user = collector.users["pythonapiuser1"]
    assert user["metadata"] == {
        "email": "pythonapiuser@email.com",
        "name": "pythonapiuser",
        "custom": "testdata",
    }
    assert user["modified_time"].endswith("Z")


def python_examples_of(reference: str) -> list[str]:
    """Each Python example of the reference: from its first line to the Ruby tab's."""
    lines = reference.splitlines()
    examples = []
    for start, line in enumerate(lines):
        if line.startswith("from __future__ import print_function"):
            end = start
            while not lines[end].startswith(("require 'moesif_api'", "client = MoesifApi")):
                end += 1
            examples.append("\n".join(lines[start:end]).rstrip() + "\n")
    return examples


@pytest.mark.skipif(not REFERENCE.exists(), reason="the API reference is not beside this checkout")
def test_the_examples_are_the_references_own_but_for_its_two_typos() -> None:
    fixes = [
        (
            '"Content-Type": "application/json; charset=utf-8"\n    "Cache-Control"',
            '"Content-Type": "application/json; charset=utf-8",\n    "Cache-Control"',
        ),
        ("user_model = EventRequestModel(", "user_model = UserModel("),
    ]
    originals = python_examples_of(REFERENCE.read_text(encoding="utf-8"))
    names = ["create_event.py", "create_events_batch.py", "update_user.py"]
    assert len(originals) == len(names)
    for name, original in zip(names, originals, strict=True):
        fixed = original
        for typo, fix in fixes:
            fixed = fixed.replace(typo, fix)
        assert fixed != original, name  # each example had one of the typos
        assert (EXAMPLES / name).read_text(encoding="utf-8") == fixed, name
