"""The JSON API through FastAPI's TestClient: every endpoint against an independent computation, and every
limit answered with a 4xx JSON error that names it, after which the next good request is answered."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simcse_st.serve.limits import MAX_BODY_BYTES, MAX_ITEMS, MAX_TEXT_CHARS, MAX_TOP_K
from tests.serve.conftest import CORPUS, QUERIES


@pytest.fixture(scope="module")
def client(corpus_index):
    from fastapi.testclient import TestClient

    from simcse_st.serve import create_app

    with TestClient(create_app(corpus_index, map_method="pca")) as client:
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
    from fastapi.testclient import TestClient

    from simcse_st.apps import maps
    from simcse_st.serve import create_app

    calls = []
    clustering = maps._map_clustering
    monkeypatch.setattr(maps, "_map_clustering", lambda *args: calls.append(args) or clustering(*args))
    with TestClient(create_app(corpus_index, map_method="pca")) as fresh:
        flat, deep = (fresh.get(f"/api/map?dims={dims}").json() for dims in (2, 3))
    assert len(calls) == 1
    assert [p["cluster"] for p in flat["points"]] == [p["cluster"] for p in deep["points"]]
    assert flat["clusters"] == deep["clusters"]


def test_map_of_a_corpus_too_small_to_project_is_a_409_naming_the_minimum(minilm):
    from fastapi.testclient import TestClient

    from simcse_st.apps import SemanticIndex
    from simcse_st.serve import create_app

    with TestClient(create_app(SemanticIndex(minilm, CORPUS[:3], show_progress_bar=False))) as small:
        assert small.get("/api/map?dims=2").status_code == 200
        answer = small.get("/api/map?dims=3")
        assert answer.status_code == 409
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
    ("/api/search", {"queries": ["a"], "top_k": 0}, "top_k_range"),
    ("/api/search", {"queries": ["a"], "top_k": MAX_TOP_K + 1}, "top_k_range"),
    ("/api/search", {"queries": ["a"], "threshold": 1.5}, "threshold_range"),
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
    response = client.post(path, json=body)
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


@pytest.mark.parametrize("body", [b'{"queries": ["unclosed"', b"not json at all", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_a_400(client, corpus_index, body):
    response = client.post("/api/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["limit"] == "json"
    assert_next_search_works(client, corpus_index)


def test_a_body_without_content_type_is_read_as_json(client, corpus_index):
    response = client.post("/api/search", content=json.dumps({"queries": list(QUERIES)[:1]}).encode())
    assert response.status_code == 200


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
