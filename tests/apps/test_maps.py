"""2-D maps: a PNG of the asked size, one colour per group, clear errors."""

from __future__ import annotations

import html
import importlib.util
import json
import re
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


def test_3d_map_png_has_one_colour_per_cluster_and_a_rotatable_html_page(pair_embeddings, tmp_path):
    embeddings, sentences = pair_embeddings
    result = plot_map(embeddings, sentences, tmp_path / "map3d.png", method="pca", n_clusters=5, dims=3)
    assert result.coordinates.shape == (400, 3)
    assert_one_colour_per_group(result.path, result)
    assert result.html == tmp_path / "map3d.html"
    page = result.html.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # plotly.js is inlined: the page opens offline
    traces = html_traces(page)
    assert [trace["type"] for trace in traces] == ["scatter3d"] * 5
    assert sorted(html.unescape(text) for trace in traces for text in trace["text"]) == sorted(sentences)
    png_colours = colours_by_group(result.path, result)
    for trace in traces:  # each trace is one cluster, named by its legend entry, in the PNG's colour
        group = trace["name"].split(":")[0]
        assert sorted(html.unescape(text) for text in trace["text"]) == sorted(
            s for s, g in zip(sentences, result.groups, strict=True) if g == group)
        rgb = tuple(int(c) for c in re.findall(r"\d+", trace["marker"]["color"]))
        assert rgb == png_colours[group].most_common(1)[0][0]


def html_traces(page: str) -> list[dict]:
    """The plotly traces written into an HTML map (the JSON array passed to ``Plotly.newPlot``).

    The last call: the inlined plotly.js of plotly < 7 has ``Plotly.newPlot(`` in its own messages."""
    start = page.rindex("Plotly.newPlot(")
    return json.JSONDecoder().raw_decode(page, page.index("[{", start))[0]


def test_corpus_map_projects_in_2d_and_3d_with_the_same_clusters(pair_embeddings):
    from simcse_st.apps.maps import corpus_map

    embeddings, sentences = pair_embeddings
    flat, solid = (corpus_map(embeddings, sentences, dims=dims, method="pca", n_clusters=6) for dims in (2, 3))
    assert flat.coordinates.shape == (400, 2) and solid.coordinates.shape == (400, 3)
    np.testing.assert_allclose(solid.coordinates[:, :2], flat.coordinates, atol=1e-4)  # PCA's axes are nested
    assert flat.clustering.labels.tolist() == solid.clustering.labels.tolist()
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    for label, summary in enumerate(flat.summaries()):
        members = np.flatnonzero(flat.clustering.labels == label)
        centre = unit[members].mean(axis=0)
        assert summary == sentences[members[np.argmax(unit[members] @ centre)]]


@pytest.mark.parametrize("dims", [1, 4])
def test_a_map_has_2_or_3_dimensions(pair_embeddings, tmp_path, dims):
    embeddings, sentences = pair_embeddings
    with pytest.raises(ValueError, match="2 or 3 dimensions"):
        plot_map(embeddings, sentences, tmp_path / "bad.png", dims=dims)
