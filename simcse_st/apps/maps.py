"""2-D maps of a corpus: sentences close in meaning land close together.

The normalized embeddings are projected to two dimensions (PCA, t-SNE on cosine distance, or UMAP when its
extra is installed) and drawn as a scatter plot with matplotlib, one colour per cluster or per given label,
with a legend that names each group (for clusters: their sentence nearest the centre).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from simcse_st.apps.clustering import cluster, default_n_clusters
from simcse_st.apps.corpus import ModelLike, check_sentences, embed_corpus

PROJECTIONS: tuple[str, ...] = ("pca", "tsne", "umap")
"""2-D projections of :func:`plot_map`; ``umap`` needs ``pip install simcse-st[umap]``."""

MAX_LEGEND_ENTRIES = 20
"""Groups named in the legend (the largest ones) when there are more."""

_LEGEND_CHARS = 44  # legend labels are cut to this many characters


class Map(NamedTuple):
    """What :func:`plot_map` drew.

    Attributes:
        path: the PNG written.
        coordinates: the 2-D position of each sentence, shape ``(n, 2)``.
        groups: the group (cluster number or given label) of each sentence, as drawn.
        pixels: the ``(column, row)`` pixel of each sentence's point in the image, e.g. for an HTML image map
            with the sentences as tooltips.
    """

    path: Path
    coordinates: np.ndarray
    groups: list[str]
    pixels: np.ndarray


def check_projection(method: str) -> None:
    """Raise if ``method`` is not a known projection, or is ``umap`` without umap-learn installed.

    Raises:
        ValueError: for an unknown method.
        ImportError: for ``umap`` when umap-learn is missing, naming the extra to install.
    """
    if method not in PROJECTIONS:
        raise ValueError(f"Unknown projection {method!r}; choose from {', '.join(PROJECTIONS)}.")
    if method == "umap" and importlib.util.find_spec("umap") is None:
        raise ImportError(
            "The UMAP projection needs umap-learn: `pip install simcse-st[umap]`; or use method='tsne' or 'pca'."
        )


def project(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of ``embeddings`` (one row per sentence) with the given projection.

    Raises:
        ValueError: for an unknown method or fewer than 3 sentences.
        ImportError: for ``umap`` without umap-learn.
    """
    check_projection(method)
    n = len(embeddings)
    if n < 3:
        raise ValueError(f"A map needs at least 3 sentences, got {n}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (n - 1) / 3)  # t-SNE needs perplexity < n
        return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca",
                    random_state=seed).fit_transform(embeddings)
    import umap

    return umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(15, n - 1),
                     random_state=seed).fit_transform(embeddings)


def group_colours(n_groups: int) -> list[tuple[float, float, float]]:
    """One distinct RGB colour per group: matplotlib's tab10 or tab20 palettes, else evenly spaced hues."""
    from matplotlib import colormaps

    if n_groups <= 10:
        palette = colormaps["tab10"].colors
    elif n_groups <= 20:
        palette = colormaps["tab20"].colors
    else:
        palette = [colour[:3] for colour in colormaps["hsv"](np.linspace(0, 1, n_groups, endpoint=False))]
    return [tuple(float(c) for c in colour[:3]) for colour in palette[:n_groups]]


def plot_map(
    model_or_embeddings: ModelLike | np.ndarray,
    sentences: Sequence[str],
    path: str | os.PathLike[str],
    labels: Sequence[str | int] | None = None,
    method: str = "pca",
    n_clusters: int | None = None,
    title: str | None = None,
    size: tuple[int, int] = (1200, 900),
    seed: int = 0,
    batch_size: int = 64,
    show_progress_bar: bool = True,
) -> Map:
    """Draw a 2-D map of ``sentences`` to the PNG file ``path``.

    Args:
        model_or_embeddings: a model (or its name or path) to encode the sentences with, or their embeddings.
        sentences: the corpus (at least 3 sentences).
        path: the PNG to write (its folder is created).
        labels: a label per sentence to colour by; when None, the sentences are clustered with k-means
            (``n_clusters``, by default :func:`default_n_clusters` capped at 10) and the legend shows each
            cluster's sentence nearest its centre.
        method: the projection, one of :data:`PROJECTIONS`.
        n_clusters: clusters to colour by when no ``labels`` are given.
        title: the plot title; defaults to the projection and corpus size.
        size: ``(width, height)`` of the image in pixels.
        seed: seed of the projection and the clustering.
        batch_size: sentences per forward pass when encoding.
        show_progress_bar: show a tqdm bar while encoding.

    Returns:
        A :class:`Map` with the path, the 2-D coordinates and each sentence's group.

    Raises:
        ValueError: for an empty corpus, fewer than 3 sentences, labels of the wrong length, an unknown method or
            a size that is not two positive integers.
        ImportError: for ``method="umap"`` without ``pip install simcse-st[umap]``.

    Example:
        >>> plot_map("all-MiniLM-L6-v2", sentences, "map.png", method="tsne", n_clusters=8)
    """
    check_projection(method)
    sentences = check_sentences(sentences)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"size must be (width, height) in pixels, got {size!r}.")
    if labels is not None and len(labels) != len(sentences):
        raise ValueError(f"Got {len(labels)} labels for {len(sentences)} sentences; give one label per sentence.")
    embeddings = embed_corpus(model_or_embeddings, sentences, batch_size, show_progress_bar)
    coordinates = project(embeddings, method, seed)
    if labels is None:
        groups, names = _cluster_groups(embeddings, sentences, n_clusters, seed)
        legend_title = "k-means clusters: sentence nearest the centre (size)"
    else:
        groups = [str(label) for label in labels]
        names = {group: _shorten(group) for group in groups}
        legend_title = "labels"
    projection_name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[method]
    title = title or f"{projection_name} map of {len(sentences)} sentences"
    path = Path(path)
    pixels = _draw(coordinates, groups, names, (title, legend_title), size, path)
    return Map(path, coordinates, groups, pixels)


def _cluster_groups(
    embeddings: np.ndarray, sentences: list[str], n_clusters: int | None, seed: int
) -> tuple[list[str], dict[str, str]]:
    """Each sentence's k-means cluster, and a legend name per cluster: its sentence nearest the centre."""
    n_clusters = n_clusters or min(10, default_n_clusters(len(sentences)))
    clustering = cluster(embeddings, sentences, n_clusters=n_clusters, seed=seed, top_n=1)
    names = {str(c.label): f"{c.label}: {_shorten(c.representatives[0])} ({c.size})" for c in clustering.clusters}
    return [str(label) for label in clustering.labels], names


def _shorten(text: str) -> str:
    return text if len(text) <= _LEGEND_CHARS else text[: _LEGEND_CHARS - 1] + "\u2026"


def _draw(
    coordinates: np.ndarray,
    groups: list[str],
    names: dict[str, str],
    titles: tuple[str, str],
    size: tuple[int, int],
    path: Path,
) -> np.ndarray:
    """Scatter the points, one opaque colour per group, largest groups named in a legend right of the plot.

    Returns:
        The ``(column, row)`` pixel of each point in the saved image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    group_array = np.array(groups)
    distinct, counts = np.unique(group_array, return_counts=True)
    order = [distinct[i] for i in sorted(range(len(distinct)), key=lambda i: (-counts[i], _natural_key(distinct[i])))]
    dpi = 100
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.04, 0.05, 0.56, 0.88))
    for rank, (group, colour) in enumerate(zip(order, group_colours(len(order)), strict=True)):
        points = coordinates[group_array == group]
        label = names[group] if rank < MAX_LEGEND_ENTRIES else None
        axes.scatter(points[:, 0], points[:, 1], s=22, color=colour, linewidths=0, label=label)
    axes.set_title(titles[0])
    axes.set_xticks([])
    axes.set_yticks([])
    legend_title = titles[1]
    if len(order) > MAX_LEGEND_ENTRIES:
        legend_title += f", {MAX_LEGEND_ENTRIES} largest of {len(order)}"
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, title=legend_title, frameon=False,
                markerscale=1.5, alignment="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format="png")
    display = axes.transData.transform(coordinates)  # pixels from the bottom-left corner
    return np.column_stack([display[:, 0], size[1] - display[:, 1]]).astype(int)


def _natural_key(group: str) -> tuple[int, float | str]:
    """Numeric labels in numeric order, before other labels in alphabetical order."""
    try:
        return (0, float(group))
    except ValueError:
        return (1, group)
