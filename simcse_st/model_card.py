"""What training knew, kept in a saved model's card (``README.md``) where sentence-transformers and the Hub read it.

sentence-transformers writes the card's YAML metadata (``base_model``, ``datasets``, ``license``, ``language``,
``tags``) from the model's ``model_card_data``; :func:`describe_training` fills those before training. What the
Hub has no field for (the SimCSE recipe, the training data, the checkpoint-selection split, the date, the name)
goes into one extra metadata entry, ``simcse:`` (:class:`TrainingRecord`), written after the model is saved by
:func:`write_training_record` and read back by :func:`read_card`. :func:`add_mteb_scores` adds an MTEB run's
scores as a section of the card. This module owns those two additions to sentence-transformers' card.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simcse_st.hub import hub_model

if TYPE_CHECKING:
    from mteb.models.model_meta import ModelMeta
    from sentence_transformers import SentenceTransformer

    from simcse_st.recipes import Recipe

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
RECORD_KEY = "simcse"
"""The card metadata entry holding the :class:`TrainingRecord`."""
_MTEB_SECTION_START, _MTEB_SECTION_END = "<!-- simcse-st mteb scores -->", "<!-- end of simcse-st mteb scores -->"
_PLOT_SECTION_START, _PLOT_SECTION_END = "<!-- simcse-st training plot -->", "<!-- end of simcse-st training plot -->"
SIMCSE_CITATION = """@inproceedings{gao2021simcse,
  title = {{SimCSE}: Simple Contrastive Learning of Sentence Embeddings},
  author = {Gao, Tianyu and Yao, Xingcheng and Chen, Danqi},
  booktitle = {Empirical Methods in Natural Language Processing (EMNLP)},
  year = {2021},
}"""


@dataclass(frozen=True)
class TrainingRecord:
    """How a SimCSE model was trained, as recorded in its card's ``simcse:`` metadata entry.

    Attributes:
        objective: ``"unsup"`` or ``"sup"``.
        recipe: the recipe's name (:mod:`simcse_st.recipes`).
        base_model: the Hub name of the encoder training started from (see :func:`base_model_name`); None when
            it could not be found.
        training_data: the training data's name (a file name or a Hub dataset).
        selection: our names of the STS dev tasks the checkpoint was chosen on (``["STSBenchmark"]`` by
            default); empty when no checkpoint was chosen.
        date: the day training ended, ``YYYY-MM-DD``.
        name: the model's ``ORG/NAME`` for MTEB and the Hub, if given at training.
        precision: the training precision, ``fp32``, ``fp16`` or ``bf16`` (:mod:`simcse_st.precision`).
        training_data_url: where the training data is public (``--training-data-url``), if given.
    """

    objective: str
    recipe: str
    base_model: str | None
    training_data: str
    selection: tuple[str, ...]
    date: str
    name: str | None = None
    precision: str | None = None
    training_data_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The YAML entry (lists, no empty values)."""
        data = asdict(self) | {"selection": list(self.selection)}
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRecord:
        """Read the YAML entry back (unknown keys are ignored; a base model :meth:`to_dict` left out is None)."""
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        return cls(**{"base_model": None} | values | {"selection": tuple(values.get("selection") or ())})


@dataclass(frozen=True)
class CardInfo:
    """The parts of a saved model's card that MTEB's metadata is filled from (None or empty when absent)."""

    license: str | None = None
    languages: tuple[str, ...] = ()
    base_model: str | None = None
    datasets: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    record: TrainingRecord | None = None


def describe_training(
    model: SentenceTransformer,
    record: TrainingRecord,
    license: str | None = None,
    languages: list[str] | None = None,
) -> None:
    """Fill the card metadata sentence-transformers writes (model name, base model, training data, licence,
    languages, tags) before training; the record itself is written after saving (:func:`write_training_record`).

    The card's ``base_model`` (which the Hub links) is set only when the base is a Hub model (a name with
    ``ORG/``, or a folder of the Hugging Face cache); the record keeps the base's name either way.
    """
    kind = "unsupervised" if record.objective == "unsup" else "supervised"
    card = model.model_card_data
    card.model_name = f"SimCSE ({kind}, recipe {record.recipe}) trained on {record.training_data}"
    card.train_datasets = [{"name": record.training_data}]
    if record.base_model and "/" in record.base_model:
        card.base_model = record.base_model
    if record.name:
        card.model_id = record.name
    if license:
        card.license = license
    if languages:
        card.language = list(languages)
    card.add_tags(["simcse", f"simcse-recipe-{record.recipe}"])


def training_record(
    recipe: Recipe, model_name_or_path: str | os.PathLike[str], data_name: str, selection: tuple[str, ...],
    name: str | None = None,
    precision: str | None = None,
    base_model: str | None = None,
    training_data_url: str | None = None,
) -> TrainingRecord:
    """What the saved model's card records of this run (see :mod:`simcse_st.model_card`); dated today (UTC).
    ``base_model`` (``--base-model``) overrides the base's name found by :func:`base_model_name`."""
    return TrainingRecord(
        objective=recipe.objective,
        recipe=recipe.name,
        base_model=base_model or base_model_name(model_name_or_path),
        training_data=data_name,
        selection=selection,
        date=datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        name=name,
        precision=precision,
        training_data_url=training_data_url,
    )


def base_model_name(model_name_or_path: str | os.PathLike[str]) -> str | None:
    """The Hub name of the model training starts from, for MTEB's ``adapted_from``: the Hub name itself (or that of
    a folder of the Hugging Face cache); for another local folder, the name its card records (a model
    ``simcse-st train --name`` trained), else, for a plain transformers checkpoint (no ``modules.json``), the
    ``_name_or_path`` of its ``config.json`` when that is a Hub name (what ``save_pretrained`` of a downloaded model
    keeps; logged). A sentence-transformers folder's ``config.json`` names the encoder it was first trained from
    (all-MiniLM-L6-v2's names nreimers/MiniLM-L6-H384-uncased), not itself, so it is not read. None, with a warning
    to pass ``--base-model NAME``, when none is found."""
    from simcse_st.hub import is_repo_id

    hub = hub_model(model_name_or_path)
    if hub is not None:
        return hub.name
    folder = Path(model_name_or_path)
    record = read_card(folder).record
    if record is not None and record.name:
        return record.name
    config = folder / "config.json"
    plain = config.is_file() and not (folder / "modules.json").exists()
    recorded = json.loads(config.read_text(encoding="utf-8")).get("_name_or_path") if plain else None
    if isinstance(recorded, str) and is_repo_id(recorded) and not Path(recorded).expanduser().exists():
        logger.warning("Recording %s's base model as %s, the name its config.json keeps; pass --base-model NAME "
                       "if the folder holds another model.", folder, recorded)
        return recorded
    logger.warning("%s names no Hub model (no card record, no Hub name in config.json): its base model is not "
                   "recorded, so MTEB cannot read what the base was trained on (adapted_from); pass --base-model NAME.",
                   folder)
    return None


def write_training_record(folder: str | os.PathLike[str], record: TrainingRecord) -> None:
    """Add ``record`` as the ``simcse:`` entry of the card metadata of the model saved in ``folder``."""
    from huggingface_hub import ModelCard

    path = Path(folder) / CARD_FILE
    card = ModelCard.load(path)
    setattr(card.data, RECORD_KEY, record.to_dict())
    card.save(path)


def read_card(folder: str | os.PathLike[str]) -> CardInfo:
    """The card metadata of the model in ``folder``; an empty :class:`CardInfo` when it has no card."""
    from huggingface_hub import ModelCard

    path = Path(folder) / CARD_FILE
    if not path.is_file():
        return CardInfo()
    data = ModelCard.load(path).data.to_dict()
    record = data.get(RECORD_KEY)
    return CardInfo(
        license=data.get("license"),
        languages=tuple(_as_list(data.get("language"))),
        base_model=(_as_list(data.get("base_model")) or [None])[0],
        datasets=tuple(_as_list(data.get("datasets"))),
        tags=tuple(_as_list(data.get("tags"))),
        record=TrainingRecord.from_dict(record) if isinstance(record, dict) else None,
    )


def _as_list(value: object) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def add_mteb_scores(
    folder: str | os.PathLike[str], meta: ModelMeta, scores: dict[str, float], benchmark: str | None = None
) -> Path:
    """Put the scores of an MTEB run in the card of the model in ``folder``: a section with one row per task
    (main score x100) and the ``mteb`` tag. A later run's section replaces an earlier one.

    (MTEB's own helper, ``ModelMeta.push_model_card_to_hub``, builds its table with pandas' ``to_markdown``,
    which needs the optional ``tabulate`` package, and only for tasks of MTEB's registry.)

    Args:
        folder: the local model folder.
        meta: the run's ``mteb.ModelMeta`` (its name and revision head the table).
        scores: the run's ``{task: main score x100, ..., "avg": mean}``.
        benchmark: the MTEB benchmark the run was, if any.

    Returns:
        The card's path.
    """
    from huggingface_hub import ModelCard

    path = Path(folder) / CARD_FILE
    card = ModelCard.load(path) if path.is_file() else ModelCard("---\n---\n")
    rows = [f"| {task} | {score:.2f} |" for task, score in scores.items() if task != "avg"]
    section = "\n".join([
        _MTEB_SECTION_START, "## MTEB results", "",
        f"`{meta.name}` at revision `{meta.revision}`{f' on {benchmark}' if benchmark else ''}, main score x100 "
        "(cosine Spearman for STS), as `simcse-st mteb` wrote them in MTEB's results layout:", "",
        "| Task | Score |", "| --- | ---: |", *rows, f"| **Average** | {scores['avg']:.2f} |", _MTEB_SECTION_END,
    ])
    _put_section(card, _MTEB_SECTION_START, _MTEB_SECTION_END, section)
    tags = list(card.data.tags or [])
    card.data.tags = tags if "mteb" in tags else [*tags, "mteb"]
    card.save(path)
    return path


def _put_section(card: Any, start: str, end: str, section: str) -> None:
    """Put ``section`` (which opens with ``start`` and closes with ``end``) in place of the card's earlier one, or at
    its end."""
    before, _, rest = card.text.partition(start)
    after = rest.partition(end)[2].lstrip("\n")
    card.text = before.rstrip("\n") + "\n\n" + section + "\n" + ("\n" + after if after else "")


def add_training_plot(folder: str | os.PathLike[str], image: str) -> bool:
    """Show the training plot ``image`` (a file name in ``folder``, see :mod:`simcse_st.training_plot`) in the card
    of the model ``simcse-st train`` saved in ``folder``; a later plot's section replaces an earlier one.

    Returns:
        Whether the card was changed: False when ``folder`` holds no card with this package's training record
        (a card it did not write is left as it is).
    """
    from huggingface_hub import ModelCard

    path = Path(folder) / CARD_FILE
    if read_card(folder).record is None:
        return False
    card = ModelCard.load(path)
    section = "\n".join([
        _PLOT_SECTION_START, "## Training curves", "",
        f"![Training loss, STS dev score and alignment/uniformity]({image})",
        "", "The training loss and the STS dev score by step (the kept checkpoint starred), and the alignment and "
        "uniformity of the embeddings on STS-B dev at each evaluation (lower is better for both; arrows follow "
        "training), as in the SimCSE paper's Figure 2. Drawn from this run's log history (`simcse-st report`).",
        _PLOT_SECTION_END,
    ])
    _put_section(card, _PLOT_SECTION_START, _PLOT_SECTION_END, section)
    card.save(path)
    return True
