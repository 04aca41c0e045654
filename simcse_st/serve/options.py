"""The service's defaults and which ``Host`` names it answers: plain Python, importable without the ``[serve]``
extra (the ``simcse-st serve`` command reads them to build its options before FastAPI is imported)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

MAX_QUEUE = 256
"""Texts waiting for the encoder at most (``--max-queue``); past it, requests are answered 503."""
MAP_MAX_POINTS = 5000
"""Sentences of the map at most (``--map-max-points``); a larger corpus is mapped through a fixed-seed sample."""
API_KEY_ENV = "SIMCSE_ST_API_KEY"
"""The environment variable ``simcse-st serve`` reads its API key from when ``--api-key`` is not given."""
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""Names of this machine a browser may put in ``Host``."""


def is_loopback(host: str) -> bool:
    """Whether the bind address ``host`` (a name or an IP address, IPv6 with or without brackets) is this machine
    only."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name of a ``Host`` header or bind address, lower case, without its port (IPv6 in brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") > 1:  # a bare IPv6 address (a bind address)
        return f"[{host}]"
    return host.split(":", 1)[0]


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` names a server bound to ``bound`` answers: the loopback names, ``bound`` and ``extra``."""
    return frozenset(host_name(host) for host in (*LOOPBACK_HOSTS, bound, *extra))
