"""``simcse-st model-meta``: the ``ModelMeta(...)`` of a model for MTEB's registry, and MTEB's mock run on it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from simcse_st.commands.mteb import add_meta_arguments, meta_options

if TYPE_CHECKING:
    from mteb.mocks.mock_run import MockRunResults
    from mteb.models.model_meta import ModelMeta

MOCK_RUN_FILE = "mteb_mock_run_results.md"
"""The report ``mteb mock-run`` writes, which MTEB's registry pull request template asks for."""
IMPORTS = (
    "from mteb.models.model_meta import ModelMeta, ScoringFunction\n"
    "from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper\n"
)
"""What the printed ``ModelMeta(...)`` needs to run."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``model-meta`` subcommand."""
    parser = subparsers.add_parser(
        "model-meta",
        help="print the ModelMeta(...) of a model for MTEB's registry (--mock-run: check it on MTEB's mock tasks)",
        description="Print the ModelMeta(...) Python of MODEL for a pull request to MTEB's model registry (MTEB's "
        "own ModelMeta.to_python), filled from what training recorded in the model card and from the model. "
        "With --mock-run, load the model through that ModelMeta's loader and run MTEB's mock tasks on it, as "
        f"'mteb mock-run' does for a registered model, writing {MOCK_RUN_FILE}. Run it on the Hub name once the "
        "model is pushed: a local folder's revision is a hash of its weights, which the registry cannot take (it "
        "says so). A name already in MTEB's registry prints the registry's own ModelMeta when the weights are its "
        "registered revision's, and is refused otherwise.",
    )
    parser.add_argument("model", metavar="MODEL", help="a local model folder or a Hugging Face Hub name")
    add_meta_arguments(parser)
    parser.add_argument("--out", metavar="FILE", default=None, help="also write the Python to FILE")
    parser.add_argument("--mock-run", action="store_true",
                        help=f"run MTEB's mock tasks and write {MOCK_RUN_FILE} (beside --out, else here)")
    parser.set_defaults(func=run)


def registry_code(meta: ModelMeta) -> str:
    """The imports and ``<name> = ModelMeta(...)`` (MTEB's ``to_python``), ready for MTEB's registry."""
    variable = re.sub(r"\W", "_", meta.name or "model").strip("_").lower()
    return f"{IMPORTS}\n{variable} = {meta.to_python()}\n"


def mock_run(meta: ModelMeta, source: str) -> MockRunResults:
    """Load the model through ``meta``'s own loader (from the local folder ``source`` when it is one) and run MTEB's
    mock tasks on it (``mteb.mocks.mock_run.mock_run``); returns MTEB's ``MockRunResults``."""
    from mteb.mocks.mock_run import mock_run as mteb_mock_run

    local = Path(source).expanduser()
    loadable = meta.model_copy(update={"name": str(local), "revision": None}) if local.is_dir() else meta
    encoder = loadable.load_model()
    encoder.mteb_model_meta = meta
    return mteb_mock_run(encoder)


def run(args: argparse.Namespace) -> int:
    """Build the ModelMeta, print and write it, and run the mock tasks when asked; 1 if a mock task failed."""
    from mteb import __version__ as mteb_version_string

    from simcse_st.evaluation.mteb_meta import build_model_meta, registry_entry
    from simcse_st.evaluation.mteb_submission import submission_note
    from simcse_st.models import load_model

    options = meta_options(args)
    meta = build_model_meta(load_model(args.model), args.model, options)
    code = registry_code(meta)
    print(code)
    if args.out is not None:
        Path(args.out).write_text(code, encoding="utf-8")
        print(f"Wrote {args.out}")
    status = 0
    if args.mock_run:
        results = mock_run(meta, args.model)
        report = (Path(args.out).parent if args.out else Path()) / MOCK_RUN_FILE
        report.write_text(results.to_markdown(), encoding="utf-8")
        verdict = "passed every compatible mock task" if results.all_passed else "FAILED some mock tasks"
        print(f"MTEB mock run: {meta.name} {verdict}; the report is {report}")
        status = 0 if results.all_passed else 1
    if registry_entry(meta.name) is not None:
        print(f"{meta.name} is already in MTEB's registry (mteb {mteb_version_string}): this is its registered "
              "ModelMeta; no registry pull request is needed.")
    elif note := submission_note(meta, args.model, None, "model-meta"):
        print(note)
    return status
