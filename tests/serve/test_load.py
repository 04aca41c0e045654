"""A bounded load and fault test against a live ``simcse-st serve --api-key`` on 127.0.0.1: 1,000 requests from 8
threads, a tenth of them bad (every kind of limit, a foreign Host, no Content-Type, a wrong or missing key, a blank
U+001C query), no 5xx, every good answer equal to ``SemanticIndex.search`` on the same query, and the server's
memory after the run within 50 MB of before."""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from simcse_st.serve.limits import MAX_BODY_BYTES, MAX_ITEMS, MAX_TEXT_CHARS, MAX_TOP_K
from tests.serve.conftest import API_KEY, QUERIES

N_REQUESTS = 1000
N_THREADS = 8
BAD_EVERY = 10  # one request in ten is bad
MAX_RSS_GROWTH = 50 * 2**20

JSON = {"Content-Type": "application/json"}
KEY = {"Authorization": f"Bearer {API_KEY}"}
SEARCH = json.dumps({"queries": ["q"]}).encode()
# (method, path, body bytes or None, headers besides the key (None: no key either), the limit named); each kind of
# bad input
BAD = [
    ("POST", "/api/search", json.dumps({"queries": ["q"] * (MAX_ITEMS + 1)}).encode(), JSON, "max_items"),
    ("POST", "/api/embed", json.dumps({"sentences": ["s"] * (MAX_ITEMS + 1)}).encode(), JSON, "max_items"),
    ("POST", "/api/search", json.dumps({"queries": ["a" * (MAX_TEXT_CHARS + 1)]}).encode(), JSON, "max_text_chars"),
    ("POST", "/api/similarity", json.dumps({"pairs": [["a", "b" * (MAX_TEXT_CHARS + 1)]]}).encode(), JSON,
     "max_text_chars"),
    ("POST", "/api/search", json.dumps({"queries": ["q"], "top_k": MAX_TOP_K + 1}).encode(), JSON, "top_k_range"),
    ("POST", "/api/search", json.dumps({"queries": ["q"], "top_k": 0}).encode(), JSON, "top_k_range"),
    ("POST", "/api/search", json.dumps({"queries": [" "]}).encode(), JSON, "blank_text"),
    ("POST", "/api/search", json.dumps({"queries": ["a good query", "\u001c"]}).encode(), JSON, "blank_text"),
    ("POST", "/api/similarity", json.dumps({"pairs": [["", "b"]]}).encode(), JSON, "blank_text"),
    ("POST", "/api/search", b"x" * (MAX_BODY_BYTES + 1), JSON, "max_body_bytes"),
    ("POST", "/api/search", b'{"queries": [', JSON, "json"),
    ("POST", "/api/search", json.dumps({"questions": ["q"]}).encode(), JSON, "shape"),
    ("POST", "/api/similarity", json.dumps({"pairs": [["only one"]]}).encode(), JSON, "shape"),
    ("POST", "/api/search", SEARCH, {**JSON, "Host": "attacker.example"}, "host"),
    ("GET", "/api/map", None, {"Host": "rebound.attacker.example:8000"}, "host"),
    ("POST", "/api/search", SEARCH, {}, "content_type"),
    ("POST", "/api/embed", SEARCH, {"Content-Type": "text/plain"}, "content_type"),
    ("POST", "/api/search", SEARCH, {**JSON, "Authorization": f"Bearer {API_KEY}x"}, "api_key"),
    ("GET", "/healthz", None, None, "api_key"),
]
GOOD = [(query, top_k, threshold) for query in QUERIES for top_k, threshold in ((1, None), (5, None), (10, 0.2))]


@pytest.fixture(scope="module")
def expected(corpus_index) -> dict[tuple, list[tuple[int, float]]]:
    """Each good request's answer from the index in the test process: (position, score) per hit."""
    return {
        (query, top_k, threshold): [(hit.position, hit.score) for hit in
                                     corpus_index.search(query, top_k=top_k, threshold=threshold)[0]]
        for query, top_k, threshold in GOOD
    }


def rss(pid: int) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


def test_1000_requests_from_8_threads_a_tenth_bad(live_server, expected):
    import httpx

    def send(client: httpx.Client, number: int) -> tuple[int, str | None, object]:
        if number % BAD_EVERY == 0:
            method, path, body, headers, limit = BAD[(number // BAD_EVERY) % len(BAD)]
            headers = {} if headers is None else {**KEY, **headers}  # None: no key either
            response = client.request(method, path, content=body, headers=headers)
            return response.status_code, limit, response.json().get("limit")
        key = GOOD[number % len(GOOD)]
        response = client.post("/api/search", json={"queries": [key[0]], "top_k": key[1], "threshold": key[2]},
                               headers=KEY)
        hits = response.json()["results"][0] if response.status_code == 200 else response.text
        return response.status_code, None, (key, hits)

    def worker(numbers: list[int]) -> list[tuple[int, str | None, object]]:
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            return [send(client, number) for number in numbers]

    def run(numbers: range) -> list[tuple[int, str | None, object]]:
        with ThreadPoolExecutor(N_THREADS) as pool:
            chunks = [list(numbers)[i::N_THREADS] for i in range(N_THREADS)]
            return list(itertools.chain.from_iterable(pool.map(worker, chunks)))

    pid = live_server.process.pid
    run(range(N_REQUESTS, N_REQUESTS + 50))  # warm-up: allocator pools and caches fill once
    before = rss(pid)
    answers = run(range(N_REQUESTS))
    after = rss(pid)

    assert len(answers) == N_REQUESTS
    assert not [a for a in answers if a[0] >= 500], "the server answered 5xx"
    bad = [(status, limit, named) for status, limit, named in answers if limit is not None]
    assert len(bad) == N_REQUESTS // BAD_EVERY
    assert {limit for _, limit, _ in bad} == {limit for *_, limit in BAD}  # every kind was sent
    assert all(400 <= status < 500 and named == limit for status, limit, named in bad), bad[:5]
    good = [(status, payload) for status, limit, payload in answers if limit is None]
    assert all(status == 200 for status, _ in good)
    for _, (key, hits) in good:
        assert [hit["position"] for hit in hits] == [position for position, _ in expected[key]], key
        assert [hit["score"] for hit in hits] == pytest.approx([score for _, score in expected[key]], abs=1e-4)
    assert after - before < MAX_RSS_GROWTH, f"the server grew by {(after - before) / 2**20:.1f} MB"
