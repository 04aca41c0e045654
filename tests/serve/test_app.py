"""The JSON API through FastAPI's TestClient: every endpoint against an independent computation, and every
limit answered with a 4xx JSON error that names it, after which the next good request is answered; who may ask
(Host, Content-Type, API key); a bad text never reaches a batch; the bounded queue and map."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from simcse_st.serve.limits import MAX_BODY_BYTES, MAX_ITEMS, MAX_TEXT_CHARS, MAX_TOP_K
from tests.serve.conftest import CORPUS, QUERIES, Gate, client_of, wait_until


@pytest.fixture(scope="module")
def client(corpus_index):
    from simcse_st.serve import create_app

    with client_of(create_app(corpus_index, map_method="pca")) as client:
        yield client


def unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_healthz_names_the_model_and_the_corpus_size(client, corpus_index):
    assert client.get("/healthz").json() == {"status": "ok", "model": corpus_index.model_name or "SentenceTransformer",
                                             "sentences": len(CORPUS)}


def test_search_answers_each_query_as_the_index_does(client, corpus_index):
    queries = list(QUERIES)
    answer = client.post("/api/search", json={"queries": queries, "top_k": 3}).json()
    expected = corpus_index.search(queries, top_k=3)
    assert len(answer["results"]) == len(queries)
    for got, want, query in zip(answer["results"], expected, queries, strict=True):
        assert [hit["position"] for hit in got] == [hit.position for hit in want]
        assert [hit["sentence"] for hit in got] == [CORPUS[hit.position] for hit in want]
        assert [hit["score"] for hit in got] == pytest.approx([hit.score for hit in want], abs=1e-5)
        assert got[0]["sentence"] == QUERIES[query]


def test_search_defaults_to_five_hits_and_applies_the_threshold(client, corpus_index):
    query = "A kitten naps by the window."
    assert len(client.post("/api/search", json={"queries": [query]}).json()["results"][0]) == 5
    scores = [hit.score for hit in corpus_index.search(query, top_k=len(CORPUS))[0]]
    threshold = (scores[1] + scores[2]) / 2  # between the second and third best
    hits = client.post("/api/search", json={"queries": [query], "top_k": 10, "threshold": threshold}).json()
    assert len(hits["results"][0]) == 2


def test_similarity_is_the_cosine_of_the_two_embeddings(client, minilm):
    pairs = [["A dog runs in the park.", "A puppy is running on the grass."],
             ["A dog runs in the park.", "Inflation reached its highest level in a decade."]]
    scores = client.post("/api/similarity", json={"pairs": pairs}).json()["scores"]
    first, second = unit(minilm.encode([a for a, _ in pairs])), unit(minilm.encode([b for _, b in pairs]))
    assert scores == pytest.approx(np.sum(first * second, axis=1).tolist(), abs=1e-5)
    assert scores[0] > scores[1] + 0.3


def test_embed_returns_unit_embeddings_of_the_model(client, minilm):
    sentences = ["A cat sleeps.", "Markets fell."]
    answer = client.post("/api/embed", json={"sentences": sentences}).json()
    assert answer["dimension"] == 384
    np.testing.assert_allclose(answer["embeddings"], unit(minilm.encode(sentences)), atol=1e-5)


@pytest.mark.parametrize("dims", [2, 3])
def test_map_has_one_point_per_sentence_and_clusters_of_the_apps(client, corpus_index, dims):
    from simcse_st.apps.maps import corpus_map

    answer = client.get(f"/api/map?dims={dims}").json()
    expected = corpus_map(corpus_index.embeddings, CORPUS, dims=dims, method="pca")
    points = answer["points"]
    assert [p["position"] for p in points] == list(range(len(CORPUS)))
    assert [p["sentence"] for p in points] == CORPUS
    axes = "xyz"[:dims]
    assert all(set(p) == {*axes, "cluster", "position", "sentence"} for p in points)
    np.testing.assert_allclose([[p[a] for a in axes] for p in points], expected.coordinates, atol=1e-4)
    assert [p["cluster"] for p in points] == expected.clustering.labels.tolist()
    sizes = np.bincount([p["cluster"] for p in points])
    assert [(c["id"], c["size"]) for c in answer["clusters"]] == list(enumerate(sizes.tolist()))
    for c in answer["clusters"]:  # the summary is the cluster's own sentence nearest its centre
        assert c["summary"] in [p["sentence"] for p in points if p["cluster"] == c["id"]]
    assert client.get(f"/api/map?dims={dims}").json() == answer  # cached


def test_the_2d_and_3d_maps_share_one_k_means_clustering(corpus_index, monkeypatch):
    from simcse_st.apps import maps
    from simcse_st.serve import create_app

    calls = []
    clustering = maps._map_clustering
    monkeypatch.setattr(maps, "_map_clustering", lambda *args: calls.append(args) or clustering(*args))
    with client_of(create_app(corpus_index, map_method="pca")) as fresh:
        flat, deep = (fresh.get(f"/api/map?dims={dims}").json() for dims in (2, 3))
    assert len(calls) == 1
    assert [p["cluster"] for p in flat["points"]] == [p["cluster"] for p in deep["points"]]
    assert flat["clusters"] == deep["clusters"]


def test_map_of_a_corpus_too_small_to_project_is_a_409_naming_the_minimum(minilm):
    from simcse_st.apps import SemanticIndex
    from simcse_st.serve import create_app

    with client_of(create_app(SemanticIndex(minilm, CORPUS[:3], show_progress_bar=False))) as small:
        assert small.get("/api/map?dims=2").status_code == 200
        answer = small.get("/api/map?dims=3")
        assert answer.status_code == 409
        assert answer.json()["limit"] == "map_size"
        assert "A 3-D map needs at least 4 sentences, got 3" in answer.json()["error"]


def test_page_and_its_scripts_are_served_without_network(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for src in ("/static/plotly.min.js", "/static/app.js", "/static/style.css"):
        assert f'"{src}"' in page.text
        assert client.get(src).status_code == 200
    assert "https://" not in page.text and "http://" not in page.text


LONG = "a" * (MAX_TEXT_CHARS + 1)
BAD_REQUESTS = [  # (path, body, the limit named)
    ("/api/search", {"queries": ["a query"] * (MAX_ITEMS + 1)}, "max_items"),
    ("/api/similarity", {"pairs": [["a", "b"]] * (MAX_ITEMS + 1)}, "max_items"),
    ("/api/embed", {"sentences": ["a"] * (MAX_ITEMS + 1)}, "max_items"),
    ("/api/search", {"queries": []}, "min_items"),
    ("/api/search", {"queries": [LONG]}, "max_text_chars"),
    ("/api/similarity", {"pairs": [["a", LONG]]}, "max_text_chars"),
    ("/api/embed", {"sentences": [LONG]}, "max_text_chars"),
    ("/api/search", {"queries": ["  \t "]}, "blank_text"),
    ("/api/similarity", {"pairs": [["", "b"]]}, "blank_text"),
    ("/api/embed", {"sentences": ["fine", "\n"]}, "blank_text"),
    *[(path, body, "blank_text") for separator in "\u001c\u001d\u001e\u001f" for path, body in (
        ("/api/search", {"queries": ["a good query", separator]}),
        ("/api/similarity", {"pairs": [["a", f" {separator} "]]}),
        ("/api/embed", {"sentences": [separator * 3]}))],
    ("/api/search", {"queries": ["lone \ud800 surrogate"]}, "unicode"),
    ("/api/similarity", {"pairs": [["a", "\udfff"]]}, "unicode"),
    ("/api/embed", {"sentences": ["fine", "x\udc00"]}, "unicode"),
    ("/api/search", {"queries": ["a"], "top_k": 0}, "top_k_range"),
    ("/api/search", {"queries": ["a"], "top_k": MAX_TOP_K + 1}, "top_k_range"),
    ("/api/search", {"queries": ["a"], "threshold": 1.5}, "threshold_range"),
    ("/api/search", {"queries": ["a"], "threshold": float("nan")}, "threshold_range"),
    ("/api/search", {"queries": ["a"], "threshold": float("-inf")}, "threshold_range"),
    ("/api/search", {"queries": ["a"], "top_k": 10**40}, "top_k_range"),
    ("/api/search", {"queries": ["a"], "top_k": "5"}, "shape"),
    ("/api/search", {"queries": "a single string"}, "shape"),
    ("/api/search", {"query": ["misspelt field"]}, "shape"),
    ("/api/search", ["not", "an", "object"], "shape"),
    ("/api/similarity", {"pairs": [["only one"]]}, "shape"),
    ("/api/similarity", {"pairs": [["a", "b", "c"]]}, "shape"),
    ("/api/embed", {"sentences": [1, 2]}, "shape"),
]


@pytest.mark.parametrize(("path", "body", "limit"), BAD_REQUESTS, ids=[f"{p}-{lim}" for p, _, lim in BAD_REQUESTS])
def test_each_limit_is_a_4xx_naming_it_and_the_next_request_works(client, corpus_index, path, body, limit):
    # json.dumps writes an unpaired surrogate as the escape \ud800 (JSON allows it) and NaN as NaN
    response = client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json()["limit"] == limit
    assert response.json()["error"].startswith(f"{limit}: ")
    assert_next_search_works(client, corpus_index)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_1_mb_is_refused_with_413(client, corpus_index, chunked):
    body = json.dumps({"queries": ["x" * 1000] * 1100}).encode()  # 1.1 MB
    assert len(body) > MAX_BODY_BYTES
    content = (body[i : i + 65536] for i in range(0, len(body), 65536)) if chunked else body
    response = client.post("/api/search", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["limit"] == "max_body_bytes"
    assert_next_search_works(client, corpus_index)


NOT_JSON = [b'{"queries": ["unclosed"', b"not json at all", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
            b'{"queries": ["a"], "top_k": 1' + b"0" * 5000 + b"}"]  # deep nesting; more digits than int() reads


@pytest.mark.parametrize("body", NOT_JSON, ids=["unclosed", "text", "not-utf8", "deep", "huge-int"])
def test_a_body_that_is_not_json_is_a_400(client, corpus_index, body):
    response = client.post("/api/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["limit"] == "json"
    assert_next_search_works(client, corpus_index)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_post_that_is_not_json_is_a_415(client, corpus_index, content_type):
    """A cross-site "simple" POST (no Content-Type, text/plain, a form) needs no preflight: it is refused."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    for path in ("/api/search", "/api/similarity", "/api/embed"):
        response = client.post(path, content=json.dumps({"queries": list(QUERIES)[:1]}).encode(), headers=headers)
        assert response.status_code == 415
        assert response.json()["limit"] == "content_type"
        assert "Content-Type: application/json" in response.json()["error"]
    assert_next_search_works(client, corpus_index)


def test_json_with_a_charset_is_json(client):
    response = client.post("/api/search", content=json.dumps({"queries": list(QUERIES)[:1]}).encode(),
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.2",
                                  "[::2]:80", ""])
def test_a_request_naming_a_foreign_host_is_refused(client, corpus_index, host):
    """DNS rebinding: a name the attacker owns pointed at 127.0.0.1 reaches the server with its own Host."""
    for method, path in (("GET", "/api/map"), ("GET", "/healthz"), ("GET", "/"), ("POST", "/api/search")):
        response = client.request(method, path, json={"queries": ["a"]}, headers={"Host": host})
        assert response.status_code == 403, (method, path)
        assert response.json()["limit"] == "host"
        assert "--allowed-host" in response.json()["error"]
    assert_next_search_works(client, corpus_index)


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:1234", "[::1]:80", "LOCALHOST"])
def test_loopback_hosts_with_any_port_are_served(client, host):
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_the_bound_host_and_allowed_hosts_are_served(corpus_index):
    from simcse_st.serve import create_app

    app = create_app(corpus_index, host="192.0.2.7", extra_hosts=["search.example.org"], api_key="k")
    with client_of(app) as client:
        for host in ("192.0.2.7:8000", "search.example.org", "search.example.org:443"):
            assert client.get("/healthz", headers={"Host": host, "Authorization": "Bearer k"}).status_code == 200
        assert client.get("/healthz", headers={"Host": "other.example.org"}).status_code == 403


def test_with_an_api_key_every_api_call_needs_it_and_the_page_loads_without(corpus_index):
    from simcse_st.serve import create_app

    calls = [("GET", "/healthz", None), ("GET", "/api/map", None),
             ("POST", "/api/search", {"queries": ["a"]}), ("POST", "/api/similarity", {"pairs": [["a", "b"]]}),
             ("POST", "/api/embed", {"sentences": ["a"]})]
    with client_of(create_app(corpus_index, map_method="pca", api_key="s3cret")) as client:
        for authorization in (None, "Bearer wrong", "s3cret", "Bearer s3cret2", "Basic czNjcmV0", "bearer  s3cret"):
            headers = {} if authorization is None else {"Authorization": authorization}
            for method, path, body in calls:
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (authorization, path)
                assert response.json()["limit"] == "api_key"
                assert response.headers["WWW-Authenticate"] == "Bearer"
        for method, path, body in calls:
            response = client.request(method, path, json=body, headers={"Authorization": "Bearer s3cret"})
            assert response.status_code == 200, path
        for path in ("/", "/static/app.js", "/static/plotly.min.js"):
            assert client.get(path).status_code == 200


def test_a_bad_query_in_a_shared_batch_is_refused_alone_and_the_good_ones_answered(corpus_index, monkeypatch):
    """U+001C is blank to the library (str.strip) and was not to the request model: it reached the micro-batch and
    failed every request of it with a 500. Now it is refused before it joins a batch."""
    from simcse_st.serve import create_app

    app = create_app(corpus_index)
    queries = list(QUERIES)
    with client_of(app) as client, ThreadPoolExecutor(3) as pool:
        gate = Gate(corpus_index, monkeypatch)
        first = pool.submit(client.post, "/api/search", json={"queries": queries[:1], "top_k": 3})
        assert gate.entered.wait(60)  # the encoder holds the first search: what comes now waits for one batch
        good = pool.submit(client.post, "/api/search", json={"queries": queries[1:3], "top_k": 3})
        bad = pool.submit(client.post, "/api/search", json={"queries": [queries[3], "\u001c"], "top_k": 3})
        wait_until(lambda: bad.done() and app.state.queue.queued == 3, "the good requests queued, the bad answered")
        gate.open()
        answers = [first.result(), good.result(), bad.result()]
    assert answers[2].status_code == 422 and answers[2].json()["limit"] == "blank_text"
    expected = corpus_index.search(queries[:3], top_k=3)
    got = answers[0].json()["results"] + answers[1].json()["results"]
    assert [[hit["position"] for hit in hits] for hits in got] == [[hit.position for hit in hits] for hits in expected]


def test_a_library_error_inside_a_batch_reaches_only_its_request(corpus_index, monkeypatch):
    """Whatever the library refuses inside a batch is answered (422) to the request that caused it alone."""
    from simcse_st.serve import create_app

    app = create_app(corpus_index)
    search = corpus_index.search
    poison = "a query the library refuses"

    def picky(queries, **kwargs):
        if poison in queries:
            raise ValueError("refused by the library")
        return search(queries, **kwargs)

    queries = list(QUERIES)
    with client_of(app) as client, ThreadPoolExecutor(3) as pool:
        gate = Gate(corpus_index, monkeypatch)
        first = pool.submit(client.post, "/api/search", json={"queries": queries[:1]})
        assert gate.entered.wait(60)
        monkeypatch.setattr(corpus_index, "search", picky)  # the next batch holds both requests below
        good = pool.submit(client.post, "/api/search", json={"queries": queries[1:2], "top_k": 2})
        bad = pool.submit(client.post, "/api/search", json={"queries": [poison]})
        wait_until(lambda: app.state.queue.queued == 3, "both requests queued")
        gate.open()
        assert first.result().status_code == 200
        assert good.result().status_code == 200
        assert [hit["position"] for hit in good.result().json()["results"][0]] == [
            hit.position for hit in search(queries[1], top_k=2)[0]]
        assert bad.result().status_code == 422 and bad.result().json()["limit"] == "input"


def test_a_full_queue_answers_503_with_retry_after_and_recovers(corpus_index, monkeypatch):
    from simcse_st.serve import create_app

    app = create_app(corpus_index, max_queue=2)
    queries = list(QUERIES)
    with client_of(app) as client, ThreadPoolExecutor(1) as pool:
        gate = Gate(corpus_index, monkeypatch)
        held = pool.submit(client.post, "/api/search", json={"queries": queries[:2]})  # fills the queue
        assert gate.entered.wait(60)
        for path, body in (("/api/search", {"queries": queries[2:3]}), ("/api/embed", {"sentences": ["a"]}),
                           ("/api/similarity", {"pairs": [["a", "b"]]})):
            busy = client.post(path, json=body)
            assert busy.status_code == 503, path
            assert busy.json()["limit"] == "queue_full"
            assert int(busy.headers["Retry-After"]) >= 1
        gate.open()
        assert held.result().status_code == 200
        assert app.state.queue.queued == 0
        assert_next_search_works(client, corpus_index)


def test_the_map_of_a_corpus_larger_than_map_max_points_is_a_fixed_sample_of_that_many(corpus_index):
    from simcse_st.serve import create_app

    answers = []
    for _ in range(2):  # the same sample each time the server starts
        with client_of(create_app(corpus_index, map_method="pca", map_max_points=12)) as client:
            answers.append([client.get(f"/api/map?dims={dims}").json() for dims in (2, 3)])
    flat, solid = answers[0]
    assert answers[1] == answers[0]
    positions = [p["position"] for p in flat["points"]]
    assert len(positions) == 12 and positions == sorted(set(positions)) and positions[-1] < len(CORPUS)
    assert [p["sentence"] for p in flat["points"]] == [CORPUS[i] for i in positions]
    assert [p["position"] for p in solid["points"]] == positions
    assert sum(c["size"] for c in flat["clusters"]) == 12


def test_a_failed_map_is_not_cached(corpus_index, monkeypatch):
    from simcse_st.serve import app as app_module
    from simcse_st.serve import create_app

    failures = [MemoryError("out of memory")]
    real = app_module.corpus_map

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "corpus_map", flaky)
    with client_of(create_app(corpus_index, map_method="pca")) as client:
        failed = client.get("/api/map")
        assert failed.status_code == 500 and "MemoryError" in failed.json()["error"]
        again = client.get("/api/map")
        assert again.status_code == 200
        assert len(again.json()["points"]) == len(CORPUS)


def test_unknown_paths_and_methods_are_4xx_in_the_error_json(client):
    for method, path, status, limit in (("GET", "/api/nothing", 404, "not_found"),
                                        ("GET", "/api/search", 405, "method"), ("DELETE", "/healthz", 405, "method")):
        response = client.request(method, path)
        assert response.status_code == status
        assert response.json()["limit"] == limit


def test_map_dims_other_than_2_or_3_is_a_422(client, corpus_index):
    response = client.get("/api/map?dims=4")
    assert response.status_code == 422 and response.json()["limit"] == "dims"
    assert_next_search_works(client, corpus_index)


def assert_next_search_works(client, corpus_index) -> None:
    query = next(iter(QUERIES))
    answer = client.post("/api/search", json={"queries": [query], "top_k": 2})
    assert answer.status_code == 200
    assert [hit["position"] for hit in answer.json()["results"][0]] == [
        hit.position for hit in corpus_index.search(query, top_k=2)[0]]
