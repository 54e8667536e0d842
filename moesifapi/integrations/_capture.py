"""The capture core, pure: what an adapter saw of one exchange, turned into one event.

Every adapter (ASGI, WSGI, the httpx transports) sees the same few things: method,
full URL, headers, body bytes (capped), status, start and end times, the peer's
address. This module does everything else once, the same for all of them: the typed
views the user's hooks get, the client IP behind trusted proxies, bodies (JSON as
JSON, text as base64, binary and oversized ones as a size marker, gzip decoded),
private headers and fields masked, the identify hooks, skip, the governance decision,
the transaction id, and the hand-off to the client's queue (which samples).

Nothing here raises into the application: a hook or a capture that fails is logged
and the exchange goes on uncaptured.
"""

from __future__ import annotations

import binascii
import ipaddress
import json
import logging
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict
from urllib.parse import urlsplit

import attrs

from .. import _wire
from .._governance import ALLOW, GovernanceDecision
from .._json_limits import MAX_JSON_DEPTH
from .._masking import DEFAULT_MASK
from .._sampling import route_of
from ..exceptions import ValidationError
from ..models import EventModel, EventRequestModel, EventResponseModel, _new_transaction_id

try:
    import orjson as _orjson
except ImportError:  # the `fast` extra is optional
    _orjson = None  # type: ignore[assignment]

# Whether bytes are one JSON value orjson reads as the standard library does, and no
# object key in them may name a private field, in one pass: the C speed-up's
# `json_keys_check` (`json_check` of `moesifapi._jsoncheck`, with a look at each key;
# 0 not such JSON, 1 JSON with no key that may be private, 2 JSON with one that may).
# Without it a body is parsed to be checked: a pure-Python twin is slower than parsing.
_json_keys_check: Callable[[bytes, int, tuple[bytes, ...]], int] | None = (
    getattr(_wire._speedups, "json_keys_check", None) if _orjson is not None else None
)

# The C speed-up's writer of a plain capture's event (`Capture.record_plain`), and
# its reader of a few request headers (the adapters' `pick_headers`); None without it.
_capture_plan: Callable[..., object] | None = getattr(_wire._speedups, "capture_plan", None)
_capture_event: Callable[..., bytes | None] = getattr(
    _wire._speedups, "capture_event", lambda *_: None
)
pick_headers: Callable[[object, tuple[bytes, ...]], tuple[str | None, ...] | None] | None = getattr(
    _wire._speedups, "pick_headers", None
)

if TYPE_CHECKING:
    from .._async_client import AsyncMoesifClient
    from .._client import MoesifClient

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PRIVATE_FIELDS",
    "DEFAULT_PRIVATE_HEADERS",
    "BodyTap",
    "Capture",
    "CaptureOptions",
    "CaptureSettings",
    "CapturedRequest",
    "CapturedResponse",
    "Headers",
    "settings_from",
]

logger = logging.getLogger("moesifapi")

DEFAULT_MAX_BODY_BYTES = 100_000
"""Bodies larger than this are logged as a size marker, not their content."""

DEFAULT_PRIVATE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
"""Headers whose values are masked by default, with any whose name holds a word of
`PRIVATE_WORDS`."""

DEFAULT_PRIVATE_FIELDS = frozenset({"authorization", "cookie", "x-api-key", "api_key", "apikey"})
"""Body fields masked at any depth by default, with any whose name holds a word of
`PRIVATE_WORDS`."""

PRIVATE_WORDS = ("token", "secret", "password")
"""A header or body field whose name contains one of these (in any case) is private."""

Client: TypeAlias = "MoesifClient | AsyncMoesifClient"

_Hook: TypeAlias = "Callable[[CapturedRequest, CapturedResponse | None], Any]"


class CaptureOptions(TypedDict, total=False):
    """The keyword arguments every adapter takes: `CaptureSettings`' fields."""

    identify_user: _Hook | None
    identify_company: _Hook | None
    session_token: _Hook | None
    metadata: _Hook | None
    skip: _Hook | None
    skip_paths: Collection[str]
    mask: Callable[[EventModel], EventModel | None] | None
    log_body: bool
    max_body_bytes: int
    size_only_media_types: Collection[str]
    private_headers: Collection[str]
    private_body_fields: Collection[str]
    mask_private: bool
    trusted_proxies: Collection[str]
    sampling: bool
    governance: bool
    transaction_id_header: str | None


class Headers(Mapping[str, str]):
    """Headers as a case-insensitive mapping: ``headers["content-type"]`` finds
    ``Content-Type``. Repeated headers are joined with ``", "``, as the API wants them;
    iteration gives each name as first spelled."""

    __slots__ = ("_by_lower",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        by_lower: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            seen = by_lower.get(key)
            by_lower[key] = (name, value) if seen is None else (seen[0], f"{seen[1]}, {value}")
        self._by_lower = by_lower

    @classmethod
    def from_raw(cls, pairs: Iterable[tuple[bytes, bytes]]) -> Headers:
        """From ASGI's (or httpx's) byte pairs, decoded as latin-1 as HTTP/1.1 defines."""
        # `__init__`'s loop, written out: this runs for every exchange, twice.
        by_lower: dict[str, tuple[str, str]] = {}
        for raw_name, raw_value in pairs:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            key = name.lower()
            seen = by_lower.get(key)
            by_lower[key] = (name, value) if seen is None else (seen[0], f"{seen[1]}, {value}")
        headers = cls.__new__(cls)
        headers._by_lower = by_lower
        return headers

    def __getitem__(self, name: str) -> str:
        return self._by_lower[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._by_lower.values())

    def __len__(self) -> int:
        return len(self._by_lower)

    # `Mapping`'s own `get` and `items` go through `__getitem__` and `__iter__` one
    # name at a time; these run on every header of every exchange.
    def get(self, name: str, default: Any = None) -> Any:
        found = self._by_lower.get(name.lower())
        return default if found is None else found[1]

    def items(self) -> Any:
        return self._by_lower.values()

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"

    def to_dict(self) -> dict[str, str]:
        return dict(self._by_lower.values())


@attrs.frozen
class CapturedRequest:
    """The request as the adapter saw it: what each hook is given.

    `body` holds at most `max_body_bytes` bytes of it (empty with ``log_body=False``);
    `body_size` is how many bytes the request body had in all, as far as it was read.
    """

    method: str
    url: str
    headers: Headers
    body: bytes = b""
    body_size: int = 0
    client_address: str | None = None

    @property
    def path(self) -> str:
        """The URL's path, without the query."""
        return urlsplit(self.url).path or "/"


@attrs.frozen
class CapturedResponse:
    """The response as the adapter saw it; `body` is capped as the request's is."""

    status: int
    headers: Headers
    body: bytes = b""
    body_size: int = 0


class BodyTap:
    """The first `limit` bytes of a body that passes by in chunks, and its full size."""

    __slots__ = ("_chunks", "_room", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._room = limit  # what more may be kept
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        n = len(chunk)
        self.size += n
        room = self._room
        if room > 0 and n:
            if n > room:
                chunk, n = chunk[:room], room
            self._chunks.append(chunk)
            self._room = room - n

    @property
    def truncated(self) -> bool:
        return self.size > self.limit - self._room

    def captured(self) -> bytes:
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""


# The C speed-up's twin of `BodyTap`, where it is built: the same behaviour
# (tests/integrations/test_capture.py holds the two together), without a Python frame
# for each chunk.
PyBodyTap = BodyTap
if getattr(_wire._speedups, "BodyTap", None) is not None:
    BodyTap = _wire._speedups.BodyTap  # type: ignore[misc, assignment]


# --- settings ---

Hook: TypeAlias = "Callable[[CapturedRequest, CapturedResponse | None], Any]"


def _callable_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise ValidationError(
            f"must be a function or None, got {value!r:.60}", field=attribute.name
        )


def _bool(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise ValidationError(f"must be True or False, got {value!r:.60}", field=attribute.name)


def _names(value: object) -> frozenset[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError("a list of names")
    names = set()
    for name in value:
        if not isinstance(name, str):
            raise TypeError("a list of names")
        names.add(name.lower())
    return frozenset(names)


def _name_set(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, frozenset):
        raise ValidationError(
            f"must be a list of names such as ['X-Internal'], got {value!r:.60}",
            field=attribute.name,
        )


def _to_names(value: object) -> object:
    try:
        return _names(value)
    except TypeError:
        return value  # the validator names the setting


def _to_networks(value: object) -> object:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return value
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except (TypeError, ValueError):
            return value
    return tuple(networks)


def _networks(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple):
        raise ValidationError(
            "must be a list of proxy addresses or networks such as ['10.0.0.0/8'], "
            f"got {value!r:.60}",
            field=attribute.name,
        )


def _body_limit(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 0:
        raise ValidationError(
            f"must be an int of 0 or more, got {value!r:.60}", field=attribute.name
        )


def _header_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (
        not isinstance(value, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", value)
    ):
        raise ValidationError(
            f"must be a header name or None, got {value!r:.60}", field=attribute.name
        )


@attrs.frozen(kw_only=True)
class CaptureSettings:
    """What every adapter takes, under the same names (docs/capture.md).

    The hooks get typed views, never a framework's own objects: `identify_user`,
    `identify_company`, `session_token` and `metadata` are called as
    ``hook(request, response)`` and return a value or None; `skip(request, response)`
    returns True to leave the exchange out; `mask(event)` returns the event (changed
    or not) or None to leave it out. For governance the identify hooks are called
    before the app runs, with ``response=None``.
    """

    identify_user: Hook | None = attrs.field(default=None, validator=_callable_or_none)
    identify_company: Hook | None = attrs.field(default=None, validator=_callable_or_none)
    session_token: Hook | None = attrs.field(default=None, validator=_callable_or_none)
    metadata: Hook | None = attrs.field(default=None, validator=_callable_or_none)
    skip: Hook | None = attrs.field(default=None, validator=_callable_or_none)
    skip_paths: frozenset[str] = attrs.field(
        default=frozenset(), converter=_to_names, validator=_name_set
    )
    mask: Callable[[EventModel], EventModel | None] | None = attrs.field(
        default=None, validator=_callable_or_none
    )
    log_body: bool = attrs.field(default=True, validator=_bool)
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY_BYTES, validator=_body_limit)
    size_only_media_types: frozenset[str] = attrs.field(
        default=frozenset(), converter=_to_names, validator=_name_set
    )
    private_headers: frozenset[str] = attrs.field(
        default=frozenset(), converter=_to_names, validator=_name_set
    )
    private_body_fields: frozenset[str] = attrs.field(
        default=frozenset(), converter=_to_names, validator=_name_set
    )
    mask_private: bool = attrs.field(default=True, validator=_bool)
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = attrs.field(
        default=(), converter=_to_networks, validator=_networks
    )
    sampling: bool = attrs.field(default=True, validator=_bool)
    governance: bool = attrs.field(default=True, validator=_bool)
    transaction_id_header: str | None = attrs.field(
        default="X-Moesif-Transaction-Id", validator=_header_name
    )

    def is_private_header(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in self.private_headers:
            return True
        return self.mask_private and (
            lowered in DEFAULT_PRIVATE_HEADERS or any(w in lowered for w in PRIVATE_WORDS)
        )

    def is_private_field(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in self.private_body_fields:
            return True
        return self.mask_private and (
            lowered in DEFAULT_PRIVATE_FIELDS or any(w in lowered for w in PRIVATE_WORDS)
        )


def settings_from(options: Mapping[str, Any]) -> CaptureSettings:
    """`CaptureSettings` from an adapter's keyword arguments; an unknown one is named."""
    known = attrs.fields_dict(CaptureSettings)
    for name in options:
        if name not in known:
            raise ValidationError(
                f"is not a capture setting; the settings are {', '.join(sorted(known))}",
                field=name,
            )
    return CaptureSettings(**options)


# --- the client IP ---


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_for(value: str) -> list[str]:
    hops = []
    for element in value.split(","):
        for pair in element.split(";"):
            key, _, raw = pair.strip().partition("=")
            if key.lower() == "for":
                hops.append(raw)
    return hops


def client_ip(
    peer: str | None,
    headers: Mapping[str, str],
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy.

    Behind trusted proxies the `Forwarded` (or else `X-Forwarded-For`) chain is read
    from the right, past every trusted hop, to the first address that is not one. A
    header from an untrusted peer is never believed: anyone can send it.
    """
    if peer is None or not trusted:
        return peer
    address = _address(peer)

    def is_trusted(candidate: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return candidate is not None and any(candidate in network for network in trusted)

    if not is_trusted(address):
        return peer
    if "forwarded" in headers:
        hops = _forwarded_for(headers["forwarded"])
    elif "x-forwarded-for" in headers:
        hops = headers["x-forwarded-for"].split(",")
    else:
        return peer
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            return peer  # an unreadable hop: believe no further
        if not is_trusted(hop_address):
            return str(hop_address)
    return peer


# --- bodies ---

_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
_TEXT_TYPES = frozenset(
    {
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/javascript",
        "application/graphql",
        "application/x-ndjson",
    }
)

BODY_OMITTED = "moesif_body_omitted"
"""The key of the marker that stands for a body logged as its size only."""


def size_marker(reason: str, size: int) -> dict[str, object]:
    """What stands in an event for a body not logged: why, and its size in bytes."""
    return {BODY_OMITTED: {"reason": reason, "size": size}}


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _decoded(data: bytes, encoding: str, limit: int) -> bytes | None:
    """`data` decompressed, or None when it is not whole or grows past `limit`."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
    try:
        inflater = zlib.decompressobj(wbits[encoding])
        out = inflater.decompress(data, limit + 1)
    except (KeyError, zlib.error):
        return None
    if len(out) > limit or not inflater.eof:
        return None
    return out


class _TooDeep(Exception):
    pass


def _nests_deeper_than_allowed(value: object) -> bool:
    # Iterative, containers only: JSON nested deeper than the models accept goes as
    # text instead (the event would be refused whole).
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > _BODY_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if type(child) in _NESTS)
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if type(child) in _NESTS)
    return False


_NESTS = (dict, list)


def _lowered_contains_any(text: bytes, needles: tuple[bytes, ...]) -> bool:
    """Whether any of the lowercase `needles` occurs in `text`, in any ASCII case: the
    C speed-up's `contains_any`, in Python. `bytes.lower` and `in` run in C at memory
    speed; a case-insensitive regex of the same names took ten times as long."""
    lowered = text.lower()
    return any(needle in lowered for needle in needles)


_contains_any: Callable[[bytes, tuple[bytes, ...]], bool] | None = getattr(
    _wire._speedups, "contains_any", None
)


def _remember(cache: dict[str, bool], name: str, private: bool) -> bool:
    if len(cache) > 4096:  # names an attacker makes up must not grow it for ever
        cache.clear()
    cache[name] = private
    return private


class Privacy:
    """Which header and field names are private under some settings, remembered.

    Names repeat from one exchange to the next, so each is judged once.
    """

    __slots__ = ("_fields", "_headers", "_markers", "_settings", "_walk_all")

    def __init__(self, settings: CaptureSettings) -> None:
        self._settings = settings
        self._headers: dict[str, bool] = {}
        self._fields: dict[str, bool] = {}
        # If none of these occurs in a body's text (in any case), no key in it can be
        # private, and the body needs no walk at all.
        words = set(settings.private_body_fields)
        if settings.mask_private:
            words |= DEFAULT_PRIVATE_FIELDS | set(PRIVATE_WORDS)
        self._markers = tuple(word.encode() for word in sorted(words))
        # Bytes are matched in ASCII case only: a name outside ASCII (or an empty
        # one) means every body is walked, where `field` compares names as text.
        self._walk_all = any(not word or not word.isascii() for word in words)

    def header(self, name: str) -> bool:
        known = self._headers.get(name)
        if known is None:
            known = _remember(self._headers, name, self._settings.is_private_header(name))
        return known

    def field(self, name: str) -> bool:
        known = self._fields.get(name)
        if known is None:
            known = _remember(self._fields, name, self._settings.is_private_field(name))
        return known

    def may_hold_private_fields(self, text: bytes) -> bool:
        # An escape can spell any letter ("\\u0074oken"), and `str.lower` maps some
        # letters past ASCII onto ASCII ones (KELVIN SIGN onto "k"): such text is walked.
        if self._walk_all or b"\\u" in text or not text.isascii():
            return True
        if _contains_any is not None and len(self._markers) <= 64:
            return _contains_any(text, self._markers)  # one pass, no lowered copy
        return _lowered_contains_any(text, self._markers)

    def clean_json(self, body: bytes) -> bool:
        """Whether `body` is JSON that `json_check` lets through (nested at most as deep
        as a body may be) with no object key that may name a private field: one pass
        in C. False without the C speed-up."""
        if _json_keys_check is None or self._walk_all or len(self._markers) > 64:
            return False
        return _json_keys_check(body, _BODY_DEPTH, self._markers) == 1

    def masked(self, value: object, depth: int = 1) -> object:
        """`value` with private fields masked at any depth; `_TooDeep` past the limit."""
        if depth > MAX_JSON_DEPTH:
            raise _TooDeep
        if isinstance(value, dict):
            field = self.field
            return {
                key: (
                    DEFAULT_MASK
                    if isinstance(key, str) and field(key)
                    else self.masked(item, depth + 1)
                    if type(item) in _NESTS
                    else item
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [
                self.masked(item, depth + 1) if type(item) in _NESTS else item for item in value
            ]
        return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# NaN and Infinity are not JSON, and an event holding one would be refused whole.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


# orjson reads an integer past 64 bits as a float; the standard library keeps it
# exact. A run of 19 digits (turned into "0"s, everything else into spaces) is where
# one might be: found in C, ten times faster than the regex \d{19}.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19


def _loads(body: bytes) -> object:
    if _orjson is not None and _LONG_RUN not in body.translate(_DIGITS_AS_ZEROS):
        return _orjson.loads(body)
    return _DECODER.decode(body.decode("utf-8"))


# A body is an event's value at depth 3 (the event, its request or response, the
# body): it may nest `MAX_JSON_DEPTH - 2` deep itself for the event to be sent.
_BODY_DEPTH = MAX_JSON_DEPTH - 2


def _json_value(body: bytes, privacy: Privacy) -> object:
    """`body` parsed, private fields masked; `_NOT_JSON` when it is not JSON the
    models can carry."""
    try:
        parsed = _loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON
    if type(parsed) not in _NESTS:
        return parsed
    if privacy.may_hold_private_fields(body):
        try:
            return privacy.masked(parsed, MAX_JSON_DEPTH - _BODY_DEPTH + 1)
        except _TooDeep:
            return _NOT_JSON
    # Nesting needs an opening bracket per level: few brackets, no walk.
    if body.count(b"{") + body.count(b"[") > _BODY_DEPTH and _nests_deeper_than_allowed(parsed):
        return _NOT_JSON
    return parsed


_OPENERS = (b"{", b"[")


def _wire_json(body: bytes, privacy: Privacy) -> object:
    """`body` as an event's encoder takes it, `_NOT_JSON` when it is not JSON the
    models can carry: the body's own bytes (an `orjson.Fragment`) when it is JSON
    with nothing to mask, else `_json_value`'s value, encoded first where it may
    hold what orjson writes differently."""
    if body.lstrip()[:1] in _OPENERS and privacy.clean_json(body):  # `null` is no body
        return _orjson.Fragment(body)  # checked as JSON: nothing parsed or rewritten
    value = _json_value(body, privacy)
    if value is _NOT_JSON or type(value) not in _NESTS:
        return value
    if _LONG_RUN in body.translate(_DIGITS_AS_ZEROS):  # read by the standard library
        return _orjson.Fragment(_wire._dumps(value))  # its big ints, its infinities
    return value


def body_fields(
    body: bytes,
    size: int,
    headers: Mapping[str, str],
    settings: CaptureSettings,
    privacy: Privacy | None = None,
    json_value: Callable[[bytes, Privacy], object] = _json_value,
) -> tuple[object, str | None]:
    """A body as the event carries it: (`body`, `transfer_encoding`).

    JSON as JSON (private fields masked), other text as base64, and a size marker for
    a body over `max_body_bytes`, a binary one, or one of `size_only_media_types`.
    `json_value` reads JSON: `_json_value` for a model, `_wire_json` for the encoder.
    """
    if not settings.log_body or size == 0:
        return None, None
    limit = settings.max_body_bytes
    if size > limit:
        return size_marker(f"larger than max_body_bytes={limit}", size), None
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding and encoding != "identity":
        decoded = _decoded(body, encoding, limit)
        if decoded is None:
            return size_marker(f"{encoding}-encoded, not readable within {limit} bytes", size), None
        body = decoded
    media = _media_type(headers)
    if media in settings.size_only_media_types:
        return size_marker(f"{media} is logged as size only", size), None
    is_json = _JSON_TYPE.match(media) is not None
    is_text = is_json or not media or media.startswith("text/") or media in _TEXT_TYPES
    if privacy is None:
        privacy = Privacy(settings)
    return _readable_body(body, size, media, is_json, is_text, json_value, privacy)


def _readable_body(
    body: bytes,
    size: int,
    media: str,
    is_json: bool,
    is_text: bool,
    json_value: Callable[[bytes, Privacy], object],
    privacy: Privacy,
) -> tuple[object, str | None]:
    """`body_fields` once the body is within the cap, decoded and of a `media` type
    that is logged: JSON as JSON, other text as base64, else a size marker."""
    if is_json or (not media and body[:1] in _OPENERS):
        parsed = json_value(body, privacy)
        if parsed is not _NOT_JSON:
            return parsed, None
    if is_text:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return size_marker("not UTF-8 text", size), None
        return _base64(body), "base64"
    return size_marker(f"{media} is not text", size), None


_NOT_JSON = object()


def _may_nest_past(encoded: bytes, depth: int) -> bool:
    """Whether JSON text `encoded` may nest deeper than `depth`: it has more brackets."""
    return encoded.count(b"{") + encoded.count(b"[") > depth


def _sampling_fields(
    request: CapturedRequest, response: CapturedResponse | None, ip_address: str | None
) -> dict[str, str]:
    """`event_fields` of the event these make, without the event."""
    fields = {"request.verb": request.method, "request.route": route_of(request.url)}
    if ip_address:
        fields["request.ip_address"] = ip_address
    if response is not None and response.status:
        fields["response.status"] = str(response.status)
    return fields


def blocked_answer(decision: GovernanceDecision) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a middleware answers for a request `decision` blocks: the status (403 when
    the rule gives none), the headers and the JSON body. The rule's headers come first;
    `Content-Type` is JSON unless the rule sets one, and `Content-Length` is the body's,
    whatever the rule says."""
    body = decision.body_bytes()
    headers = [(k, v) for k, v in decision.headers.items() if k.lower() != "content-length"]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("Content-Length", str(len(body))))
    return decision.status or 403, headers, body


# --- the capture ---


def _call(hook: Callable[..., Any] | None, what: str, *args: object) -> Any:
    if hook is None:
        return None
    try:
        return hook(*args)
    except Exception:
        logger.exception("moesifapi: the %s hook raised; capturing without it", what)
        return None


def _text_or_none(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    logger.warning("moesifapi: %s returned %s, not a str; ignored", what, type(value).__name__)
    return None


def _base64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


Direction: TypeAlias = Literal["Incoming", "Outgoing"]


class Capture:
    """One adapter's capture: its client, its settings, its direction.

    `client` is a `MoesifClient` or an `AsyncMoesifClient`; the capture only calls
    plain methods on it (`queue_event`, `app_config`, `governance_rules`), so either
    works from any adapter. With ``sampling=True`` the queue samples by the app's
    config; with ``governance=True`` `govern` applies its rules.
    """

    def __init__(
        self, client: Client, settings: CaptureSettings, direction: Direction = "Incoming"
    ) -> None:
        self.client = client
        self.settings = settings
        self.direction = direction
        self._rules_seen: object = None
        self._by_body = False
        self._privacy = Privacy(settings)
        # With no hook that needs a model (`mask` here, the client's `before_send`),
        # an event is encoded straight from what was captured: no model is built.
        self._encodes = (
            _wire.FAST_JSON
            and _orjson is not None
            and settings.mask is None
            and client._queue.core.settings.before_send is None
        )
        # With no hook that reads the typed views either, an adapter hands over what
        # it saw as it is (`plain_headers`, `record_plain`): no view is built.
        self.plain = self._encodes and all(
            hook is None
            for hook in (
                settings.identify_user,
                settings.identify_company,
                settings.session_token,
                settings.metadata,
                settings.skip,
            )
        )
        name = settings.transaction_id_header
        self._tid_key = None if name is None else name.lower()
        # A header's name as it came (bytes or str) -> `plain_name`'s entry.
        self._names: dict[bytes | str, tuple[str, str, bool]] = {}
        # A content type -> `_media_kind`'s answer.
        self._media_kinds: dict[str, tuple[str, bool, bool, bool]] = {}
        # The C writer's plan of `record_plain`'s events: it reads the two dicts above
        # (filled by the Python path, which it leaves whatever they do not hold yet).
        self._event_plan: object = None
        if self.plain and _capture_plan is not None:
            privacy = self._privacy
            checks_keys = (
                _json_keys_check is not None
                and not privacy._walk_all
                and len(privacy._markers) <= 64
            )
            self._event_plan = _capture_plan(
                self._names,
                self._media_kinds,
                privacy._markers if checks_keys else None,
                _BODY_DEPTH,
                settings.max_body_bytes,
                settings.log_body,
                DEFAULT_MASK,
                direction,
            )
        if settings.sampling:
            client.app_config()  # starts keeping the config fresh
        if settings.governance and direction == "Incoming":
            client.governance_rules()

    # before the app

    def transaction_id(self, headers: Mapping[str, str]) -> str:
        """The exchange's transaction id: the request's own header's, or a new one."""
        name = self._tid_key
        return self.chosen_transaction_id(None if name is None else headers.get(name))

    def chosen_transaction_id(self, given: str | None) -> str:
        """`given` (the request's transaction id header) where it is fit, or a new id."""
        if given and len(given) <= 256 and given.isprintable():
            return given
        return _new_transaction_id()

    def governs(self) -> bool:
        """Whether `govern` can say anything: governance is on and the app has rules.

        Asked on every exchange: `__init__` asked for the rules once, and this only
        starts a fetch when one is due."""
        if not self.settings.governance:
            return False
        client = self.client
        steering = client._steering
        if steering.clock() >= steering._look_at:  # `Steering.due`'s own first test
            client._freshen()
        return bool(steering.rules.rules)  # the tuple itself: no `__len__` frame

    def governs_by_body(self) -> bool:
        """Whether a rule looks into request bodies, so that an adapter must read the
        body (up to `max_body_bytes`, then replay it to the app) before `govern`.

        Never with ``log_body=False``: no body is kept then, and rules on
        ``request.body.<field>`` see none (docs/capture.md says so)."""
        if not self.settings.governance or not self.settings.log_body:
            return False
        rules = self.client.governance_rules()
        if rules is not self._rules_seen:
            self._rules_seen = rules
            self._by_body = any(
                condition.path.startswith("request.body.")
                for rule in rules
                for group in rule.regex_config
                for condition in group.conditions
            )
        return self._by_body

    def govern(self, request: CapturedRequest) -> GovernanceDecision:
        """What the app's rules say about `request`, identified before the app runs."""
        if not self.settings.governance:
            return ALLOW
        try:
            rules = self.client.governance_rules()
            if not rules:
                return ALLOW
            settings = self.settings
            user_id = _text_or_none(
                _call(settings.identify_user, "identify_user", request, None), "identify_user"
            )
            company_id = _text_or_none(
                _call(settings.identify_company, "identify_company", request, None),
                "identify_company",
            )
            return rules.evaluate(
                self._request_model(request, datetime.now().astimezone()),
                user_id=user_id,
                company_id=company_id,
                config=self.client.app_config(),
            )
        except Exception:
            logger.exception("moesifapi: governance failed; the request goes through")
            return ALLOW

    # after the app

    def record(
        self,
        request: CapturedRequest,
        response: CapturedResponse | None,
        started: datetime,
        ended: datetime,
        *,
        transaction_id: str,
        blocked_by: str | None = None,
    ) -> bool:
        """Queue the event for this exchange; False if it was left out. Never raises."""
        try:
            if self._encodes:
                queued = self._queue_encoded(
                    request,
                    response,
                    started,
                    ended,
                    transaction_id=transaction_id,
                    blocked_by=blocked_by,
                )
                if queued is not None:
                    return queued
            event = self.event(
                request,
                response,
                started,
                ended,
                transaction_id=transaction_id,
                blocked_by=blocked_by,
            )
            if event is None:
                return False
            return bool(self.client._queue_captured(event, sample=self.settings.sampling))
        except Exception:
            logger.exception("moesifapi: could not capture %s %s", request.method, request.url)
            return False

    def event(
        self,
        request: CapturedRequest,
        response: CapturedResponse | None,
        started: datetime,
        ended: datetime,
        *,
        transaction_id: str,
        blocked_by: str | None = None,
    ) -> EventModel | None:
        """The event for this exchange, or None when `skip` or `mask` leaves it out."""
        settings = self.settings
        if request.path in settings.skip_paths or _call(settings.skip, "skip", request, response):
            return None
        user_id, company_id, session_token = self._identities(request, response)
        event = EventModel(
            request=self._request_model(request, started),
            response=None if response is None else self._response_model(response, ended),
            user_id=user_id,
            company_id=company_id,
            session_token=session_token,
            metadata=self._metadata(request, response),
            transaction_id=transaction_id,
            direction=self.direction,
            blocked_by=blocked_by,
        )
        if settings.mask is not None:
            try:
                masked = settings.mask(event)
            except Exception:
                logger.exception("moesifapi: the mask hook raised; the event is left out")
                return None
            if masked is None:
                return None
            if not isinstance(masked, EventModel):
                logger.warning(
                    "moesifapi: mask returned %s, not an EventModel or None; the event is left out",
                    type(masked).__name__,
                )
                return None
            event = masked
        return event

    def _queue_encoded(
        self,
        request: CapturedRequest,
        response: CapturedResponse | None,
        started: datetime,
        ended: datetime,
        *,
        transaction_id: str,
        blocked_by: str | None,
    ) -> bool | None:
        """`record` with no model built: the event's JSON written from the capture
        (`encoder`). None when the model path must decide (see `encoder`)."""
        found = self.encoder(
            request, response, started, ended, transaction_id=transaction_id, blocked_by=blocked_by
        )
        if not isinstance(found, tuple):
            return found
        build, weigh = found
        try:
            return bool(self.client._queue_built(build, weigh))
        except (TypeError, ValueError, _wire._NotFast):
            return None  # orjson refused a text (a lone surrogate), or a time

    def encoder(
        self,
        request: CapturedRequest,
        response: CapturedResponse | None,
        started: datetime,
        ended: datetime,
        *,
        transaction_id: str,
        blocked_by: str | None = None,
    ) -> tuple[Callable[[int | None], bytes], Callable[[], int | None] | None] | bool | None:
        """How to write this exchange's event as JSON, with no model built.

        ``(build, weigh)``: `build(weight)` writes the bytes the model path writes
        (`event`, then the queue's encoding) for the same event with that `weight`,
        but for a JSON body that needs nothing masked, which goes as it came (checked
        as JSON, not parsed and written again); `weigh` samples it (None with
        ``sampling=False``). False when `skip` leaves the exchange out. None when a
        hook's value is out of the ordinary (metadata the encoder does not take as it
        is): the model path then builds the event and says what is wrong.
        """
        settings = self.settings
        if request.path in settings.skip_paths or _call(settings.skip, "skip", request, response):
            return False
        user_id, company_id, session_token = self._identities(request, response)
        metadata = self._metadata(request, response)
        try:
            encoded_metadata = None if metadata is None else _wire._dumps(metadata)
        except Exception:
            return None  # the model path names what is wrong with it
        if encoded_metadata is not None and _may_nest_past(encoded_metadata, MAX_JSON_DEPTH - 1):
            return None
        ip_address = client_ip(request.client_address, request.headers, settings.trusted_proxies)
        weigh = None
        if settings.sampling:
            weight_of = self.client._steering.weight

            def fields() -> dict[str, str]:
                return _sampling_fields(request, response, ip_address)

            def weigh() -> int | None:
                return weight_of(fields, user_id, company_id)

        def build(weight: int | None) -> bytes:
            event: dict[str, object] = {
                "request": self._wire_half(request, started, ip_address),
                "transaction_id": transaction_id,
            }
            if response is not None:
                event["response"] = self._wire_half(response, ended, None)
            if user_id is not None:
                event["user_id"] = user_id
            if company_id is not None:
                event["company_id"] = company_id
            if session_token is not None:
                event["session_token"] = session_token
            event["direction"] = self.direction
            if weight is not None:
                event["weight"] = weight
            if encoded_metadata is not None:
                event["metadata"] = _orjson.Fragment(encoded_metadata)
            if blocked_by is not None:
                event["blocked_by"] = blocked_by
            out: bytes = _orjson.dumps(event)
            return out

        return build, weigh

    def _wire_half(
        self,
        half: CapturedRequest | CapturedResponse,
        time: datetime,
        ip_address: str | None,
    ) -> dict[str, object]:
        """A request's or a response's part of the event, in the wire format."""
        out: dict[str, object] = {"time": _wire._fast_time(time)}
        if isinstance(half, CapturedRequest):
            out["uri"] = half.url
            out["verb"] = half.method
        else:
            out["status"] = half.status
        out["headers"] = self._headers(half.headers)
        if ip_address is not None:
            out["ip_address"] = ip_address
        body, transfer_encoding = body_fields(
            half.body, half.body_size, half.headers, self.settings, self._privacy, _wire_json
        )
        if body is not None:
            out["body"] = body
        if transfer_encoding is not None:
            out["transfer_encoding"] = transfer_encoding
        return out

    def _identities(
        self, request: CapturedRequest, response: CapturedResponse | None
    ) -> tuple[str | None, str | None, str | None]:
        """The user id, company id and session token the hooks give (None for none)."""
        settings = self.settings
        return (
            _text_or_none(
                _call(settings.identify_user, "identify_user", request, response), "identify_user"
            ),
            _text_or_none(
                _call(settings.identify_company, "identify_company", request, response),
                "identify_company",
            ),
            _text_or_none(
                _call(settings.session_token, "session_token", request, response), "session_token"
            ),
        )

    def _metadata(
        self, request: CapturedRequest, response: CapturedResponse | None
    ) -> Mapping[str, object] | None:
        value = _call(self.settings.metadata, "metadata", request, response)
        if value is None or isinstance(value, Mapping):
            return value
        logger.warning("moesifapi: metadata returned %s, not a dict; ignored", type(value).__name__)
        return None

    def _headers(self, headers: Headers) -> dict[str, str]:
        private = self._privacy.header
        return {name: DEFAULT_MASK if private(name) else value for name, value in headers.items()}

    def _request_model(self, request: CapturedRequest, started: datetime) -> EventRequestModel:
        body, transfer_encoding = body_fields(
            request.body, request.body_size, request.headers, self.settings, self._privacy
        )
        return EventRequestModel(
            time=started,
            uri=request.url,
            verb=request.method,
            headers=self._headers(request.headers),
            ip_address=client_ip(
                request.client_address, request.headers, self.settings.trusted_proxies
            ),
            body=body,
            transfer_encoding=transfer_encoding,
        )

    def _response_model(self, response: CapturedResponse, ended: datetime) -> EventResponseModel:
        body, transfer_encoding = body_fields(
            response.body, response.body_size, response.headers, self.settings, self._privacy
        )
        return EventResponseModel(
            time=ended,
            status=response.status,
            headers=self._headers(response.headers),
            body=body,
            transfer_encoding=transfer_encoding,
        )

    # --- the plain path: no hook reads the views, so none is built ---

    def header_entry(self, name: str) -> tuple[str, str, bool]:
        """(`name`, its lowercase, whether it is private)."""
        return name, name.lower(), self._privacy.header(name)

    def plain_name(self, raw: bytes | str, name: str) -> tuple[str, str, bool]:
        """`header_entry(name)` for a header spelled `raw`, remembered by `raw`."""
        names = self._names
        if len(names) > 4096:  # names an attacker makes up must not grow it for ever
            names.clear()
        entry = names[raw] = self.header_entry(name)
        return entry

    def plain_headers(self, pairs: Iterable[tuple[bytes, bytes]]) -> PlainHeaders:
        """ASGI's (or httpx's) byte pairs, decoded as latin-1 as `Headers.from_raw`
        decodes them, as `PlainHeaders`."""
        names = self._names
        values: dict[str, str] = {}
        shown: dict[str, str] = {}
        try:
            for raw_name, raw_value in pairs:
                entry = names.get(raw_name)
                if entry is None:
                    entry = self.plain_name(raw_name, raw_name.decode("latin-1"))
                name, key, private = entry
                value = raw_value.decode("latin-1")
                if key in values:
                    add_plain(values, shown, entry, value)
                else:
                    values[key] = value
                    shown[name] = DEFAULT_MASK if private else value
        except TypeError:  # an unhashable name (a bytearray): the general way
            return self.plain_of(Headers.from_raw(pairs))
        return values, shown

    def plain_str_headers(self, pairs: Iterable[tuple[str, str]]) -> PlainHeaders:
        """Pairs of str (WSGI's), as `Headers` reads them, as `PlainHeaders`."""
        names = self._names
        values: dict[str, str] = {}
        shown: dict[str, str] = {}
        for raw_name, value in pairs:
            entry = names.get(raw_name)
            if entry is None:
                entry = self.plain_name(raw_name, raw_name)
            name, key, private = entry
            if key in values:
                add_plain(values, shown, entry, value)
            else:
                values[key] = value
                shown[name] = DEFAULT_MASK if private else value
        return values, shown

    def plain_of(self, headers: Headers) -> PlainHeaders:
        """`headers` as `PlainHeaders`."""
        private = self._privacy.header
        values: dict[str, str] = {}
        shown: dict[str, str] = {}
        for key, (name, value) in headers._by_lower.items():
            values[key] = value
            shown[name] = DEFAULT_MASK if private(name) else value
        return values, shown

    def as_plain(self, headers: HeaderInput) -> PlainHeaders:
        """Headers as an adapter hands them to `record_plain`, as `PlainHeaders`."""
        if isinstance(headers, tuple) and len(headers) == 2 and isinstance(headers[0], dict):
            return headers
        pairs: list[Any] = list(headers)
        if pairs and isinstance(pairs[0][0], str):
            return self.plain_str_headers(pairs)
        return self.plain_headers(pairs)

    def record_plain(
        self,
        method: str,
        url: str,
        peer: str | None,
        request_headers: HeaderInput,
        request_body: bytes,
        request_size: int,
        status: int | None,
        response_headers: HeaderInput | None,
        response_body: bytes,
        response_size: int,
        started: datetime,
        ended: datetime,
        transaction_id: str,
        blocked_by: str | None,
    ) -> bool | None:
        """`record` from what the adapter saw, as it saw it, for a `plain` capture: the
        event's JSON written with no view and no model built. Headers come as the
        server gave them (pairs of bytes, or of str) or as `PlainHeaders`. The response
        is there when `status` is not None (with `response_headers`). Never raises.
        None when the model path must decide: the adapter then calls `record` with the
        views.

        The C speed-up writes the common exchange (`_speedups.capture_event`); the rest,
        and everything without it, is written here (`_plain_event`), to the same bytes
        (tests/integrations/test_capture_writer.py). The same event as `record`'s
        (tests/integrations/test_capture_encoder.py holds the two to the same bytes);
        `encoder` is the general form.
        """
        try:
            settings = self.settings
            if settings.skip_paths and (urlsplit(url).path or "/") in settings.skip_paths:
                return False
            trusted = settings.trusted_proxies
            ip_address = peer
            if peer is not None and trusted:
                request_headers = self.as_plain(request_headers)
                ip_address = client_ip(peer, request_headers[0], trusted)
            weight = None
            if settings.sampling:
                steering = self.client._steering
                config = steering.config
                if not config.regex_config and _keeps_all(config.sample_rate):
                    weight = 1  # no rule, no ids: kept, standing for itself, as `weight` says
                else:
                    fields = {"request.verb": method, "request.route": route_of(url)}
                    if ip_address:
                        fields["request.ip_address"] = ip_address
                    if status:
                        fields["response.status"] = str(status)
                    kept, weight = self.client._queue.core.weigh(
                        lambda: steering.weight(lambda: fields, None, None)
                    )
                    if not kept:
                        return False
            parts = (
                method,
                url,
                ip_address,
                request_headers,
                request_body,
                request_size,
                status,
                response_headers,
                response_body,
                response_size,
                started,
                ended,
                transaction_id,
                weight,
                blocked_by,
            )
            plan = self._event_plan
            encoded = None if plan is None else _capture_event(plan, *parts)
            if encoded is None:
                encoded = self._plain_event(*parts)
            return bool(self.client._queue_encoded(encoded))
        except (TypeError, ValueError, _wire._NotFast):
            return None  # orjson refused a text (a lone surrogate), or a time
        except Exception:
            logger.exception("moesifapi: could not capture %s %s", method, url)
            return False

    def _plain_event(
        self,
        method: str,
        url: str,
        ip_address: str | None,
        request_headers: HeaderInput,
        request_body: bytes,
        request_size: int,
        status: int | None,
        response_headers: HeaderInput | None,
        response_body: bytes,
        response_size: int,
        started: datetime,
        ended: datetime,
        transaction_id: str,
        weight: int | None,
        blocked_by: str | None,
    ) -> bytes:
        """`record_plain`'s event, written in Python: what `_speedups.capture_event`
        writes, for every exchange."""
        settings = self.settings
        plain = self.as_plain(request_headers)
        request: dict[str, object] = {
            "time": _time_text(started),
            "uri": url,
            "verb": method,
            "headers": plain[1],
        }
        if ip_address is not None:
            request["ip_address"] = ip_address
        if request_size and settings.log_body:
            body, transfer_encoding = self._plain_body(request_body, request_size, plain[0])
            if body is not None:
                request["body"] = body
            if transfer_encoding is not None:
                request["transfer_encoding"] = transfer_encoding
        event: dict[str, object] = {"request": request, "transaction_id": transaction_id}
        if status is not None and response_headers is not None:
            answer = self.as_plain(response_headers)
            response: dict[str, object] = {
                "time": _time_text(ended),
                "status": status,
                "headers": answer[1],
            }
            if response_size and settings.log_body:
                body, transfer_encoding = self._plain_body(response_body, response_size, answer[0])
                if body is not None:
                    response["body"] = body
                if transfer_encoding is not None:
                    response["transfer_encoding"] = transfer_encoding
            event["response"] = response
        event["direction"] = self.direction
        if weight is not None:
            event["weight"] = weight
        if blocked_by is not None:
            event["blocked_by"] = blocked_by
        out: bytes = _orjson.dumps(event)
        return out

    def _plain_body(
        self, body: bytes, size: int, values: Mapping[str, str]
    ) -> tuple[object, str | None]:
        """`body_fields(body, size, values, ...)` for the encoder, with ``log_body`` on
        and a body (`size`): what the content type says is remembered."""
        settings = self.settings
        limit = settings.max_body_bytes
        if size > limit or "content-encoding" in values:
            return body_fields(body, size, values, settings, self._privacy, _wire_json)
        content_type = values.get("content-type", "")
        kind = self._media_kinds.get(content_type)
        if kind is None:
            kind = self._media_kind(content_type)
        media, size_only, is_json, is_text = kind
        if size_only:
            return size_marker(f"{media} is logged as size only", size), None
        return _readable_body(body, size, media, is_json, is_text, _wire_json, self._privacy)

    def _media_kind(self, content_type: str) -> tuple[str, bool, bool, bool]:
        """(the media type, whether it is logged as size only, whether it is JSON,
        whether it is text) as `body_fields` reads a content type."""
        media = _media_type({"content-type": content_type})
        is_json = _JSON_TYPE.match(media) is not None
        is_text = is_json or not media or media.startswith("text/") or media in _TEXT_TYPES
        kind = (media, media in self.settings.size_only_media_types, is_json, is_text)
        kinds = self._media_kinds
        if len(kinds) > 256:
            kinds.clear()
        kinds[content_type] = kind
        return kind


def _keeps_all(rate: int | None) -> bool:
    """Whether an app sample rate keeps every event (`rate_for`: 100 when unset)."""
    return rate is None or rate >= 100


HeaderInput: TypeAlias = "PlainHeaders | Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]"
"""Headers as an adapter hands them to `Capture.record_plain`: as the server gave them
(ASGI's pairs of bytes, WSGI's pairs of str), or already `PlainHeaders`."""

PlainHeaders: TypeAlias = "tuple[dict[str, str], dict[str, str]]"
"""Headers as a plain capture keeps them: (each value by its lowercase name, repeated
ones joined with ``", "`` as `Headers` joins them; the event's headers by name as first
spelled, private ones masked). The first serves lookups of lowercase names (a plain
`Mapping` for `client_ip` and `body_fields`); the second is written as it is."""


def add_plain(
    values: dict[str, str], shown: dict[str, str], entry: tuple[str, str, bool], value: str
) -> None:
    """Add one header to `PlainHeaders`' dicts (`Capture.plain_name`'s `entry`): a
    repeated name is joined to its first value, under its first spelling."""
    _, key, private = entry
    seen = values.get(key)
    if seen is None:
        values[key] = value
        shown[entry[0]] = DEFAULT_MASK if private else value
        return
    joined = values[key] = f"{seen}, {value}"
    first = next(name for name in shown if name.lower() == key)
    shown[first] = DEFAULT_MASK if private else joined


def plain_view(headers: PlainHeaders) -> Headers:
    """`PlainHeaders` as the `Headers` the hooks get (the same as `Headers` of the
    pairs they came from)."""
    values, shown = headers
    view = Headers.__new__(Headers)
    pairs = zip(shown, values.items(), strict=True)
    view._by_lower = {key: (name, value) for name, (key, value) in pairs}
    return view


_utc_millis: Callable[[datetime], str | None] | None = getattr(_wire._speedups, "utc_millis", None)


def _time_text(value: datetime) -> str:
    """`_wire._fast_time`, with the C speed-up's answer for a UTC `datetime` first (the
    same text: both keep the millisecond, truncated)."""
    if _utc_millis is not None:
        text = _utc_millis(value)
        if text is not None:
            return text
    return _wire._fast_time(value)
