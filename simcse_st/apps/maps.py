"""2-D and 3-D maps of a corpus: sentences close in meaning land close together.

The normalized embeddings are projected to two or three dimensions (PCA, t-SNE on cosine distance, or UMAP when
its extra is installed) and drawn as a scatter plot with matplotlib, one colour per cluster or per given label,
with a legend that names each group (for clusters: their sentence nearest the centre). A 3-D map is also written
as a rotatable HTML page (plotly). :func:`corpus_map` gives the same coordinates and clusters as data, e.g. for
the web service's interactive map.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from simcse_st.apps.clustering import Clustering, cluster, default_n_clusters
from simcse_st.embedding import ModelLike, check_sentences, embed_corpus

PROJECTIONS: tuple[str, ...] = ("pca", "tsne", "umap")
"""Projections of :func:`plot_map`; ``umap`` needs ``pip install simcse-st[umap]``."""

DIMENSIONS: tuple[int, ...] = (2, 3)
"""Map dimensions: a flat map, or a 3-D one to rotate."""

MAX_MAP_CLUSTERS = 10
"""Default cap on the k-means clusters a map is coloured by (:func:`default_n_clusters` above that is too many)."""

MAX_LEGEND_ENTRIES = 20
"""Groups named in the legend (the largest ones) when there are more."""

_LEGEND_CHARS = 44  # legend labels are cut to this many characters


class Map(NamedTuple):
    """What :func:`plot_map` drew.

    Attributes:
        path: the PNG written.
        coordinates: the position of each sentence, shape ``(n, dims)``.
        groups: the group (cluster number or given label) of each sentence, as drawn.
        pixels: the ``(column, row)`` pixel of each sentence's point in the image, e.g. for an HTML image map
            with the sentences as tooltips.
        html: the rotatable HTML page of a 3-D map (None for a 2-D map).
    """

    path: Path
    coordinates: np.ndarray
    groups: list[str]
    pixels: np.ndarray
    html: Path | None = None


@dataclass
class CorpusMap:
    """The data of a corpus map: where each sentence lands and which k-means cluster it belongs to.

    Attributes:
        coordinates: the projected position of each sentence, shape ``(n, dims)``.
        clustering: the k-means clusters of the embeddings (not of the projection), largest first, each with its
            sentence nearest the centre as the topic summary.
    """

    coordinates: np.ndarray
    clustering: Clustering

    def summaries(self) -> list[str]:
        """Each cluster's topic, by cluster number: its sentence nearest the centre."""
        return [c.representatives[0] for c in self.clustering.clusters]


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


def check_dimensions(dims: int) -> None:
    """Raise a ValueError unless ``dims`` is one of :data:`DIMENSIONS`."""
    if isinstance(dims, bool) or dims not in DIMENSIONS:
        raise ValueError(f"A map has 2 or 3 dimensions, got {dims!r}.")


def project(embeddings: np.ndarray, method: str = "pca", seed: int = 0, dims: int = 2) -> np.ndarray:
    """``dims``-D coordinates of ``embeddings`` (one row per sentence) with the given projection.

    Raises:
        ValueError: for an unknown method, ``dims`` other than 2 or 3, or fewer than ``dims + 1`` sentences.
        ImportError: for ``umap`` without umap-learn.
    """
    check_projection(method)
    check_dimensions(dims)
    n = len(embeddings)
    if n < 3 or n <= dims:
        raise ValueError(f"A {dims}-D map needs at least {max(3, dims + 1)} sentences, got {n}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=dims, random_state=seed).fit_transform(embeddings)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (n - 1) / 3)  # t-SNE needs perplexity < n
        return TSNE(n_components=dims, perplexity=perplexity, metric="cosine", init="pca",
                    random_state=seed).fit_transform(embeddings)
    import umap

    return umap.UMAP(n_components=dims, metric="cosine", n_neighbors=min(15, n - 1),
                     random_state=seed).fit_transform(embeddings)


def corpus_map(
    model_or_embeddings: ModelLike | np.ndarray,
    sentences: Sequence[str],
    dims: int = 2,
    method: str = "pca",
    n_clusters: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    show_progress_bar: bool = True,
    clustering: Clustering | None = None,
) -> CorpusMap:
    """The projected coordinates and the k-means clusters of a corpus, as data (nothing is drawn).

    Args:
        model_or_embeddings: a model (or its name or path) to encode the sentences with, or their embeddings.
        sentences: the corpus (at least ``dims + 1`` sentences, and at least 3).
        dims: 2 or 3.
        method: the projection, one of :data:`PROJECTIONS`.
        n_clusters: k-means clusters; by default :func:`default_n_clusters` capped at :data:`MAX_MAP_CLUSTERS`.
        seed: seed of the projection and the clustering (the same seed gives the same clusters in 2-D and 3-D).
        batch_size: sentences per forward pass when encoding.
        show_progress_bar: show a tqdm bar while encoding.
        clustering: the clusters of these sentences computed before (a map of the other dimension: the clusters
            do not depend on the projection), reused instead of clustering again.

    Returns:
        A :class:`CorpusMap`.

    Raises:
        ValueError: for too few sentences, an unknown method, ``dims`` other than 2 or 3, or a bad ``n_clusters``.
        ImportError: for ``method="umap"`` without ``pip install simcse-st[umap]``.
    """
    check_projection(method)
    check_dimensions(dims)
    sentences = check_sentences(sentences)
    embeddings = embed_corpus(model_or_embeddings, sentences, batch_size, show_progress_bar)
    coordinates = project(embeddings, method, seed, dims)
    if clustering is None:
        clustering = _map_clustering(embeddings, sentences, n_clusters, seed)
    return CorpusMap(coordinates, clustering)


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
    dims: int = 2,
) -> Map:
    """Draw a 2-D or 3-D map of ``sentences`` to the PNG file ``path`` (3-D: also a rotatable HTML page).

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
        dims: 2, or 3 for a 3-D view in the PNG plus the same map as a rotatable HTML page beside it
            (``path`` with the suffix ``.html``; needs plotly), where hovering a point shows its sentence.

    Returns:
        A :class:`Map` with the path, the coordinates and each sentence's group (and the HTML page in 3-D).

    Raises:
        ValueError: for an empty corpus, too few sentences, labels of the wrong length, an unknown method,
            ``dims`` other than 2 or 3, or a size that is not two positive integers.
        ImportError: for ``method="umap"`` without ``pip install simcse-st[umap]``, or ``dims=3`` without plotly.

    Example:
        >>> plot_map("all-MiniLM-L6-v2", sentences, "map.png", method="tsne", n_clusters=8)
        >>> plot_map("all-MiniLM-L6-v2", sentences, "map3d.png", dims=3)  # also writes map3d.html
    """
    check_projection(method)
    check_dimensions(dims)
    if dims == 3:
        check_plotly()
    sentences = check_sentences(sentences)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"size must be (width, height) in pixels, got {size!r}.")
    if labels is not None and len(labels) != len(sentences):
        raise ValueError(f"Got {len(labels)} labels for {len(sentences)} sentences; give one label per sentence.")
    embeddings = embed_corpus(model_or_embeddings, sentences, batch_size, show_progress_bar)
    coordinates = project(embeddings, method, seed, dims)
    if labels is None:
        groups, names = _cluster_groups(embeddings, sentences, n_clusters, seed)
        legend_title = "k-means clusters: sentence nearest the centre (size)"
    else:
        groups = [str(label) for label in labels]
        names = {group: _shorten(group) for group in groups}
        legend_title = "labels"
    projection_name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[method]
    title = title or f"{projection_name} {'3-D ' if dims == 3 else ''}map of {len(sentences)} sentences"
    path = Path(path)
    pixels = _draw(coordinates, groups, names, (title, legend_title), size, path)
    html = _write_html(coordinates, groups, names, sentences, title, path.with_suffix(".html")) if dims == 3 else None
    return Map(path, coordinates, groups, pixels, html)


def check_plotly() -> None:
    """Raise an ImportError naming the install command when plotly (needed for the HTML 3-D map) is missing."""
    if importlib.util.find_spec("plotly") is None:
        raise ImportError("The rotatable 3-D map needs plotly: `pip install simcse-st[serve]` or `pip install plotly`.")


def _map_clustering(
    embeddings: np.ndarray, sentences: list[str], n_clusters: int | None, seed: int
) -> Clustering:
    """k-means clusters of a map, each with its one sentence nearest the centre."""
    n_clusters = n_clusters or min(MAX_MAP_CLUSTERS, default_n_clusters(len(sentences)))
    return cluster(embeddings, sentences, n_clusters=n_clusters, seed=seed, top_n=1, show_progress_bar=False)


def _cluster_groups(
    embeddings: np.ndarray, sentences: list[str], n_clusters: int | None, seed: int
) -> tuple[list[str], dict[str, str]]:
    """Each sentence's k-means cluster, and a legend name per cluster: its sentence nearest the centre."""
    clustering = _map_clustering(embeddings, sentences, n_clusters, seed)
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
    """Scatter the points (2-D, or a 3-D view), one opaque colour per group, largest groups named in a legend
    right of the plot.

    Returns:
        The ``(column, row)`` pixel of each point in the saved image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    group_array = np.array(groups)
    order, colours = _ordered_groups(groups)
    dims = coordinates.shape[1]
    dpi = 100
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.04, 0.05, 0.56, 0.88), projection="3d" if dims == 3 else None)
    depth = {"depthshade": False} if dims == 3 else {}  # 3-D points keep their group's exact colour
    for rank, (group, colour) in enumerate(zip(order, colours, strict=True)):
        points = coordinates[group_array == group]
        label = names[group] if rank < MAX_LEGEND_ENTRIES else None
        axes.scatter(*points.T, s=22, color=colour, linewidths=0, label=label, **depth)
    axes.set_title(titles[0])
    axes.set_xticks([])
    axes.set_yticks([])
    if dims == 3:
        axes.set_zticks([])
    legend_title = titles[1]
    if len(order) > MAX_LEGEND_ENTRIES:
        legend_title += f", {MAX_LEGEND_ENTRIES} largest of {len(order)}"
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, title=legend_title, frameon=False,
                markerscale=1.5, alignment="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format="png")
    flat = coordinates
    if dims == 3:
        from mpl_toolkits.mplot3d import proj3d

        flat = np.column_stack(proj3d.proj_transform(*coordinates.T, axes.get_proj())[:2])
    display = axes.transData.transform(flat)  # pixels from the bottom-left corner
    return np.column_stack([display[:, 0], size[1] - display[:, 1]]).astype(int)


def _ordered_groups(groups: list[str]) -> tuple[list[str], list[tuple[float, float, float]]]:
    """The distinct groups, largest first (ties in natural order), and a colour for each."""
    distinct, counts = np.unique(np.array(groups), return_counts=True)
    order = [str(distinct[i]) for i in sorted(range(len(distinct)),
                                              key=lambda i: (-counts[i], _natural_key(distinct[i])))]
    return order, group_colours(len(order))


def _write_html(
    coordinates: np.ndarray,
    groups: list[str],
    names: dict[str, str],
    sentences: list[str],
    title: str,
    path: Path,
) -> Path:
    """A self-contained, rotatable plotly page of a 3-D map (plotly.js inlined: it opens offline), one trace and
    colour per group as in the PNG, each point's sentence shown on hover."""
    import plotly.graph_objects as go

    group_array = np.array(groups)
    figure = go.Figure()
    for group, colour in zip(*_ordered_groups(groups), strict=True):
        members = np.flatnonzero(group_array == group)
        x, y, z = coordinates[members].T
        rgb = "rgb({:.0f},{:.0f},{:.0f})".format(*np.multiply(colour, 255))
        figure.add_trace(go.Scatter3d(x=x, y=y, z=z, mode="markers", name=names[group], hoverinfo="text",
                                      text=[sentences[i] for i in members], marker={"size": 3, "color": rgb}))
    axis = {"showticklabels": False, "title": {"text": ""}}
    figure.update_layout(title=title, scene={"xaxis": axis, "yaxis": axis, "zaxis": axis},
                         legend={"itemsizing": "constant"}, margin={"l": 0, "r": 0, "t": 40, "b": 0})
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def _natural_key(group: str) -> tuple[int, float | str]:
    """Numeric labels in numeric order, before other labels in alphabetical order."""
    try:
        return (0, float(group))
    except ValueError:
        return (1, group)
