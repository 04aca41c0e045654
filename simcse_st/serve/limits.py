"""The request limits of the service and the JSON errors that name them.

Every request the service refuses is answered with a 4xx status (503 when its queue is full) and
``{"error": <message>, "limit": <name>}``, where the message says what was wrong and how to fix it. The request
bodies are validated by pydantic models, in full, before anything reaches the encoder (a text is usable by the
library's one rule, :func:`~simcse_st.data.text.is_usable_text`); :func:`limit_error` turns pydantic's first
complaint into the limit it broke.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from simcse_st.data.text import is_usable_text

MAX_ITEMS = 64
"""Queries, pairs or sentences in one request."""
MAX_TEXT_CHARS = 2000
"""Characters in one text."""
MAX_TOP_K = 100
"""Largest ``top_k`` of a search."""
MAX_BODY_BYTES = 1_000_000
"""Bytes in one request body (1 MB)."""
RETRY_AFTER_S = 1
"""Seconds a client is asked to wait (``Retry-After``) when the queue is full."""

MESSAGES: dict[str, tuple[int, str]] = {
    "max_items": (422, f"at most {MAX_ITEMS} queries, pairs or sentences per request; split the request"),
    "min_items": (422, "give at least one query, pair or sentence"),
    "max_text_chars": (422, f"each text may hold at most {MAX_TEXT_CHARS} characters; shorten it"),
    "blank_text": (422, "texts must not be empty or blank (nothing left once whitespace and control separators "
                   "such as U+001C..U+001F are removed)"),
    "unicode": (422, "texts must be valid Unicode: an unpaired surrogate (e.g. \\ud800) cannot be encoded; "
                "send UTF-8 text"),
    "top_k_range": (422, f"top_k must be an integer from 1 to {MAX_TOP_K}"),
    "threshold_range": (422, "threshold is a cosine similarity: null or a number from -1 to 1"),
    "dims": (422, "dims must be 2 or 3"),
    "max_body_bytes": (413, f"the request body may hold at most {MAX_BODY_BYTES:,} bytes (1 MB)"),
    "json": (400, "the request body is not valid JSON (UTF-8, nested at most a few hundred levels)"),
    "shape": (422, "the request body does not have the documented shape"),
    "input": (422, "the model refused this input"),
    "map_size": (409, "the corpus is too small for this map"),
    "host": (403, "this server does not serve the Host named by the request; open it by the address it printed, "
             "or start it with --allowed-host NAME"),
    "content_type": (415, "POST bodies must be JSON: send the header Content-Type: application/json"),
    "api_key": (401, "this server needs its API key: send the header Authorization: Bearer KEY"),
    "queue_full": (503, f"the server is busy (its queue of waiting texts is full); retry in {RETRY_AFTER_S} s"),
    "not_found": (404, "no such page or API call; see the JSON API in README"),
    "method": (405, "this HTTP method is not allowed here"),
}
"""Each limit's status code and message."""

_RANGE_LIMITS = {"top_k": "top_k_range", "threshold": "threshold_range"}
_ERROR_LIMITS = {"string_too_long": "max_text_chars", "blank_text": "blank_text",
                 "string_unicode": "unicode",  # pydantic refuses a str holding an unpaired surrogate
                 "json_invalid": "json"}
_STATUS_LIMITS = {400: "json", 401: "api_key", 403: "host", 404: "not_found", 405: "method", 413: "max_body_bytes",
                  415: "content_type", 503: "queue_full"}


def _usable(text: str) -> str:
    """``text`` when the library's one rule (:func:`~simcse_st.data.text.is_usable_text`) says it is usable."""
    if not is_usable_text(text):
        raise PydanticCustomError("blank_text", "the text is empty or blank")
    return text


Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS), AfterValidator(_usable)]
"""One text of a request: valid Unicode (pydantic refuses unpaired surrogates), at most ``MAX_TEXT_CHARS``
characters, usable by the library's rule."""
Texts = Annotated[list[Text], Field(min_length=1, max_length=MAX_ITEMS)]
"""The texts of a request: 1 to ``MAX_ITEMS`` of them."""


class _Strict(BaseModel):
    """JSON of exactly the documented shape: no unknown field, no type coercion (``"5"`` is not 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SearchRequest(_Strict):
    """``POST /api/search``."""

    queries: Texts
    top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K)] = 5
    threshold: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None


class SimilarityRequest(_Strict):
    """``POST /api/similarity``."""

    pairs: Annotated[list[Annotated[list[Text], Field(min_length=2, max_length=2)]],
                     Field(min_length=1, max_length=MAX_ITEMS)]


class EmbedRequest(_Strict):
    """``POST /api/embed``."""

    sentences: Texts


def error_response(limit: str, detail: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error of ``limit``: its status, and a message naming it (with ``detail`` appended)."""
    status, message = MESSAGES[limit]
    text = f"{limit}: {message}" + (f" ({detail})" if detail else "")
    return JSONResponse({"error": text, "limit": limit}, status_code=status, headers=headers)


def status_error(status: int, detail: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error of an HTTP ``status`` raised outside the request models (404, 405, a body not parsed...)."""
    return error_response(_STATUS_LIMITS.get(status, "shape"), detail, headers)


def limit_error(errors: list[dict[str, Any]]) -> JSONResponse:
    """The error response for pydantic's validation ``errors`` of a request: the limit of the first one.

    A list that is too long or empty breaks ``max_items`` / ``min_items``; a text, ``top_k``, ``threshold`` or
    ``dims`` out of range its own limit; anything else (missing or unknown fields, wrong types) is ``shape``.
    """
    error = errors[0]
    kind, location = error["type"], tuple(error.get("loc", ()))
    where = ".".join(str(part) for part in location[1:])
    if kind in _ERROR_LIMITS:
        limit = _ERROR_LIMITS[kind]
    elif kind in ("too_long", "too_short") and len(location) == 2:  # the list itself, not a pair inside it
        limit = "max_items" if kind == "too_long" else "min_items"
    elif kind in ("greater_than_equal", "less_than_equal") and location[-1] in _RANGE_LIMITS:
        limit = _RANGE_LIMITS[location[-1]]
    else:
        limit = "shape"
    detail = f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", ""))
    if limit == "shape" and len(location) == 1:  # the body as a whole
        detail += "; send a JSON object with the header Content-Type: application/json"
    return error_response(limit, detail)


ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]],
                   Awaitable[None]]


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with the ``max_body_bytes`` error (413), both
    when ``Content-Length`` announces them and when a chunked body grows past the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length", b"0")
        if announced.isdigit() and int(announced) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send, more)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable, more: bool = True
                      ) -> None:
        """Read and drop the rest of the body (up to 8 times the limit) so the client sees the answer, then answer."""
        dropped = 0
        while more and dropped <= 8 * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            dropped += len(message.get("body", b""))
            more = message.get("more_body", False)
        await error_response("max_body_bytes")(scope, receive, send)


def _replay(body: bytes, receive: Callable) -> Callable[[], Awaitable[dict]]:
    """A ``receive`` that hands the already read ``body`` over once, then waits on the real one."""
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
