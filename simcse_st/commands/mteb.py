"""``simcse-st mteb``: MTEB on the paper's seven STS tasks (local SentEval files) or any MTEB tasks or benchmark
(Hub), named and versioned, resumable, written in ``ResultCache``'s layout."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from simcse_st.commands.eval import add_data_arguments, report
from simcse_st.evaluation.mteb_bridge import OVERWRITE_STRATEGIES

if TYPE_CHECKING:
    from simcse_st.evaluation.mteb_meta import MetaOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mteb`` subcommand."""
    parser = subparsers.add_parser(
        "mteb",
        help="run MTEB: the seven STS tasks locally, or any MTEB tasks or benchmark (needs the mteb extra)",
        description="Evaluate MODEL with the mteb package: the paper's seven STS tasks read from the local SentEval "
        "files, or with --source hub any MTEB tasks (--tasks) or benchmark (--benchmark). Results are written "
        "by MTEB's ResultCache under --output-dir as results/<org>__<name>/<revision>/<task>.json with "
        "model_meta.json (the local SentEval tasks, which the leaderboard cannot show, under --output-dir/senteval/, "
        "out of what ResultCache.submit_results sends); a run started again evaluates only the tasks that are "
        "missing. A run on a local folder is filed under a hash of the weights, which MTEB cannot take: once the "
        "model is pushed, 'simcse-st mteb-move' moves it to the Hub commit.",
    )
    parser.add_argument("model", metavar="MODEL", help="a local model folder or a Hugging Face Hub name")
    add_data_arguments(parser, any_task=True)
    add_meta_arguments(parser)
    parser.add_argument("--output-dir", metavar="DIR", default=None,
                        help="the results folder, in MTEB's ResultCache layout (default: not written); --source local "
                        "writes under DIR/senteval/, which ResultCache(DIR).submit_results does not send")
    parser.add_argument("--source", choices=("local", "hub"), default="local",
                        help="local: SentEval files under the data root; hub: MTEB's own tasks (default: %(default)s)")
    parser.add_argument("--benchmark", metavar="NAME", default=None,
                        help='one of MTEB\'s benchmarks, e.g. "MTEB(eng, v2)" (with --source hub)')
    parser.add_argument("--overwrite-strategy", choices=OVERWRITE_STRATEGIES, default="only-missing",
                        help="as mteb.evaluate's: only-missing evaluates only tasks missing from --output-dir "
                        "(default: %(default)s)")
    parser.add_argument("--update-card", action="store_true",
                        help="add the run's scores as a table to the model folder's README.md")
    parser.set_defaults(func=run)


def add_meta_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``mteb`` and ``model-meta`` share: what MTEB's ModelMeta cannot read from the model."""
    parser.add_argument("--name", metavar="ORG/NAME", default=None,
                        help="the model's name for MTEB (default: the name recorded at training, else the Hub name, "
                        "else local/<folder>)")
    parser.add_argument("--revision", metavar="COMMIT", default=None,
                        help="the model's Hub commit, 40 hex digits (default: the Hub commit of a Hub model, else a "
                        "hash of weights and config, which cannot be submitted)")
    parser.add_argument("--license", default=None,
                        help="the model's licence, e.g. apache-2.0 (default: the model card's)")
    parser.add_argument("--languages", nargs="+", metavar="CODE", default=None,
                        help="ISO 639-3 and script codes, e.g. eng-Latn (default: the model card's, else eng-Latn)")
    parser.add_argument("--base-model", metavar="NAME", default=None,
                        help="the Hub name of the model training started from, MTEB's adapted_from (default: the "
                        "one recorded at training, under the name MTEB's registry uses)")
    parser.add_argument("--release-date", metavar="YYYY-MM-DD", default=None,
                        help="the release date (default: the day training ended, else the Hub's, else empty)")
    parser.add_argument("--training-data-url", metavar="URL", default=None,
                        help="where the training data is public (default: the one recorded at training, else the "
                        "official SimCSE data's for its file names)")


def meta_options(args: argparse.Namespace, require_license: bool = True) -> MetaOptions:
    """The :class:`~simcse_st.evaluation.mteb_meta.MetaOptions` of the command line."""
    from simcse_st.evaluation.mteb_meta import MetaOptions, check_model_name, check_release_date, check_url
    from simcse_st.hub import check_hub_commit, check_hub_name

    return MetaOptions(
        name=check_model_name(args.name) if args.name is not None else None,
        revision=check_hub_commit(args.revision) if args.revision is not None else None,
        license=args.license,
        languages=tuple(args.languages) if args.languages else None,
        require_license=require_license,
        base_model=check_hub_name(args.base_model) if args.base_model is not None else None,
        release_date=check_release_date(args.release_date) if args.release_date is not None else None,
        training_data_url=check_url(args.training_data_url) if args.training_data_url is not None else None,
    )


def check_output_dir(output_dir: str | None) -> None:
    """Refuse an ``--output-dir`` that is a file.

    Raises:
        NotADirectoryError: naming it.
    """
    if output_dir is not None and Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise NotADirectoryError(f"--output-dir {output_dir} is a file: pass a folder (it is created if missing).")


def run(args: argparse.Namespace) -> int:
    """Check the arguments, load the model, run MTEB, print the table, write the JSON (and the card's table)."""
    try:
        import mteb  # noqa: F401
    except ImportError as error:
        raise OSError(f"simcse-st mteb needs the mteb package ({error}); install it with pip install "
                      "'simcse-st[mteb]'.") from error
    from simcse_st.commands._runtime import load_model_for
    from simcse_st.evaluation.mteb_bridge import mteb_tasks, run_mteb
    from simcse_st.evaluation.mteb_meta import build_model_meta
    from simcse_st.evaluation.mteb_submission import results_cache_folder, revision_folder, submission_note

    options = meta_options(args, require_license=args.output_dir is not None)  # no licence needed unless written
    check_output_dir(args.output_dir)
    if args.update_card and not Path(args.model).is_dir():
        raise ValueError(f"--update-card writes the scores into a local model folder's README.md; {args.model} is "
                         "not a folder.")
    tasks = mteb_tasks(args.tasks, args.data_dir, args.source, args.benchmark)
    model = load_model_for(args)
    meta = build_model_meta(model, args.model, options)
    print(f"Evaluating {meta.name} at revision {meta.revision} on {len(tasks)} MTEB task(s).", flush=True)
    scores = run_mteb(
        model, data_dir=args.data_dir, tasks=args.tasks, output_folder=args.output_dir, source=args.source,
        batch_size=args.batch_size, benchmark=args.benchmark, meta=meta,
        overwrite_strategy=args.overwrite_strategy, report=lambda line: print(line, flush=True), selected=tasks,
    )
    report(scores, args.json)
    if args.output_dir is not None:
        print(f"MTEB results: {revision_folder(results_cache_folder(args.output_dir, args.source), meta)}")
    if args.update_card:
        from simcse_st.model_card import add_mteb_scores

        print(f"Added the scores to {add_mteb_scores(args.model, meta, scores, args.benchmark)}")
    if args.source == "local":
        print("The local SentEval tasks are for comparison with the paper: the leaderboard cannot show them "
              "(run --source hub for MTEB's own tasks).")
    elif args.output_dir is not None and (note := submission_note(meta, args.model, args.output_dir, "mteb")):
        print(note)
    return 0
