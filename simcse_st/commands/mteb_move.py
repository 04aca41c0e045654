"""``simcse-st mteb-move``: move the MTEB results of a local model folder (filed under a hash of its weights) to the
Hub commit the model was pushed as, once the Hub's weights are checked to be the folder's."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from simcse_st.commands.mteb import add_meta_arguments, meta_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mteb-move`` subcommand."""
    parser = subparsers.add_parser(
        "mteb-move",
        help="move a local folder's MTEB results to the Hub commit it was pushed as (so they can be submitted)",
        description="A run of 'simcse-st mteb' on a local folder is filed under a hash of the weights, which MTEB's "
        "results repository and registry cannot take. Once the folder is pushed to the Hub, this loads the Hub "
        "model (at --revision, else main; offline, from the Hugging Face cache), checks that its weights are the "
        "folder's (same fingerprint), and moves the run's task results under DIR/results/ to the Hub commit "
        "through MTEB's ResultCache and TaskResult, with a model_meta.json of the Hub model. Nothing is evaluated "
        "again. Nothing is written if a check fails.",
    )
    parser.add_argument("model", metavar="FOLDER", help="the local model folder the run was made on")
    parser.add_argument("--output-dir", metavar="DIR", required=True, help="the results folder of the run")
    add_meta_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the folder, the Hub model and its weights, then move the run and say what to run next."""
    from simcse_st.evaluation.mteb_meta import build_model_meta, load_hub_revision, model_name
    from simcse_st.evaluation.mteb_submission import move_run
    from simcse_st.fingerprint import model_fingerprint
    from simcse_st.hub import hub_model, model_folder
    from simcse_st.model_card import read_card
    from simcse_st.models import load_model

    options = meta_options(args)
    if not Path(args.model).is_dir():
        raise NotADirectoryError(f"{args.model} is not a folder: pass the local model folder the run was made on.")
    if not (Path(args.output_dir) / "results").is_dir():
        raise NotADirectoryError(f"{args.output_dir} holds no results/ folder: pass the --output-dir of the run.")
    name = model_name(args.model, read_card(args.model), options.name)
    if name.startswith("local/"):
        raise ValueError(f"{args.model} records no ORG/NAME: pass --name ORG/NAME, the Hub repository the model was "
                         "pushed to (and the name of the run).")
    local = load_model(args.model, device="cpu")
    local_meta = build_model_meta(local, args.model, dataclasses.replace(options, name=name, revision=None))
    pushed = load_hub_revision(name, options.revision, why=f"The weights of {args.model}")
    commit = options.revision or hub_model(name).commit
    if commit is None:
        raise OSError(f"The commit of {name}'s main is not in the Hugging Face cache: pass --revision COMMIT (the "
                      "one 'hf upload' printed).")
    if model_fingerprint(pushed) != model_fingerprint(local):
        raise ValueError(f"{name} at revision {commit or 'main'} does not hold the weights of {args.model} (their "
                         "fingerprints differ): push the folder again, or pass --revision with the commit that holds "
                         "them.")
    hub_meta = build_model_meta(pushed, model_folder(name, revision=commit),
                                dataclasses.replace(options, name=name, revision=commit))
    moved = move_run(args.output_dir, local_meta, hub_meta)
    print(f"Moved {len(moved.tasks)} task result(s) of {name} from revision {local_meta.revision} to Hub commit "
          f"{hub_meta.revision}: {moved.target} (the Hub's weights are the folder's).")
    print(f"Next: simcse-st model-meta {name} --out {name.split('/')[-1].replace('-', '_')}.py --mock-run (the "
          f"registry pull request), then mteb.ResultCache({str(args.output_dir)!r}).submit_results({name!r}) (the "
          "results pull request).")
    return 0
