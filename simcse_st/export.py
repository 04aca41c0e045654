"""Exporting a model to OpenVINO, optionally quantized to int8, and measuring what that cost.

:func:`export_model` loads the PyTorch model, exports it with sentence-transformers' ``backend="openvino"`` and
``save_pretrained``, and for a quantized export adds one OpenVINO file made by optimum-intel's ``OVQuantizer``
(nncf):

- ``int8-static``: weights and activations in int8, calibrated on sample sentences (``OVQuantizationConfig``; the
  file name of sentence-transformers' ``export_static_quantized_openvino_model``). Calibration tokenizes at the
  model's training length (the recipe's, 32 tokens for SimCSE), padded to the longest calibration sentence, not
  at sentence-transformers' fixed 384;
- ``int8-weights``: int8 weights, float activations, no calibration (``OVWeightQuantizationConfig(bits=8)``).

It then compares the export with the PyTorch model (cosine over held-out sentences, STS-B dev before and after)
and records that in the folder, whose layout :mod:`simcse_st.exported` owns. The folder is written beside the
target and swapped in (:func:`simcse_st.index.storage.replaced_directory`), so an interrupted export leaves the old
folder or none; a ``--out`` that is not empty and not an export is refused.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simcse_st._files import write_json_atomically
from simcse_st.exported import (
    EXPORT_FILE,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    QUANTIZATIONS,
    QUANTIZED_FILES,
    check_export_replaceable,
    holds_export,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

HELD_OUT_SENTENCES = 256
"""Sentences, distinct from the calibration sample, on which the export's cosine to the PyTorch model is measured."""
WIKI_SAMPLE = "wiki/wiki1m_sample.txt"


@dataclass
class ExportReport:
    """What ``simcse-st export`` wrote and what quantization cost (stored in :data:`EXPORT_FILE`).

    Attributes:
        source: the exported model's name or absolute path.
        source_fingerprint: :func:`simcse_st.fingerprint.model_fingerprint` of the PyTorch model.
        quantization: one of :data:`QUANTIZATIONS`.
        file: the OpenVINO file to run, relative to the folder.
        calibration: where the calibration sentences came from, how many, and the token length (static only).
        cosine: mean and minimum cosine between the export's and the PyTorch model's embeddings of held-out
            sentences, and how many (empty when no sentences were available).
        stsb_dev: STS-B dev Spearman x100 of the PyTorch model and of the export (empty without the data).
    """

    source: str
    source_fingerprint: str
    quantization: str
    file: str
    calibration: dict[str, Any] = field(default_factory=dict)
    cosine: dict[str, Any] = field(default_factory=dict)
    stsb_dev: dict[str, float] = field(default_factory=dict)


def check_quantization(quantization: str) -> None:
    """Raise a ValueError unless ``quantization`` is one of :data:`QUANTIZATIONS`."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantization!r}: choose one of {', '.join(QUANTIZATIONS)}.")


def calibration_sentences(
    calibration: str | os.PathLike[str] | None, size: int, data_dir: str | os.PathLike[str] | None = None,
) -> tuple[list[str], list[str], str]:
    """The calibration sample, held-out sentences to compare embeddings on, and where they came from.

    Args:
        calibration: a UTF-8 file, one sentence a line; None: the data root's Wikipedia sample.
        size: calibration sentences, drawn at random (seed 0) from the file; the held-out ones are drawn from the
            rest (up to :data:`HELD_OUT_SENTENCES`).
        data_dir: the data root for the default sample (default: ``$SIMCSE_DATA_DIR``).

    Raises:
        ValueError: for a size below 1, an empty or non-UTF-8 file, or no file and no data root.
    """
    from simcse_st.data.paths import DataNotFoundError, data_path
    from simcse_st.data.text import read_sentences

    if size < 1:
        raise ValueError(f"--calibration-size must be a positive number of sentences, got {size}.")
    if calibration is None:
        try:
            calibration = data_path(WIKI_SAMPLE, data_dir)
        except DataNotFoundError as error:
            raise ValueError(f"No calibration sentences: pass --calibration FILE (one sentence a line) ({error})") \
                from None
    sentences = list(dict.fromkeys(read_sentences(calibration, what="calibration")))
    random.Random(0).shuffle(sentences)
    return sentences[:size], sentences[size:size + HELD_OUT_SENTENCES], str(calibration)


def calibration_length(model: SentenceTransformer, source: str) -> int:
    """The token length to calibrate at: the training length of the recipe a SimCSE model's card records (32
    for the paper's), else the model's own ``max_seq_length``."""
    from simcse_st.model_card import read_card
    from simcse_st.recipes import Recipe, get_recipe

    record = read_card(source).record if os.path.isdir(source) else None
    if record is None:
        return int(model.max_seq_length)
    try:
        length = get_recipe(record.recipe).max_seq_length
    except ValueError:  # a custom recipe: the recipes' default length
        length = Recipe.__dataclass_fields__["max_seq_length"].default
    return min(int(length), int(model.max_seq_length))


def export_model(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    quantization: str = "none",
    calibration: str | os.PathLike[str] | None = None,
    calibration_size: int = 300,
    data_dir: str | os.PathLike[str] | None = None,
) -> ExportReport:
    """Export ``model`` to OpenVINO in ``out``, optionally quantized, and measure what that cost.

    Args:
        model: a sentence-transformers model (local folder or Hub name) in PyTorch.
        out: the folder to write (missing, empty, or an earlier export, which is replaced).
        quantization: ``"none"`` (float32), ``"int8-weights"`` or ``"int8-static"``.
        calibration: sentences for ``int8-static`` and for the held-out comparison (default: the data root's
            Wikipedia sample).
        calibration_size: calibration sentences (nncf's ``subset_size``).
        data_dir: the data root, for the default sample and the STS-B dev scores.

    Returns:
        The report also written to ``out``'s :data:`EXPORT_FILE`.

    Raises:
        ValueError: for an unknown quantization, a bad calibration file, an ``out`` this package did not write,
            a missing ``[openvino]`` extra, or a model that is not a PyTorch sentence-transformers model.
    """
    from simcse_st.embedding import check_cpu_supports, check_openvino, load_encoder, model_name_of
    from simcse_st.fingerprint import model_fingerprint
    from simcse_st.index.storage import replaced_directory

    check_quantization(quantization)
    check_openvino()
    if quantization == "int8-static":
        check_cpu_supports("INT8")
    target = Path(out)
    check_export_replaceable(target)
    source = model_name_of(model) or os.fspath(model)
    if os.path.isdir(source) and Path(source).resolve() == target.resolve():
        raise ValueError("--out must differ from MODEL: the export would replace the model it reads.")
    calibration_sample, held_out, calibration_source = [], [], None
    if quantization == "int8-static" or calibration is not None or _has_data(data_dir):
        calibration_sample, held_out, calibration_source = calibration_sentences(calibration, calibration_size,
                                                                                 data_dir)
    torch_model = load_encoder(source, runtime="torch")
    file = QUANTIZED_FILES[quantization]
    report = ExportReport(source=source, source_fingerprint=model_fingerprint(torch_model), quantization=quantization,
                          file=file)
    with replaced_directory(target, check=check_export_replaceable, is_complete=holds_export) as folder:
        ov_model = load_encoder(source, runtime="openvino")
        ov_model.save_pretrained(str(folder))
        if quantization != "none":
            length = calibration_length(torch_model, source)
            if quantization == "int8-static":
                report.calibration = {"source": calibration_source, "sentences": len(calibration_sample),
                                      "max_length": length}
            _quantize(ov_model, folder / file, quantization, calibration_sample, length)
        exported = load_encoder(folder, runtime_file=file)
        report.cosine = _cosine_report(torch_model, exported, held_out)
        report.stsb_dev = _stsb_dev(torch_model, exported, data_dir)
        write_json_atomically(folder / EXPORT_FILE, {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
                                                     **asdict(report)})
    return report


def _has_data(data_dir: str | os.PathLike[str] | None) -> bool:
    from simcse_st.data.paths import DataNotFoundError, data_path

    try:
        return data_path(WIKI_SAMPLE, data_dir).is_file()
    except DataNotFoundError:
        return False


def _quantize(ov_model: SentenceTransformer, destination: Path, quantization: str, sentences: Sequence[str],
              length: int) -> None:
    """Quantize the OpenVINO graph of ``ov_model`` with optimum-intel (nncf) and save it as ``destination``
    (its ``.xml`` and ``.bin``)."""
    from optimum.intel import OVConfig, OVQuantizationConfig, OVQuantizer, OVWeightQuantizationConfig

    quantizer = OVQuantizer.from_pretrained(ov_model.transformers_model)
    if quantization == "int8-weights":
        config, dataset = OVWeightQuantizationConfig(bits=8), None
    else:
        config, dataset = OVQuantizationConfig(num_samples=len(sentences)), _calibration_dataset(ov_model, sentences,
                                                                                                   length)
    with tempfile.TemporaryDirectory(dir=destination.parent.parent) as scratch:
        quantizer.quantize(calibration_dataset=dataset, save_directory=scratch, ov_config=OVConfig(
            quantization_config=config))
        saved = next(Path(scratch).rglob("openvino_model.xml"))
        shutil.move(saved, destination)
        shutil.move(saved.with_suffix(".bin"), destination.with_suffix(".bin"))


def _calibration_dataset(model: SentenceTransformer, sentences: Sequence[str], length: int) -> Any:
    """The calibration inputs: ``sentences`` tokenized at most ``length`` tokens, padded to the longest."""
    from datasets import Dataset

    longest = max(len(ids) for ids in model.tokenizer(list(sentences), truncation=True, max_length=length)["input_ids"])
    encoded = model.tokenizer(list(sentences), padding="max_length", truncation=True, max_length=longest)
    return Dataset.from_dict(dict(encoded))


def _cosine_report(reference: SentenceTransformer, exported: SentenceTransformer,
                   sentences: Sequence[str]) -> dict[str, Any]:
    """Mean and minimum cosine between the two models' embeddings of ``sentences`` (empty when there are none)."""
    from simcse_st.embedding import encode_sentences

    if not sentences:
        return {}
    cosines = np.sum(encode_sentences(reference, sentences, show_progress_bar=False)
                     * encode_sentences(exported, sentences, show_progress_bar=False), axis=1)
    return {"mean": round(float(cosines.mean()), 6), "min": round(float(cosines.min()), 6),
            "sentences": len(sentences)}


def _stsb_dev(reference: SentenceTransformer, exported: SentenceTransformer,
              data_dir: str | os.PathLike[str] | None) -> dict[str, float]:
    """STS-B dev Spearman x100 of both models; empty when the data root does not hold STS-B."""
    from simcse_st.data.paths import DataNotFoundError
    from simcse_st.evaluation.sts import SentEvalSTSEvaluator

    try:
        evaluator = SentEvalSTSEvaluator(data_dir=data_dir, tasks=["STSBenchmark"], split="dev", name="",
                                         show_progress_bar=False)
    except (DataNotFoundError, FileNotFoundError):
        return {}
    return {"torch": round(evaluator(reference)["STSBenchmark"], 2),
            "export": round(evaluator(exported)["STSBenchmark"], 2)}
