"""Reproducing the SimCSE paper's STS table (``simcse-st reproduce``): train presets, score them, compare.

Each preset of :data:`simcse_st.recipes.RECIPES` is trained with :func:`simcse_st.training.train_simcse` from the
paper's checkpoint on the paper's data (``princeton-nlp/datasets-for-simcse`` on the Hub: ``wiki1m_for_simcse.txt``,
1M Wikipedia sentences; ``nli_for_simcse.csv``, 275,601 SNLI + MNLI triplets), the checkpoint chosen on STS-B dev as
the official trainer does, then scored on the seven STS test sets and set beside the paper's row. Without the Hub,
local copies are passed (``--wiki-file``, ``--nli-file``, ``--model``); what is missing is named before anything
is trained. Results go to ``reproduction.json`` and ``reproduction.md`` after each preset, and a run started again
skips the presets done and resumes an interrupted one from its checkpoints.

Before training, the time each preset takes is estimated (:func:`estimate`) from the training FLOPs (6 x the
encoder's parameters outside the embeddings x the tokens of all steps, plus the evaluations' forward passes) and
the throughput assumed for the hardware found (:func:`detect_hardware`); a preset estimated at more than
:data:`MAX_HOURS` is refused unless ``force``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simcse_st.data.sts import STS_TASKS
from simcse_st.recipes import RECIPES, Recipe, get_recipe

if TYPE_CHECKING:
    from datasets import Dataset

HUB_DATASET = "princeton-nlp/datasets-for-simcse"
TRAIN_FILES = {"unsup": "wiki1m_for_simcse.txt", "sup": "nli_for_simcse.csv"}
HUB_ROWS = {"unsup": 1_000_000, "sup": 275_601}
"""Rows of the paper's training files (sentences; triplets)."""
FILE_FLAGS = {"unsup": "--wiki-file", "sup": "--nli-file"}
CPU_SCALE_DATA = {"unsup": "wiki/wiki1m_sample.txt", "sup": "nli/snli"}
"""Local stand-ins under the data root, for a run at CPU scale."""
MAX_HOURS = 24.0
"""A preset estimated to take longer on the hardware found is refused unless told to go on."""
RESULTS_JSON, RESULTS_MARKDOWN = "reproduction.json", "reproduction.md"
RESULTS_FORMAT = "simcse-st reproduction"

# Gao et al. 2021, Table 5 ("all" setting): STS12-16, STS-B, SICK-R and their mean, the averages of the official
# repository's released checkpoints (Recipe.reported_sts_avg).
_PAPER_ROWS: dict[str, tuple[float, ...]] = {
    "unsup-bert-base": (68.40, 82.41, 74.38, 80.91, 78.56, 76.85, 72.23, 76.25),
    "unsup-bert-large": (70.88, 84.16, 76.43, 84.50, 79.76, 79.26, 73.88, 78.41),
    "unsup-roberta-base": (70.16, 81.77, 73.24, 81.36, 80.65, 80.22, 68.56, 76.57),
    "unsup-roberta-large": (72.86, 83.99, 75.62, 84.77, 81.80, 81.98, 71.26, 78.90),
    "sup-bert-base": (75.30, 84.67, 80.19, 85.40, 80.82, 84.25, 80.39, 81.57),
    "sup-bert-large": (75.78, 86.33, 80.44, 86.06, 80.86, 84.87, 81.14, 82.21),
    "sup-roberta-base": (76.53, 85.21, 80.95, 86.03, 82.57, 85.83, 80.50, 82.52),
    "sup-roberta-large": (77.46, 87.27, 82.36, 86.66, 83.93, 86.70, 81.95, 83.76),
}

# Encoder shapes (layers, hidden size, feed-forward size) of the paper's checkpoints, for estimates without the Hub.
KNOWN_SHAPES: dict[str, tuple[int, int, int]] = {
    "bert-base-uncased": (12, 768, 3072),
    "bert-large-uncased": (24, 1024, 4096),
    "roberta-base": (12, 768, 3072),
    "roberta-large": (24, 1024, 4096),
}

CPU_FLOPS_PER_THREAD = 4.8e10
"""Training FLOP/s per CPU thread: measured with all-MiniLM-L6-v2 on a 2-core machine (2.7 s for a step of 64
pairs at length 32 = 6 x 10.6M parameters x 4,096 tokens, two threads)."""
GPU_PEAK_TFLOPS: dict[str, float] = {
    "H200": 989, "H100": 989, "A100": 312, "L40S": 362, "A6000": 155, "A10": 125, "L4": 121, "V100": 125, "T4": 65,
    "4090": 165, "3090": 71,
}
"""Dense fp16/bf16 tensor-core peak of each GPU (vendor figures), matched by name."""
GPU_UTILIZATION = 0.25
"""The share of that peak assumed for a SimCSE step's matrix products (short sequences, mixed precision)."""
GPU_STEP_OVERHEAD_S = 0.1
"""Seconds a GPU step costs beyond its FLOPs (tokenizing, the optimizer, kernel launches). With the utilization
above, the official unsupervised BERT-base run comes out at about an hour on one RTX 3090, as the official
repository reports 1-2 hours; both are assumptions, not measured here (no GPU was lent): ``benchmarks/gpu_check.py``
measures real steps per second."""
UNKNOWN_GPU_TFLOPS = 65.0
"""The peak assumed for a GPU not in :data:`GPU_PEAK_TFLOPS` (a T4's: the estimate errs long)."""
DEV_EVAL_TOKENS = 3_000 * 32
"""Tokens of one STS-B dev evaluation (about 3,000 distinct sentences, padded to 32 tokens or so)."""
TEST_EVAL_TOKENS = 25_000 * 32
"""Tokens of the final seven-task evaluation (about 25,000 distinct sentences)."""


def paper_row(preset: str) -> dict[str, float]:
    """The paper's scores for ``preset`` (Table 5): the seven tasks and ``avg``."""
    values = _PAPER_ROWS[get_recipe(preset).name]
    return dict(zip([*STS_TASKS, "avg"], values, strict=True))


@dataclass(frozen=True)
class Hardware:
    """The machine a reproduction runs on, as the estimate sees it.

    Attributes:
        description: what was found (the GPU's name and count, or the CPU threads).
        flops: the training FLOP/s assumed for it.
        basis: where that figure comes from.
        step_overhead_s: seconds a training step costs beyond its FLOPs.
    """

    description: str
    flops: float
    basis: str
    step_overhead_s: float = 0.0


def detect_hardware() -> Hardware:
    """The hardware this process trains on: every process's CUDA device (under torchrun) or the CPU threads."""
    import torch

    from simcse_st.losses.infonce import world_size

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        peak = next((tflops for key, tflops in GPU_PEAK_TFLOPS.items() if key in name), None)
        processes = world_size()
        basis = (f"{GPU_UTILIZATION:.0%} of the {name}'s {peak:g} TFLOP/s fp16/bf16 peak (assumed)" if peak else
                 f"{name} is not in the table: a T4's {UNKNOWN_GPU_TFLOPS:g} TFLOP/s peak x {GPU_UTILIZATION:.0%}")
        flops = (peak or UNKNOWN_GPU_TFLOPS) * 1e12 * GPU_UTILIZATION * processes
        return Hardware(f"{processes} x {name}", flops, f"{basis}, plus {GPU_STEP_OVERHEAD_S:g} s a step",
                        GPU_STEP_OVERHEAD_S)
    threads = torch.get_num_threads()
    return Hardware(f"CPU, {threads} threads", CPU_FLOPS_PER_THREAD * threads,
                    f"{CPU_FLOPS_PER_THREAD / 1e9:g} GFLOP/s a thread, measured on a 2-core machine")


def encoder_parameters(model: str | os.PathLike[str]) -> int:
    """Parameters of the encoder's layers (embeddings left out: they cost no FLOPs per token): per layer, the
    attention's four h x h projections and the two h x f feed-forward ones.

    Raises:
        ValueError: when the shape of ``model`` cannot be read (a Hub name that is neither known nor reachable).
    """
    if str(model) in KNOWN_SHAPES:
        layers, hidden, feed_forward = KNOWN_SHAPES[str(model)]
    else:
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(str(model))
        except OSError as error:
            raise ValueError(f"Could not read the configuration of {model} to estimate its training time: {error}. "
                             "Pass --model with a local model folder.") from None
        layers, hidden, feed_forward = config.num_hidden_layers, config.hidden_size, config.intermediate_size
    return layers * (4 * hidden * hidden + 2 * hidden * feed_forward)


@dataclass(frozen=True)
class Estimate:
    """How long a preset is expected to train and evaluate on the hardware found."""

    steps: int
    hours: float


def estimate(recipe: Recipe, parameters: int, rows: int, hardware: Hardware, max_steps: int | None = None
             ) -> Estimate:
    """Steps and hours of training ``recipe`` on ``rows`` of data (or ``max_steps``), with an STS-B dev evaluation
    every ``eval_steps`` and the final seven-task one.

    FLOPs: 6 x parameters x tokens for a training step (forward and backward), 2 x parameters x tokens for an
    evaluation; a step's tokens are batch x views x length (2 views unsupervised, 3 supervised). The hardware's
    overhead per step is added.
    """
    steps = max_steps or math.ceil(rows / recipe.batch_size) * math.ceil(recipe.epochs)
    views = 2 if recipe.objective == "unsup" else 3
    training = 6 * parameters * recipe.batch_size * views * recipe.max_seq_length * steps
    evaluation = 2 * parameters * ((steps // recipe.eval_steps) * DEV_EVAL_TOKENS + TEST_EVAL_TOKENS)
    return Estimate(steps, ((training + evaluation) / hardware.flops + steps * hardware.step_overhead_s) / 3600)


@dataclass
class PresetPlan:
    """One preset of a reproduction: what it trains from, on what, and for how long."""

    recipe: Recipe
    model: str
    train_file: str | None  # a local file; None: the Hub's
    rows: int
    estimate: Estimate

    @property
    def data_name(self) -> str:
        return Path(self.train_file).name if self.train_file else TRAIN_FILES[self.recipe.objective]

    def describe(self, output_dir: Path) -> str:
        recipe = self.recipe
        source = self.train_file or f"{TRAIN_FILES[recipe.objective]} from the Hub dataset {HUB_DATASET}"
        mlp = "kept" if recipe.mlp_at_inference else "dropped"
        return (f"{recipe.name}: train {self.model} on {source} ({self.rows:,} rows): batch {recipe.batch_size}, "
                f"lr {recipe.learning_rate:g}, {self.estimate.steps:,} steps, max length {recipe.max_seq_length}, "
                f"temperature {recipe.temperature:g}, {recipe.pooling} pooling, MLP {mlp} at inference; STS-B dev "
                f"every {recipe.eval_steps} steps, best checkpoint kept; model -> {output_dir / recipe.name}; "
                f"estimated {format_hours(self.estimate.hours)}; paper: {recipe.reported_sts_avg}")


def format_hours(hours: float) -> str:
    """``12 min``, ``3.4 h`` or ``2.5 days``."""
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def plan_presets(
    presets: list[str] | None,
    hardware: Hardware,
    *,
    model: str | None = None,
    train_files: dict[str, str | None] | None = None,
    batch_size: int | None = None,
    eval_steps: int | None = None,
    max_steps: int | None = None,
    force: bool = False,
) -> list[PresetPlan]:
    """The presets to run, each with its estimate; by default every preset estimated under :data:`MAX_HOURS`.

    Raises:
        ValueError: for an unknown preset; a named preset estimated over :data:`MAX_HOURS` without ``force``
            (with the estimate); or no preset fitting the hardware when none is named.
    """
    train_files = train_files or {}
    rows_by_objective: dict[str, int] = {}
    plans = []
    for name in presets or list(RECIPES):
        recipe = get_recipe(name).with_overrides(batch_size=batch_size, eval_steps=eval_steps)
        objective = recipe.objective
        if objective not in rows_by_objective:
            local = train_files.get(objective)
            rows_by_objective[objective] = load_rows(objective, local).num_rows if local else HUB_ROWS[objective]
        chosen_model = model or recipe.model
        rows = rows_by_objective[objective]
        plans.append(PresetPlan(recipe, chosen_model, train_files.get(objective), rows,
                                estimate(recipe, encoder_parameters(chosen_model), rows, hardware, max_steps)))
    too_long = [plan for plan in plans if plan.estimate.hours > MAX_HOURS]
    if presets and too_long and not force:
        (plan, *_) = too_long
        raise ValueError(
            f"{plan.recipe.name} would take about {format_hours(plan.estimate.hours)} on this machine "
            f"({hardware.description}; {hardware.basis}): pass --force to run it anyway, or --max-steps N for a "
            "shorter run.")
    if not presets:
        plans = [plan for plan in plans if plan.estimate.hours <= MAX_HOURS]
        if not plans:
            raise ValueError(
                f"No preset trains in under {MAX_HOURS:g} h on this machine ({hardware.description}; "
                f"{hardware.basis}): name one with --preset and pass --force, or shorten them with --max-steps N.")
    return plans


_ROWS_CACHE: dict[tuple[str, str], Dataset] = {}


def load_rows(objective: str, path: str) -> Dataset:
    """The training data of a local file, read once per process (the plan counts its rows, training uses it)."""
    from simcse_st.data.training import load_training_data

    key = (objective, str(path))
    if key not in _ROWS_CACHE:
        _ROWS_CACHE[key] = load_training_data(objective, path)
    return _ROWS_CACHE[key]


def resolve_sources(plans: list[PresetPlan]) -> dict[str, str]:
    """The training file of each objective: the local one, or the Hub's copy (downloaded into the Hugging Face
    cache); and every model checked to be reachable, before anything is trained.

    Raises:
        ValueError: naming every file that could not be had and the flag that takes a local copy of it.
    """
    from huggingface_hub import hf_hub_download

    files: dict[str, str] = {}
    wanted: list[str] = []
    for objective in dict.fromkeys(plan.recipe.objective for plan in plans):
        local = next(plan.train_file for plan in plans if plan.recipe.objective == objective)
        try:
            files[objective] = local or hf_hub_download(HUB_DATASET, TRAIN_FILES[objective], repo_type="dataset")
        except Exception:  # offline or unreachable: every missing piece is named at once below
            wanted.append(f"{FILE_FLAGS[objective]} PATH (a local {TRAIN_FILES[objective]}; at CPU scale "
                          f"ROOT/{CPU_SCALE_DATA[objective]})")
    wanted += [f"--model PATH (a local copy of {name})"
               for name in sorted({plan.model for plan in plans if not _model_reachable(plan.model)})]
    if wanted:
        raise ValueError(f"Without the Hub ({HUB_DATASET} and the paper's checkpoints), pass local copies: "
                         + "; ".join(wanted) + "; ROOT is the data root (--data-dir).")
    return files


def _model_reachable(model: str) -> bool:
    if Path(model).is_dir():
        return True
    from huggingface_hub import hf_hub_download

    try:
        hf_hub_download(model, "config.json")
    except Exception:  # offline, unreachable or unknown: the caller names the flag
        return False
    return True


def read_results(output_dir: Path) -> dict[str, Any]:
    """The results of an earlier run into ``output_dir`` (``{"presets": {}}`` when there is none).

    Raises:
        ValueError: when ``reproduction.json`` there was not written by this package.
    """
    path = output_dir / RESULTS_JSON
    if not path.exists():
        return {"format": RESULTS_FORMAT, "presets": {}}
    try:
        results = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        results = None
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} was not written by simcse-st reproduce: choose another --output-dir.")
    return results


def results_table(results: dict[str, Any]) -> str:
    """The Markdown table: for each preset done, the paper's row and the reproduced one (Spearman x100)."""
    from simcse_st.evaluation.sts import comparison_table

    rows: dict[str, dict[str, float | None]] = {}
    for name, entry in results["presets"].items():
        rows[f"{name} (paper)"] = entry["paper"]
        rows[f"{name} (reproduced)"] = entry["reproduced"]
    return comparison_table(rows)


def is_main_process() -> bool:
    """Whether this is the first (or only) process of the run: the one that writes the results."""
    return int(os.environ.get("RANK", "0")) == 0


def write_results(output_dir: Path, results: dict[str, Any]) -> None:
    """``reproduction.json`` and ``reproduction.md`` (the table, the hardware and each run's settings)."""
    from simcse_st._files import write_json_atomically

    write_json_atomically(output_dir / RESULTS_JSON, results)
    notes = [f"- {name}: {entry['model']} on {entry['training_data']}, {entry['steps']:,} steps, batch "
             f"{entry['batch_size']}, best STS-B dev {_score(entry['best_dev_score'])} -> {entry['output_dir']}"
             for name, entry in results["presets"].items()]
    text = "\n".join(["# SimCSE: the paper's STS table and this reproduction", "",
                      "Spearman x100 of cosine similarity on the seven STS test sets (the paper's protocol; "
                      "the paper's rows are its Table 5).", "", results_table(results), "",
                      f"Hardware: {results['hardware']}.", "", *notes, ""])
    temporary = output_dir / (RESULTS_MARKDOWN + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, output_dir / RESULTS_MARKDOWN)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def reproduce_preset(
    plan: PresetPlan, train_file: str, output_dir: Path, *, data_dir: str | os.PathLike[str] | None = None,
    max_steps: int | None = None, seed: int = 42,
) -> dict[str, Any]:
    """Train one preset (resuming its checkpoints, if any), score the kept model on the seven STS test sets, and
    return its results entry."""
    from simcse_st.training import has_checkpoint, train_simcse

    folder = output_dir / plan.recipe.name
    dataset = load_rows(plan.recipe.objective, train_file)
    result = train_simcse(
        plan.model, dataset, folder, plan.recipe, data_dir=data_dir, data_name=plan.data_name, max_steps=max_steps,
        seed=seed, resume=has_checkpoint(folder),
    )
    if result.test_scores is None and is_main_process():  # the other processes of a torchrun do not score
        raise ValueError("The STS test sets were not found under the data root: pass --data-dir ROOT.")
    return {
        "paper": paper_row(plan.recipe.name), "reproduced": result.test_scores, "model": plan.model,
        "training_data": plan.data_name, "steps": result.global_step, "batch_size": plan.recipe.batch_size,
        "best_dev_score": result.best_dev_score, "output_dir": str(folder),
    }
