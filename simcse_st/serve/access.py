"""Who may use the service: the ``Host`` a request names, its API key, and JSON-only POST bodies.

A server on 127.0.0.1 is still reachable from any web page the user visits: a page can POST a "simple" cross-site
request (no Content-Type, no preflight), and DNS rebinding can point a name the attacker owns at 127.0.0.1 and
read the answers. So requests naming a ``Host`` the server does not serve are refused (403), POST bodies must be
``application/json`` (415), and with an API key every API call must carry it (401). Each refusal is the
documented JSON error of :mod:`simcse_st.serve.limits`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from simcse_st.serve.limits import ASGIApp, error_response
from simcse_st.serve.options import host_name


class Access:
    """ASGI middleware refusing requests whose ``Host`` is not in ``hosts`` (403), API calls without the
    ``Authorization: Bearer API_KEY`` header when ``api_key`` is set (401, compared in constant time), and POST
    bodies that are not ``application/json`` (415). The page and its static files need no key.

    Args:
        app: the application behind it.
        hosts: the ``Host`` names served (:func:`~simcse_st.serve.options.allowed_hosts`).
        api_key: the key every ``/api/*`` and ``/healthz`` request must carry, or None.
    """

    def __init__(self, app: ASGIApp, hosts: Iterable[str], api_key: str | None = None) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self.expected = None if api_key is None else f"Bearer {api_key}".encode()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
        refusal = self.refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def refusal(self, scope: MutableMapping[str, Any]) -> Any:
        """The error response for a request this server must not answer, or None."""
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if host_name(host) not in self.hosts:
            return error_response("host", f"got Host {host!r}")
        path = scope["path"]
        if self.expected is not None and (path.startswith("/api/") or path == "/healthz"):
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                return error_response("api_key", "missing" if not given else "wrong key",
                                      headers={"WWW-Authenticate": "Bearer"})
        if scope["method"] == "POST":
            media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if media != b"application/json":
                return error_response("content_type", f"got {media.decode('latin-1')!r}" if media else "none given")
        return None
