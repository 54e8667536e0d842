"""Masking before anything leaves the process: header values and body fields, named
case-insensitively, replaced in new objects (the caller's are never changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .exceptions import ValidationError

__all__ = ["DEFAULT_MASK", "mask_body_fields", "mask_headers"]

DEFAULT_MASK = "***"


def _lowered(names: Iterable[str]) -> frozenset[str]:
    # A lone str would be taken letter by letter: mask_headers(h, "Cookie") would mask
    # headers named "c", "o" and "k", and the cookie would go out as it is.
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise ValidationError(
            f"must be a list of names such as ['Authorization'], got {names!r:.60}",
            field="names",
        )
    lowered = set()
    for name in names:
        if not isinstance(name, str):
            raise ValidationError(f"must hold str names, got {name!r:.60}", field="names")
        lowered.add(name.lower())
    return frozenset(lowered)


def mask_headers(
    headers: Mapping[str, str], names: Iterable[str], mask: str = DEFAULT_MASK
) -> dict[str, str]:
    """A copy of `headers` with the value of each header in `names` replaced by `mask`.

    Names match case-insensitively, as HTTP header names do: ASGI servers hand over
    ``authorization``, WSGI ``Authorization``, a proxy may send ``AUTHORIZATION``. A
    header that is absent stays absent; the spelling of every name is kept.

    >>> mask_headers({"authorization": "Bearer s3cret", "Accept": "*/*"}, ["Authorization"])
    {'authorization': '***', 'Accept': '*/*'}
    """
    if not isinstance(headers, Mapping):
        raise ValidationError(
            f"must be a mapping of names to values, got {type(headers).__name__}",
            field="headers",
        )
    masked = _lowered(names)
    return {
        key: mask if isinstance(key, str) and key.lower() in masked else value
        for key, value in headers.items()
    }


def mask_body_fields(body: object, names: Iterable[str], mask: object = DEFAULT_MASK) -> object:
    """A copy of `body` with the value of every key in `names` replaced by `mask`, at
    any depth: in objects, in objects inside lists, in lists inside objects.

    Keys match case-insensitively (``password`` masks ``Password`` and ``PASSWORD``).
    A matched key's whole value is masked, even an object or a list. Objects and lists
    on the way are copied, everything else is shared; a body that is not an object or
    a list (text, `bytes`, a number, None) is returned as it is: mask its text before
    parsing it, or parse it first.

    >>> mask_body_fields({"user": "ann", "auth": {"Password": "pw"}}, ["password"])
    {'user': 'ann', 'auth': {'Password': '***'}}
    """
    masked = _lowered(names)
    if not masked or not isinstance(body, (Mapping, list, tuple)):
        return body
    try:
        return _mask_fields(body, masked, mask)
    except RecursionError:
        raise ValidationError(
            "nests too deeply to mask; it would not encode as JSON either", field="body"
        ) from None


def _mask_fields(value: object, masked: frozenset[str], mask: object) -> object:
    if isinstance(value, Mapping):
        return {
            key: (
                mask
                if isinstance(key, str) and key.lower() in masked
                else _mask_fields(item, masked, mask)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_fields(item, masked, mask) for item in value]
    if isinstance(value, tuple):
        return tuple(_mask_fields(item, masked, mask) for item in value)
    return value
