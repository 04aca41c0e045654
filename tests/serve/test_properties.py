"""Property test of the JSON API: generated bodies (control characters, unpaired surrogates, deep nesting, huge
integers, NaN and infinite thresholds, wrong types, bytes that are not UTF-8, empty bodies, wrong content types) sent
to every endpoint are answered 2xx or 4xx, never 5xx; every 4xx is the documented ``{"error": ..., "limit": ...}``
JSON; and the next good request is answered correctly.

Bounded: a tiny BERT serves, each endpoint gets ``MAX_EXAMPLES`` examples, and under ``CI`` the examples are
derandomized (the same every run) and no example database is written.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve.conftest import CORPUS, QUERIES, client_of

MAX_EXAMPLES = 120
CI = bool(os.environ.get("CI"))
PROFILE = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=CI,
                   database=None if CI else settings().database,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# every character, unpaired surrogates and C0/C1 controls (U+001C..U+001F, which str.strip removes) included
CHARACTERS = st.characters(exclude_categories=[]) | st.sampled_from("\x00\x1c\x1d\x1e\x1f\x85\u2028 \t\n")
TEXTS = st.text(CHARACTERS, max_size=12)
NUMBERS = (st.integers() | st.integers(min_value=-(10**60), max_value=10**60)
           | st.floats(allow_nan=True, allow_infinity=True))
SCALARS = st.none() | st.booleans() | NUMBERS | TEXTS
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(TEXTS, inner, max_size=3), max_leaves=12)
FIELDS = {  # each endpoint's fields, with values of the right type mostly and anything sometimes
    "/api/search": {"queries": st.lists(TEXTS, max_size=5) | JSON_VALUES, "top_k": NUMBERS | JSON_VALUES,
                    "threshold": NUMBERS | JSON_VALUES},
    "/api/similarity": {"pairs": st.lists(st.lists(TEXTS, min_size=1, max_size=3), max_size=4) | JSON_VALUES},
    "/api/embed": {"sentences": st.lists(TEXTS, max_size=5) | JSON_VALUES},
}
CONTENT_TYPES = st.sampled_from(["application/json"] * 6 + [
    None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8", "application/ld+json",
    "multipart/form-data; boundary=x", "APPLICATION/JSON"])


def shaped(path: str) -> st.SearchStrategy[object]:
    """JSON objects with some of ``path``'s fields (and sometimes an unknown one), or any JSON value."""
    fields = FIELDS[path]
    return st.fixed_dictionaries({}, optional={**fields, "extra": JSON_VALUES}) | JSON_VALUES


def bodies(path: str) -> st.SearchStrategy[bytes]:
    """Bodies for ``path``: its JSON shape with anything inside, raw bytes, deep nesting, huge numbers, nothing."""
    dumped = shaped(path).map(lambda value: json.dumps(value).encode())  # NaN, Infinity and \ud800 escapes kept
    deep = st.integers(1, 100_000).map(lambda n: b'{"queries": ' + b"[" * n + b"]" * n + b"}")
    huge = st.integers(4000, 20_000).map(lambda n: b'{"queries": ["a"], "top_k": ' + b"9" * n + b"}")
    return dumped | st.binary(max_size=64) | deep | huge | st.just(b"")


@pytest.fixture(scope="module")
def served(tiny_bert_path):
    """A client of an app over CORPUS on a tiny BERT, and that index."""
    from simcse_st.apps import SemanticIndex
    from simcse_st.serve import create_app

    index = SemanticIndex(tiny_bert_path, CORPUS, show_progress_bar=False)
    with client_of(create_app(index, map_method="pca")) as client:
        yield client, index


def assert_documented(response) -> None:
    """Never a 5xx; a 4xx is ``{"error": str, "limit": str}``."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        answer = response.json()
        assert set(answer) == {"error", "limit"}, answer
        assert isinstance(answer["error"], str) and isinstance(answer["limit"], str)
        assert answer["error"].startswith(answer["limit"] + ": ")


def assert_good_search(client, index) -> None:
    query = next(iter(QUERIES))
    answer = client.post("/api/search", json={"queries": [query], "top_k": 3})
    assert answer.status_code == 200
    assert [hit["position"] for hit in answer.json()["results"][0]] == [
        hit.position for hit in index.search(query, top_k=3)[0]]


@pytest.mark.parametrize("path", list(FIELDS))
@PROFILE
@given(data=st.data())
def test_generated_posts_are_answered_2xx_or_documented_4xx(served, path, data):
    client, index = served
    body = data.draw(bodies(path), label="body")
    content_type = data.draw(CONTENT_TYPES, label="content type")
    response = client.post(path, content=body, headers={} if content_type is None else {"Content-Type": content_type})
    assert_documented(response)
    assert_good_search(client, index)


@pytest.mark.parametrize("path", ["/healthz", "/api/map", "/api/search", "/"])
@PROFILE
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), dims=TEXTS | NUMBERS.map(str),
       body=st.binary(max_size=32))
def test_generated_calls_of_any_method_are_answered_2xx_or_documented_4xx(served, path, method, dims, body):
    client, index = served
    response = client.request(method, path, params={"dims": dims}, content=body,
                              headers={"Content-Type": "application/json"})
    if path != "/" or response.status_code >= 400:  # the page is HTML
        assert_documented(response)
    assert_good_search(client, index)
