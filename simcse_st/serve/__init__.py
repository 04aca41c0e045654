"""The web service of ``simcse-st serve``: a JSON API and one page (search, similarity, a map) over a corpus.

Needs the ``[serve]`` extra (FastAPI, uvicorn, plotly). :func:`create_app` builds the app over a
:class:`~simcse_st.index.SemanticIndex`. Its names are imported on first use, so that
:mod:`simcse_st.serve.options` (the defaults the command line shows) imports without the extra.
"""

from __future__ import annotations

from simcse_st._lazy import lazy_exports

__all__ = ["MicroBatcher", "create_app"]

__getattr__, __dir__ = lazy_exports(__name__, {"MicroBatcher": "simcse_st.serve.batching",
                                               "create_app": "simcse_st.serve.app"})
