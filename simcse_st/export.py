"""Exporting a model to OpenVINO, optionally quantized to int8: the one owner of the exported folder's format.

An exported folder is a sentence-transformers model folder as ``SentenceTransformer(...).save_pretrained`` writes
it for ``backend="openvino"`` (``modules.json``, the tokenizer, pooling and dense modules, and
``openvino/openvino_model.xml`` with its ``.bin``: the float32 graph), plus, for a quantized export, one more
OpenVINO file in ``openvino/``:

- ``int8-static`` (:data:`QUANTIZED_FILES`): weights and activations in int8, calibrated by nncf on sample
  sentences (optimum-intel's ``OVQuantizer`` with ``OVQuantizationConfig``, the file name of sentence-transformers'
  ``export_static_quantized_openvino_model``);
- ``int8-weights``: int8 weights, float activations, no calibration (``OVWeightQuantizationConfig(bits=8)``);

and :data:`EXPORT_FILE` (``simcse-st-export.json``): the format marker, the source model and its fingerprint, the
quantization and the file to run, the calibration sample, and what quantization cost (cosine to the PyTorch model
over held-out sentences, STS-B dev before and after). Plain sentence-transformers loads the folder without this
package: ``SentenceTransformer(DIR, backend="openvino", model_kwargs={"file_name": FILE})``
(:func:`load_line`). Calibration tokenizes at the model's training length (the recipe's, 32 tokens for SimCSE),
padded to the longest calibration sentence, not sentence-transformers' fixed 384.

A folder is written beside the target and swapped in (:func:`simcse_st.index.storage.replaced_directory`), so an
interrupted export leaves the old folder or none; a ``--out`` that is not empty and not an export is refused.
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

from simcse_st._files import read_json, write_json_atomically

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EXPORT_FORMAT = "simcse-st-export"
EXPORT_VERSION = 1
EXPORT_FILE = "simcse-st-export.json"
QUANTIZATIONS: tuple[str, ...] = ("none", "int8-weights", "int8-static")
OPENVINO_FILE = "openvino/openvino_model.xml"
QUANTIZED_FILES = {"none": OPENVINO_FILE, "int8-weights": "openvino/openvino_model_int8_weights.xml",
                   "int8-static": "openvino/openvino_model_qint8_quantized.xml"}
"""The OpenVINO file each quantization runs from, relative to the exported folder."""
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


def read_export(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The :data:`EXPORT_FILE` record of an exported folder, or None for anything else."""
    record = read_json(Path(folder) / EXPORT_FILE)
    if record is None or record.get("format") != EXPORT_FORMAT or not isinstance(record.get("version"), int):
        return None
    return record


def chosen_runtime_file(folder: str | os.PathLike[str]) -> str | None:
    """The OpenVINO file an exported folder runs by default (its quantization's), or None if it is no export."""
    record = read_export(folder) if os.path.isdir(folder) else None
    return None if record is None else record["file"]


def load_line(folder: str | os.PathLike[str], file: str) -> str:
    """The Python line that loads the exported ``folder``'s ``file`` in plain sentence-transformers."""
    return (f"SentenceTransformer({str(Path(folder).resolve())!r}, backend='openvino', "
            f"model_kwargs={{'file_name': {file!r}}})")


def check_export_replaceable(target: Path) -> None:
    """Raise unless ``target`` is missing, an empty folder, or a folder ``simcse-st export`` wrote.

    Raises:
        ValueError: naming what is there; nothing is written.
    """
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise ValueError(f"--out {target} exists and is not a folder: give a new or empty folder.")
    if any(target.iterdir()) and read_export(target) is None:
        raise ValueError(f"--out {target} is not empty and was not written by `simcse-st export` (no {EXPORT_FILE}): "
                         "exporting would replace it, so nothing was written. Give a new or empty folder.")


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
    with replaced_directory(target, check=check_export_replaceable, is_complete=_holds_export) as folder:
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


def _holds_export(folder: Path) -> bool:
    return read_export(folder) is not None


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
