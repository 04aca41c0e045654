"""The web service of ``simcse-st serve``: a JSON API and one page (search, similarity, a map) over a corpus.

Needs the ``[serve]`` extra (FastAPI, uvicorn, plotly). :func:`create_app` builds the app over a
:class:`~simcse_st.index.SemanticIndex`.
"""

from __future__ import annotations

from simcse_st.serve.app import create_app
from simcse_st.serve.batching import MicroBatcher

__all__ = ["MicroBatcher", "create_app"]
