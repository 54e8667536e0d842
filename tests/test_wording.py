"""Messages read right for one and for many, and "a" or "an" as the word is said."""

from __future__ import annotations

import pytest

from moesifapi._wording import counted, with_article


@pytest.mark.parametrize(
    ("number", "noun", "text"),
    [
        (0, "item", "0 items"),
        (1, "item", "1 item"),
        (2, "item", "2 items"),
        (1, "entry", "1 entry"),
        (3, "entry", "3 entries"),
        (5, "company", "5 companies"),
        (2, "batch", "2 batches"),
        (1, "stored item", "1 stored item"),
    ],
)
def test_a_count_is_singular_only_for_one(number: int, noun: str, text: str) -> None:
    assert counted(number, noun) == text


def test_an_irregular_plural_can_be_given() -> None:
    assert counted(2, "person", "people") == "2 people"
    assert counted(1, "person", "people") == "1 person"


@pytest.mark.parametrize(
    "text",
    [
        "an EventModel",
        "an EventRequestModel",
        "an EventResponseModel",
        "an ActionModel",
        "an ActionRequestModel",
        "an AppConfig",
        "a UserModel",
        "a CompanyModel",
        "a SubscriptionModel",
        "a CampaignModel",
        "a UUID",
        "an int",
        "an object",
        "a str",
        "a frozenset",
        "an 8.00 s wait",
        "an 11.5 s wait",
        "an 18 s wait",
        "a 0.50 s wait",
        "a 1.00 s wait",
        "an hour",
        "a unit",
    ],
)
def test_the_article_is_the_one_the_word_is_said_with(text: str) -> None:
    word = text.split(" ", 1)[1]
    assert with_article(word) == text
