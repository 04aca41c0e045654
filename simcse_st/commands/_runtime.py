"""The inference runtime options every encoding command shares: ``--runtime`` and ``--runtime-file``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """``--runtime torch|openvino`` and ``--runtime-file FILE`` (see :func:`simcse_st.embedding.load_encoder`)."""
    from simcse_st.embedding import RUNTIMES

    group = parser.add_argument_group("inference runtime")
    group.add_argument("--runtime", choices=RUNTIMES, default=None,
                       help="encode in PyTorch or OpenVINO (the [openvino] extra; a plain model is exported on the fly)"
                       " (default: openvino for a folder written by `simcse-st export`, else torch)")
    group.add_argument("--runtime-file", metavar="FILE", default=None,
                       help="the OpenVINO file to run, relative to MODEL, e.g. "
                       "openvino/openvino_model_qint8_quantized.xml (default: the exported folder's own)")


def runtime_record(args: argparse.Namespace) -> dict[str, Any] | None:
    """The runtime chosen on the command line, as :func:`simcse_st.embedding.resolve_model` takes it (None: the
    default)."""
    if args.runtime is None and args.runtime_file is None:
        return None
    return {"name": args.runtime, "file": args.runtime_file}


def load_model_for(args: argparse.Namespace, model: str | None = None) -> SentenceTransformer:
    """Load ``model`` (default: ``args.model``) in the runtime ``--runtime`` / ``--runtime-file`` choose."""
    from simcse_st.embedding import load_encoder

    return load_encoder(model if model is not None else args.model, args.runtime, args.runtime_file)
