"""Clustering: paraphrase pairs of STS-B land in one cluster; the topic summary is what it claims to be."""

from __future__ import annotations

import numpy as np
import pytest

from simcse_st.apps import cluster, clustering


@pytest.fixture(scope="module")
def pair_embeddings(stsb_index, stsb_corpus) -> tuple[np.ndarray, list[str]]:
    """The 400 sentences of the 200 STS-B train pairs with gold >= 4.8 (pair i at rows 2i, 2i + 1)."""
    rows = stsb_corpus.cluster_rows
    return stsb_index.embeddings[rows], [stsb_corpus.sentences[row] for row in rows]


@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_paraphrase_pairs_share_a_cluster(pair_embeddings, method):
    embeddings, sentences = pair_embeddings
    labels = cluster(embeddings, sentences, n_clusters=200, method=method).labels
    together = np.mean([labels[2 * i] == labels[2 * i + 1] for i in range(200)])
    assert len(set(labels.tolist())) == 200
    assert together >= 0.85


def test_summary_sizes_order_and_representatives(pair_embeddings):
    embeddings, sentences = pair_embeddings
    result = cluster(embeddings, sentences, n_clusters=12, top_n=3)
    labels = result.labels
    assert sorted(set(labels.tolist())) == list(range(12))
    assert [c.size for c in result.clusters] == sorted((c.size for c in result.clusters), reverse=True)
    for summary in result.clusters:
        members = np.flatnonzero(labels == summary.label)
        assert summary.size == len(members)
        assert sorted(summary.positions) == members.tolist()
        # the representatives are the members with the highest cosine to the members' mean
        centre = embeddings[members].mean(axis=0)
        cosine = embeddings[members] @ centre / (np.linalg.norm(embeddings[members], axis=1) * np.linalg.norm(centre))
        nearest = members[np.argsort(-cosine)[:3]]
        assert summary.representatives == [sentences[i] for i in nearest]
    assert "cluster 0 (" in result.summary()


def test_topics_are_recovered_from_a_model(minilm):
    topics = {
        "pets": ["The cat sleeps on the sofa.", "A dog chases its ball.", "My kitten loves warm blankets.",
                 "Puppies need a lot of attention."],
        "markets": ["Stock prices fell sharply today.", "The central bank raised interest rates.",
                    "Investors sold their shares in panic.", "Bond yields climbed to a new high."],
        "football": ["The striker scored twice in the final.", "The goalkeeper saved a penalty.",
                     "Fans cheered as the team won the league.", "The referee showed a red card."],
    }
    sentences = [s for group in topics.values() for s in group]
    for method in ("kmeans", "agglomerative"):
        labels = cluster(minilm, sentences, n_clusters=3, method=method, show_progress_bar=False).labels
        groups = [set(labels[i * 4:(i + 1) * 4].tolist()) for i in range(3)]
        assert all(len(group) == 1 for group in groups), method
        assert len(set().union(*groups)) == 3, method


def test_distance_threshold_bounds(pair_embeddings):
    embeddings, sentences = pair_embeddings
    # a tiny threshold merges nothing; the largest cosine distance (2) merges everything
    tiny = cluster(embeddings, sentences, method="agglomerative", distance_threshold=1e-6)
    assert len(tiny.clusters) == len(set(sentences))
    assert len(cluster(embeddings, sentences, method="agglomerative", distance_threshold=2.0).clusters) == 1
    # at 0.2, every two sentences of a cluster are more similar than the loosest merge allows on average
    medium = cluster(embeddings, sentences, method="agglomerative", distance_threshold=0.2)
    assert 1 < len(medium.clusters) < len(sentences)


def test_default_number_of_clusters(pair_embeddings):
    embeddings, sentences = pair_embeddings
    assert len(cluster(embeddings, sentences).clusters) == round((len(sentences) / 2) ** 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_clusters": 3, "distance_threshold": 0.3, "method": "agglomerative"}, "not both"),
        ({"distance_threshold": 0.3}, "applies to method='agglomerative'"),
        ({"method": "dbscan"}, "Unknown clustering method 'dbscan'"),
        ({"n_clusters": 0}, "between 1 and the number of sentences"),
        ({"n_clusters": 5000}, r"between 1 and the number of sentences \(400\)"),
        ({"distance_threshold": -1.0, "method": "agglomerative"}, r"cosine distance in \(0, 2\]"),
    ],
)
def test_bad_arguments_are_rejected(pair_embeddings, kwargs, message):
    embeddings, sentences = pair_embeddings
    with pytest.raises(ValueError, match=message):
        cluster(embeddings, sentences, **kwargs)


def test_embeddings_must_match_sentences(pair_embeddings):
    embeddings, sentences = pair_embeddings
    with pytest.raises(ValueError, match="Got 400 embeddings for 10 sentences"):
        cluster(embeddings, sentences[:10], n_clusters=2)
    with pytest.raises(ValueError, match="corpus is empty"):
        cluster(embeddings[:0], [], n_clusters=2)


class NeverEncoded:
    """A model that fails the test if anything is encoded with it."""

    def encode(self, *args, **kwargs):
        raise AssertionError("the corpus was encoded before the clustering was refused")


def test_agglomerative_refuses_a_distance_matrix_larger_than_memory(monkeypatch):
    sentences = [f"Sentence number {i}." for i in range(100)]
    # memory for a 100 x 100 float64 matrix less one byte: the limit is tested without allocating anything
    monkeypatch.setattr(clustering, "available_memory", lambda: 100 * 100 * 8 - 1)
    with pytest.raises(ValueError) as error:
        cluster(NeverEncoded(), sentences, n_clusters=2, method="agglomerative")
    message = str(error.value)
    assert "100 sentences" in message and "100 x 100 distance matrix" in message
    assert "method='kmeans'" in message and "--method kmeans" in message
    embeddings = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    # k-means, linear in the corpus, is not refused
    assert len(cluster(embeddings, sentences, n_clusters=2, method="kmeans").clusters) == 2
    # and with room for exactly the matrix, agglomerative clustering runs
    monkeypatch.setattr(clustering, "available_memory", lambda: 100 * 100 * 8)
    assert len(cluster(embeddings, sentences, n_clusters=2, method="agglomerative").clusters) == 2


def test_available_memory_is_a_real_figure():
    available = clustering.available_memory()
    assert available is not None and 2**20 < available < 2**50  # this machine's free memory, in bytes
    # the default check reads it: a corpus of a million sentences (8 TB of distances) is refused here
    with pytest.raises(ValueError, match="1000000 x 1000000 distance matrix"):
        clustering.check_agglomerative_fits(1_000_000)
