"""``simcse-st reproduce``: the paper's STS table by one command: train presets, score them, print them beside
the paper's rows, write ``reproduction.json`` and ``reproduction.md``."""

from __future__ import annotations

import argparse
from pathlib import Path

from simcse_st.recipes import RECIPES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` subcommand."""
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce the paper's STS table: train presets, score them on the seven STS tasks, compare",
        description="Train each --preset from the paper's checkpoint on the paper's data (the Hub's "
        "princeton-nlp/datasets-for-simcse, or local copies), keep the best STS-B dev checkpoint, score it on the "
        "seven STS test sets and print it beside the paper's row; the table goes to OUTPUT_DIR/reproduction.md and "
        "OUTPUT_DIR/reproduction.json after each preset. Each preset's time is estimated for the hardware found "
        "first: a preset estimated at more than a day is refused unless --force. Run the same command again after "
        "an interruption: presets done are skipped, an interrupted one resumes from its checkpoints.",
    )
    parser.add_argument("--preset", nargs="+", metavar="NAME", default=None,
                        help=f"presets to reproduce, of: {', '.join(RECIPES)} (default: every one estimated to "
                        "train in under a day on this machine)")
    parser.add_argument("--model", default=None,
                        help="encoder to start every preset from instead of the preset's Hub checkpoint (a local "
                        "folder, e.g. a copy of bert-base-uncased)")
    parser.add_argument("--wiki-file", metavar="PATH", default=None,
                        help="local wiki1m_for_simcse.txt for the unsup presets (default: from the Hub)")
    parser.add_argument("--nli-file", metavar="PATH", default=None,
                        help="local nli_for_simcse.csv (or a SentEval NLI folder) for the sup presets "
                        "(default: from the Hub)")
    parser.add_argument("--data-dir", metavar="ROOT", default=None,
                        help="the data root holding senteval/ for STS dev and test (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--output-dir", default="simcse-paper-reproduction",
                        help="one model folder per preset, and the results (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="override the presets' batch (the global batch, split over torchrun's processes)")
    parser.add_argument("--eval-steps", type=int, default=None, help="STS-B dev every N steps (paper: 125)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop each preset after N steps (a shorter run)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="run a named preset even when it is estimated to take more than a day here")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the estimates, train nothing")
    parser.set_defaults(func=run)


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse values out of range and local files that do not exist, before anything is loaded.

    Raises:
        ValueError: naming the flag.
    """
    for flag, value in (("--batch-size", args.batch_size), ("--eval-steps", args.eval_steps),
                        ("--max-steps", args.max_steps)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be a positive integer, got {value}.")
    for flag, path in (("--wiki-file", args.wiki_file), ("--nli-file", args.nli_file)):
        if path is not None and not Path(path).exists():
            raise ValueError(f"{flag} {path} does not exist.")
    for name in args.preset or ():
        if name not in RECIPES:
            raise ValueError(f"Unknown preset {name!r}; the presets are: {', '.join(RECIPES)}.")


def run(args: argparse.Namespace) -> int:
    """Plan, check the sources, then train and score each preset, printing the table as it grows."""
    from simcse_st.commands.train import main_process_print
    from simcse_st.evaluation import SentEvalSTSEvaluator
    from simcse_st.reproduction import (
        detect_hardware,
        is_main_process,
        plan_presets,
        read_results,
        reproduce_preset,
        resolve_sources,
        results_table,
        write_results,
    )

    check_arguments(args)
    hardware = detect_hardware()
    # a dry run shows every preset asked for (all by default) with its estimate, refused or not
    plans = plan_presets(
        args.preset or (list(RECIPES) if args.dry_run else None), hardware, model=args.model,
        train_files={"unsup": args.wiki_file, "sup": args.nli_file}, batch_size=args.batch_size,
        eval_steps=args.eval_steps, max_steps=args.max_steps, force=args.force or args.dry_run,
    )
    output_dir = Path(args.output_dir)
    main_process_print(f"Reproducing {len(plans)} preset(s) on {hardware.description} (estimates: {hardware.basis}):",
                       flush=True)
    for plan in plans:
        main_process_print(f"- {plan.describe(output_dir)}", flush=True)
    if args.dry_run:
        return 0
    results = read_results(output_dir)
    SentEvalSTSEvaluator(data_dir=args.data_dir, split="test")  # the seven test sets are there, before training
    files = resolve_sources(plans)
    output_dir.mkdir(parents=True, exist_ok=True)  # under torchrun every process trains; the first one writes
    results["hardware"] = hardware.description
    for plan in plans:
        name = plan.recipe.name
        if name in results["presets"]:
            main_process_print(f"{name}: done in an earlier run ({output_dir / name}), skipped.", flush=True)
            continue
        results["presets"][name] = reproduce_preset(
            plan, files[plan.recipe.objective], output_dir, data_dir=args.data_dir, max_steps=args.max_steps,
            seed=args.seed,
        )
        if is_main_process():
            write_results(output_dir, results)
            print(results_table(results), flush=True)
    main_process_print(f"Wrote {output_dir / 'reproduction.md'} and {output_dir / 'reproduction.json'}.")
    return 0
