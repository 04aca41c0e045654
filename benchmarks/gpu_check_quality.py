"""The correctness parts of benchmarks/gpu_check.py: the environment, each loss on the device against the CPU, the
CUDA-only tests, and a real ``simcse-st train`` run with checkpoint selection, an interruption and ``--resume``."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gpu_check_common import PRECISIONS, REPO_ROOT, Context, free_memory, training_model

# (|loss - CPU fp32 loss| / |CPU fp32 loss|, ||grad - CPU fp32 grad|| / ||CPU fp32 grad||) allowed per precision
TOLERANCES = {"fp32": (1e-4, 5e-3), "fp16": (1e-2, 5e-2), "bf16": (2e-2, 1e-1)}
# |dev score of the resumed run - the uninterrupted run's|, x100 Spearman: exact on a CPU, nondeterministic GPU
# kernels (atomic adds in the embedding backward) let two identical runs drift a little
RESUME_TOLERANCE = {"cpu": 1e-3, "cuda": 0.5}
# the saved model re-scored in fp32 against the score it was selected for (measured under the run's autocast)
RESCORE_TOLERANCE = {"fp32": 1e-3, "fp16": 0.5, "bf16": 0.5}


def part_env(ctx: Context) -> dict[str, Any]:
    """The device, driver, CUDA and library versions, and what ``--precision auto`` picks here."""
    import accelerate
    import sentence_transformers
    import torch
    import transformers

    from simcse_st.precision import cpu_supports_bf16, cuda_supports_bf16, resolve_precision

    info: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__, "accelerate": accelerate.__version__,
        "cpu": platform.processor() or platform.machine(), "cpu_bf16": cpu_supports_bf16(),
        "auto_precision": resolve_precision("auto"),
    }
    if ctx.device == "cuda":
        properties = torch.cuda.get_device_properties(0)
        info |= {
            "gpu": properties.name, "gpu_memory_gib": round(properties.total_memory / 2**30, 1),
            "compute_capability": f"{properties.major}.{properties.minor}", "gpu_bf16": cuda_supports_bf16(),
            "cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "driver": nvidia_driver(),
            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
        }
    rows = [(key, value, "") for key, value in info.items()]
    return {"info": info, "rows": rows}


def nvidia_driver() -> str | None:
    """The NVIDIA driver version, as nvidia-smi reports it (None without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return None
    result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def correctness_cases() -> dict[str, tuple[Callable[[Any], Any], int]]:
    """name -> (loss factory, text columns)."""
    from simcse_st import SimCSELoss, SupervisedSimCSELoss

    return {
        "unsup (MLP head)": (lambda model: SimCSELoss(model, mlp_head=True), 1),
        "unsup GradCache": (lambda model: SimCSELoss(model, mlp_head=True, mini_batch_size=4), 1),
        "unsup + MLM": (lambda model: SimCSELoss(model, mlp_head=True, mlm_weight=0.1), 1),
        "sup triplets, hard negative weight 1": (
            lambda model: SupervisedSimCSELoss(model, hard_negative_weight=1.0), 3
        ),
        "sup triplets GradCache": (lambda model: SupervisedSimCSELoss(model, mini_batch_size=4), 3),
    }


def loss_and_gradients(loss: Any, texts: list[list[str]], precision: str) -> tuple[float, Any]:
    """The loss and its gradients, flattened into one fp32 CPU vector; fp16 scaled by 1024 for the backward pass,
    as the trainer's gradient scaler does, so that small gradients do not underflow."""
    import torch
    from sentence_transformers.util import batch_to_device

    model = loss.model
    features = [batch_to_device(model.preprocess(column), model.device) for column in texts]
    torch.manual_seed(0)  # the same MLM masks on every device (they are drawn on the CPU)
    value = loss(features, None)
    scale = 1024.0 if precision == "fp16" else 1.0
    (value * scale).backward()
    parameters = [parameter for parameter in loss.parameters() if parameter.requires_grad]
    gradients = torch.cat([
        (parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)).float().flatten().cpu()
        for parameter in parameters
    ]) / scale
    loss.zero_grad(set_to_none=True)
    return value.item(), gradients


def part_correctness(ctx: Context) -> dict[str, Any]:
    """Each loss on the device against the CPU in fp32: same weights, same inputs, dropout off."""
    import torch

    from simcse_st.precision import autocast_dtype

    sentences = ctx.sentences(3 * ctx.sizes.correctness_batch)[0]
    size = ctx.sizes.correctness_batch
    rows, verdicts, values = [], {}, {}
    for case, (make_loss, columns) in correctness_cases().items():
        texts = [sentences[size * i : size * (i + 1)] for i in range(columns)]
        torch.manual_seed(0)
        reference_loss = make_loss(training_model(ctx.quality_model(), "cpu", "fp32", dropout=0.0))
        reference, reference_grads = loss_and_gradients(reference_loss, texts, "fp32")
        for precision in PRECISIONS:
            reason = ctx.supported(precision)
            if reason:
                rows.append((f"{case}, {precision}", "skipped", reason))
                continue
            loss = copy.deepcopy(reference_loss).to(ctx.device)
            dtype = autocast_dtype(precision)
            if dtype is not None:
                loss.model.forward = torch.autocast(device_type=ctx.device, dtype=dtype)(loss.model.forward)
            value, gradients = loss_and_gradients(loss, texts, precision)
            loss_error = abs(value - reference) / abs(reference)
            grad_error = ((gradients - reference_grads).norm() / reference_grads.norm()).item()
            loss_tolerance, grad_tolerance = TOLERANCES[precision]
            verdicts[f"{case}, {precision}"] = loss_error <= loss_tolerance and grad_error <= grad_tolerance
            values[f"{case}, {precision}"] = {"loss": value, "cpu_fp32_loss": reference,
                                              "loss_rel_error": loss_error, "grad_rel_error": grad_error}
            rows.append((f"{case}, {precision}: loss / gradient relative error vs CPU fp32",
                         f"{loss_error:.1e} / {grad_error:.1e}",
                         f"tolerance {loss_tolerance:g} / {grad_tolerance:g}; loss {value:.4f} (CPU {reference:.4f})"))
            del loss
            free_memory()
    return {"values": values, "verdicts": verdicts, "rows": rows}


def part_cuda_tests(ctx: Context) -> dict[str, Any]:
    """The CUDA-only tests, run here by pytest in a child process."""
    if ctx.device != "cuda":
        return {"skipped": "the CUDA-only tests need CUDA"}
    test_file = "tests/losses/test_device_placement.py"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file],
                            cwd=REPO_ROOT, env=environment, capture_output=True, text=True, check=False)
    summary = (result.stdout.strip().splitlines() or ["no output"])[-1]
    print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", flush=True)
    ok = result.returncode == 0 and "skipped" not in summary
    return {"summary": summary, "verdicts": {"device placement tests": ok}, "rows": [(test_file, summary, "")]}


@contextlib.contextmanager
def interrupted_at(step: int) -> Iterator[None]:
    """Trainers built meanwhile stop abruptly once ``step`` steps are done, before anything is saved at that step,
    as a kill would stop them."""
    from transformers import TrainerCallback

    import simcse_st.training as training

    class Interrupt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == step:
                raise KeyboardInterrupt(f"interrupted at step {step}")

    build_trainer = training.build_trainer

    def interrupting(*args: Any, **kwargs: Any) -> Any:
        trainer = build_trainer(*args, **kwargs)
        trainer.add_callback(Interrupt())
        return trainer

    training.build_trainer = interrupting
    try:
        yield
    finally:
        training.build_trainer = build_trainer


def dev_scores(run: Path) -> dict[int, float]:
    """STS-B dev score by step, from the trainer state of the run's last checkpoint."""
    from transformers.trainer_utils import get_last_checkpoint

    state = json.loads((Path(get_last_checkpoint(str(run))) / "trainer_state.json").read_text(encoding="utf-8"))
    return {entry["step"]: entry["eval_sts_dev_STSBenchmark"] for entry in state["log_history"]
            if "eval_sts_dev_STSBenchmark" in entry}


def part_real_run(ctx: Context) -> dict[str, Any]:
    """``simcse-st train`` for real: checkpoint selection, an interruption and ``--resume``, a plain reload."""
    from sentence_transformers import SentenceTransformer
    from transformers.trainer_utils import get_last_checkpoint

    from simcse_st.cli import main as simcse_st
    from simcse_st.data import data_path
    from simcse_st.evaluation import SentEvalSTSEvaluator
    from simcse_st.model_card import read_card
    from simcse_st.precision import resolve_precision

    sizes = ctx.sizes
    model = ctx.quality_model()
    dev_data_dir = ctx.dev_data_dir()
    runs = ctx.work_dir / "real-run"
    shutil.rmtree(runs, ignore_errors=True)
    command = ["train", "unsup", "--model", str(model), "--train-file", str(data_path("wiki/wiki1m_sample.txt",
               ctx.data_dir)), "--batch-size", str(sizes.real_batch), "--max-steps", str(sizes.real_steps),
               "--eval-steps", str(sizes.real_eval_steps), "--data-dir", dev_data_dir, "--precision", "auto",
               "--no-final-scores"]
    start = time.perf_counter()
    status = simcse_st([*command, "--output-dir", str(runs / "uninterrupted")])
    uninterrupted_seconds = time.perf_counter() - start
    with interrupted_at(sizes.real_interrupt), contextlib.suppress(KeyboardInterrupt):
        simcse_st([*command, "--output-dir", str(runs / "resumed")])
    resumed_from = Path(get_last_checkpoint(str(runs / "resumed"))).name
    status_resumed = simcse_st([*command, "--output-dir", str(runs / "resumed"), "--resume"])
    expected, resumed = dev_scores(runs / "uninterrupted"), dev_scores(runs / "resumed")
    after = [step for step in expected if step > sizes.real_interrupt]
    drift = max(abs(expected[step] - resumed.get(step, float("inf"))) for step in after)
    saved = runs / "uninterrupted"
    modules = json.loads((saved / "modules.json").read_text(encoding="utf-8"))
    plain = SentenceTransformer(str(saved), device=ctx.device)
    rescored = SentEvalSTSEvaluator(data_dir=dev_data_dir, tasks=["STSBenchmark"], split="dev", name="",
                                    show_progress_bar=False)(plain)["STSBenchmark"]
    best = max(expected.values())
    precision = resolve_precision("auto")
    card = read_card(saved).record
    verdicts = {
        "trained to the last step": status == 0 and max(expected) == sizes.real_steps,
        "resumed run reached the last step": status_resumed == 0 and max(resumed) == sizes.real_steps,
        "resumed run ends as the uninterrupted one": drift <= RESUME_TOLERANCE[ctx.device],
        "built-in modules only": all(module["type"].startswith("sentence_transformers.") for module in modules),
        "reloaded model scores what it was selected for": abs(rescored - best) <= RESCORE_TOLERANCE[precision],
        "card records the precision": card is not None and card.precision == precision,
    }
    rows = [
        ("STS-B dev by step (uninterrupted)", ", ".join(f"{step}: {score:.2f}" for step, score in expected.items()),
         f"{sizes.real_steps} steps of {sizes.real_batch}, precision {precision}, {uninterrupted_seconds:.0f} s"),
        (f"resumed from {resumed_from}: largest dev score difference after it", f"{drift:.3f}",
         f"tolerance {RESUME_TOLERANCE[ctx.device]}"),
        ("best dev score, re-scored after a plain reload", f"{best:.2f} / {rescored:.2f}",
         f"tolerance {RESCORE_TOLERANCE[precision]}"),
    ]
    values = {"dev_scores": expected, "resumed_dev_scores": resumed, "resumed_from": resumed_from,
              "rescored": rescored, "best": best, "precision": precision, "seconds": uninterrupted_seconds}
    return {"values": values, "verdicts": verdicts, "rows": rows}


