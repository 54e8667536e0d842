"""Messages that read right: "1 event" and "2 events", "a UserModel" and "an EventModel".

Every message that counts things or names a type after an article goes through these.
"""

from __future__ import annotations

__all__ = ["counted", "with_article"]

_IRREGULAR = {"entry": "entries", "batch": "batches", "company": "companies", "was": "were"}

# Words that start with a vowel letter but not a vowel sound, and the other way round.
_SAYS_A = ("one", "once", "uni", "use", "usa", "usi", "usu", "uti", "uuid", "ur", "eu")
_SAYS_AN = ("hour", "honest", "honor", "heir")


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` and `noun`, the noun in the plural unless `number` is 1.

    >>> counted(1, "event"), counted(3, "entry"), counted(0, "item")
    ('1 event', '3 entries', '0 items')
    """
    return f"{number} {noun if number == 1 else plural or _IRREGULAR.get(noun, noun + 's')}"


def with_article(word: str) -> str:
    """`word` after "a" or "an", as it is said: an EventModel, a UserModel, an 8 s wait.

    >>> with_article("EventRequestModel"), with_article("UserModel"), with_article("int")
    ('an EventRequestModel', 'a UserModel', 'an int')
    """
    lowered = word.lower()
    digits = len(lowered) - len(lowered.lstrip("0123456789"))
    if digits:  # eight, eighty; eleven and eighteen, and their thousands
        leading = lowered[:digits]
        an = leading[0] == "8" or (leading[:2] in ("11", "18") and digits % 3 == 2)
    elif lowered.startswith(_SAYS_AN):
        an = True
    else:
        an = lowered[:1] in ("a", "e", "i", "o", "u") and not lowered.startswith(_SAYS_A)
    return f"{'an' if an else 'a'} {word}"
