"""2-D maps: a PNG of the asked size, one colour per group, clear errors."""

from __future__ import annotations

import importlib.util
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from simcse_st.apps import plot_map


@pytest.fixture(scope="module")
def pair_embeddings(stsb_index, stsb_corpus) -> tuple[np.ndarray, list[str]]:
    rows = stsb_corpus.cluster_rows
    return stsb_index.embeddings[rows], [stsb_corpus.sentences[row] for row in rows]


def colours_by_group(path, result) -> dict[str, Counter]:
    """The image's colour at the centre of each point, counted per group."""
    image = np.asarray(Image.open(path).convert("RGB"))
    counts: dict[str, Counter] = {}
    for (column, row), group in zip(result.pixels, result.groups, strict=True):
        counts.setdefault(group, Counter())[tuple(image[row, column].tolist())] += 1
    return counts


def assert_one_colour_per_group(path, result) -> None:
    counts = colours_by_group(path, result)
    main = {group: counter.most_common(1)[0] for group, counter in counts.items()}
    for group, (colour, n) in main.items():
        assert n >= 0.8 * sum(counts[group].values()), f"group {group} shows several colours: {counts[group]}"
        assert len(set(colour)) > 1, f"group {group} is drawn in grey or white {colour}"
    assert len({colour for colour, _ in main.values()}) == len(counts), main


def test_cluster_map_has_the_default_size_and_one_colour_per_cluster(pair_embeddings, tmp_path):
    embeddings, sentences = pair_embeddings
    result = plot_map(embeddings, sentences, tmp_path / "maps" / "pca.png", method="pca", n_clusters=6)
    with Image.open(result.path) as image:
        assert image.format == "PNG"
        assert image.size == (1200, 900)
    assert len(set(result.groups)) == 6
    assert result.coordinates.shape == (400, 2)
    assert_one_colour_per_group(result.path, result)


def test_labelled_tsne_map_has_the_asked_size_and_one_colour_per_label(pair_embeddings, tmp_path):
    embeddings, sentences = pair_embeddings
    labels = ["first"] * 60 + ["second"] * 60 + ["rest"] * 30
    result = plot_map(embeddings[:150], sentences[:150], tmp_path / "tsne.png", labels=labels, method="tsne",
                      size=(800, 600))
    with Image.open(result.path) as image:
        assert image.size == (800, 600)
    assert result.groups == labels
    assert_one_colour_per_group(result.path, result)


def test_map_from_a_model(minilm, tmp_path):
    sentences = ["A cat sleeps.", "A dog barks.", "Stocks fell.", "Rates rose.", "The team won.", "A goal."]
    result = plot_map(minilm, sentences, tmp_path / "small.png", method="pca", n_clusters=3,
                      show_progress_bar=False)
    assert result.path.is_file()
    assert len(set(result.groups)) == 3


@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed")
def test_umap_without_its_extra_names_the_install_command(pair_embeddings, tmp_path):
    embeddings, sentences = pair_embeddings
    with pytest.raises(ImportError, match=r"pip install simcse-st\[umap\]"):
        plot_map(embeddings, sentences, tmp_path / "umap.png", method="umap")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": ["a", "b"]}, "Got 2 labels for 400 sentences"),
        ({"method": "mds"}, "Unknown projection 'mds'"),
        ({"size": (0, 900)}, "size must be"),
    ],
)
def test_bad_map_arguments_are_rejected(pair_embeddings, tmp_path, kwargs, message):
    embeddings, sentences = pair_embeddings
    with pytest.raises(ValueError, match=message):
        plot_map(embeddings, sentences, tmp_path / "bad.png", **kwargs)


def test_a_map_needs_three_sentences(pair_embeddings, tmp_path):
    embeddings, sentences = pair_embeddings
    with pytest.raises(ValueError, match="at least 3 sentences"):
        plot_map(embeddings[:2], sentences[:2], tmp_path / "two.png", labels=["a", "b"])
