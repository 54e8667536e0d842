"""Loopback only: every process of the capture benchmark imports this first.

It wraps `socket.getaddrinfo` and `socket.socket.connect` so that a name or an
address off this machine is refused with `OSError` before any packet leaves: the
official middlewares default to api.moesif.net, and a setting they ignore must not
send anything anywhere. Only 127.0.0.0/8, ::1 and "localhost" pass.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: object) -> bool:
    if host is None:  # getaddrinfo(None, port): the local, passive address
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0]
    if name.lower() in _NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _refuse(host: object) -> OSError:
    return OSError(f"capture benchmark: {host!r} is not a loopback address; refused")


_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_loopback(host):
        raise _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


def _checked(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
        raise _refuse(address[0])


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _checked(self, address)
    _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _checked(self, address)
    return _connect_ex(self, address)


if socket.getaddrinfo is not _guarded_getaddrinfo:
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
