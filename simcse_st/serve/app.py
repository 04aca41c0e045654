"""The FastAPI app: a JSON API and one web page over a :class:`~simcse_st.index.SemanticIndex`.

The handlers parse the request, call :mod:`simcse_st.apps` and answer. The model runs on one encoder thread;
searches go through the :class:`~simcse_st.serve.batching.MicroBatcher`. The corpus map (projection and
k-means clusters) is computed on first request, once per dimension, and cached.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from simcse_st.apps.clustering import Clustering
from simcse_st.apps.maps import corpus_map
from simcse_st.apps.similarity import embed, pair_similarities
from simcse_st.index import SemanticIndex
from simcse_st.serve.batching import MicroBatcher, SearchQuery, search_queries
from simcse_st.serve.limits import (
    BodyLimit,
    EmbedRequest,
    SearchRequest,
    SimilarityRequest,
    error_response,
    limit_error,
)

STATIC = Path(__file__).parent / "static"
"""The page's files (index.html, app.js, style.css), shipped as package data."""


def create_app(
    index: SemanticIndex,
    micro_batching: bool = True,
    max_wait: float = 0.002,
    map_method: str = "tsne",
    n_clusters: int | None = None,
    seed: int = 0,
) -> FastAPI:
    """The service over ``index``.

    Args:
        index: the corpus and its model.
        micro_batching: let concurrent searches share one encoder call (off: each search runs alone).
        max_wait: seconds a micro-batch waits for more searches after the first arrives.
        map_method: the projection of ``GET /api/map`` (``pca``, ``tsne`` or ``umap``).
        n_clusters: k-means clusters of the map (default: ``sqrt(n / 2)``, at most 10).
        seed: seed of the map's projection and k-means clustering.

    Returns:
        A FastAPI application; run it with uvicorn (``simcse-st serve`` does).
    """
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simcse-encoder")
    batcher = MicroBatcher(partial(search_queries, index), encoder, enabled=micro_batching, max_wait=max_wait)
    maps = _MapCache(index, map_method, n_clusters, seed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        encoder.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="simcse-st", summary="Semantic search, similarity and a map of a corpus", lifespan=lifespan,
                  strict_content_type=False)  # a body without Content-Type is read as JSON
    app.state.index = index
    app.add_middleware(BodyLimit)
    _add_error_handlers(app)

    async def on_encoder(function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(encoder, function, *args)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "model": index.model_name or type(index.model).__name__, "sentences": len(index)}

    @app.post("/api/search")
    async def search(request: SearchRequest) -> dict[str, Any]:
        queries = [SearchQuery(query, request.top_k, request.threshold) for query in request.queries]
        results = await batcher.submit(queries)
        return {"results": [[hit._asdict() for hit in hits] for hits in results]}

    @app.post("/api/similarity")
    async def similarity(request: SimilarityRequest) -> dict[str, Any]:
        return {"scores": await on_encoder(pair_similarities, index.model, request.pairs)}

    @app.post("/api/embed")
    async def embeddings(request: EmbedRequest) -> dict[str, Any]:
        vectors = await on_encoder(embed, index.model, request.sentences)
        return {"embeddings": vectors.tolist(), "dimension": int(vectors.shape[1])}

    @app.get("/api/map")
    async def corpus_map_data(dims: str = "2") -> Any:
        if dims not in ("2", "3"):
            return error_response("dims", f"got {dims!r}")
        try:
            return await maps.get(int(dims))
        except ValueError as error:  # a corpus too small to project
            return JSONResponse({"error": str(error)}, status_code=409)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    plotly = _plotly_js()

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> Any:
        if plotly is None:
            return JSONResponse({"error": "the map needs plotly: pip install simcse-st[serve]"}, status_code=404)
        return FileResponse(plotly)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _plotly_js() -> Path | None:
    """The ``plotly.min.js`` that the installed plotly package ships, or None without plotly."""
    spec = importlib.util.find_spec("plotly")
    return None if spec is None or spec.origin is None else Path(spec.origin).parent / "package_data" / "plotly.min.js"


def _add_error_handlers(app: FastAPI) -> None:
    """Answer invalid bodies with the limit they break, and HTTP errors (404, 405) as ``{"error": ...}`` JSON."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return limit_error(list(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)


class _MapCache:
    """The ``GET /api/map`` answers, computed once per dimension on a background thread and kept; the k-means
    clusters, which do not depend on the projection, are computed once for both dimensions."""

    def __init__(self, index: SemanticIndex, method: str, n_clusters: int | None, seed: int) -> None:
        self.index, self.method, self.n_clusters, self.seed = index, method, n_clusters, seed
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._clustering: Clustering | None = None
        self._lock = threading.Lock()  # one map computed at a time, so the second reuses the first's clusters

    def get(self, dims: int) -> asyncio.Future[dict[str, Any]]:
        """The map answer for ``dims`` (a future, shared by every request while it is being computed)."""
        if dims not in self._answers:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._answers[dims] = future
            # a daemon thread: a projection still running never holds up the server's exit
            threading.Thread(target=self._compute, args=(loop, future, dims), daemon=True).start()
        return asyncio.shield(self._answers[dims])

    def _compute(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[dict[str, Any]], dims: int) -> None:
        try:
            answer = self._answer(dims)
        except Exception as error:  # noqa: BLE001  (handed to the waiting requests)
            loop.call_soon_threadsafe(future.set_exception, error)
            return
        loop.call_soon_threadsafe(future.set_result, answer)

    def _answer(self, dims: int) -> dict[str, Any]:
        sentences = self.index.sentences
        with self._lock:
            result = corpus_map(self.index.embeddings, sentences, dims=dims, method=self.method,
                                n_clusters=self.n_clusters, seed=self.seed, show_progress_bar=False,
                                clustering=self._clustering)
            self._clustering = result.clustering
        axes = "xyz"[:dims]
        points = [
            {**{axis: float(value) for axis, value in zip(axes, row, strict=True)}, "cluster": int(label),
             "position": position, "sentence": sentences[position]}
            for position, (row, label) in enumerate(zip(result.coordinates, result.clustering.labels, strict=True))
        ]
        clusters = [{"id": c.label, "size": c.size, "summary": summary}
                    for c, summary in zip(result.clustering.clusters, result.summaries(), strict=True)]
        return {"points": points, "clusters": clusters}
