"""MTEB's ``ModelMeta`` of a model, filled from what training recorded in its card and from the model itself."""

from __future__ import annotations

import datetime
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simcse_st.data.sts import MTEB_HUB_TASKS
from simcse_st.hub import hub_model, model_folder
from simcse_st.model_card import SIMCSE_CITATION, SIMCSE_REFERENCE, CardInfo, read_card

if TYPE_CHECKING:
    from mteb.models.model_meta import ModelMeta
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

PUBLIC_TRAINING_CODE = "https://github.com/princeton-nlp/SimCSE"
"""The public code of the SimCSE recipes (the official implementation, which ``simcse-st train`` reproduces)."""
PUBLIC_TRAINING_DATA: dict[str, str] = {
    "wiki1m_for_simcse.txt": "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse",
    "wiki1m_sample.txt": "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse",
    "nli_for_simcse.csv": "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse",
    "snli": "https://huggingface.co/datasets/stanfordnlp/snli",
    "multi_nli": "https://huggingface.co/datasets/nyu-mll/multi_nli",
}
"""Where the training data the recipes use is public, by the name training records."""
CARD_LANGUAGES = {"en": "eng-Latn"}
"""MTEB's language code (ISO 639-3 and script) of the model-card language codes read without --languages."""
DEFAULT_LANGUAGES = ("eng-Latn",)
_ORG_NAME = re.compile(r"^[^/\s]+/[^/\s]+$")


@dataclass(frozen=True)
class MetaOptions:
    """What the user gave on the command line; None takes the default (see :func:`build_model_meta`).
    ``require_license=False`` lets a run whose results are not written go without a licence."""

    name: str | None = None
    revision: str | None = None
    license: str | None = None
    languages: tuple[str, ...] | None = None
    require_license: bool = True


def check_model_name(name: str) -> str:
    """Return ``name`` if it is ``ORG/NAME``.

    Raises:
        ValueError: otherwise, with an example.
    """
    if not _ORG_NAME.match(name):
        raise ValueError(f"The model name {name!r} must be ORG/NAME (for example my-org/simcse-bert-base), as MTEB's "
                         "registry and results repository name models: pass --name ORG/NAME.")
    return name


def build_model_meta(
    model: SentenceTransformer, source: str | os.PathLike[str], options: MetaOptions = MetaOptions()
) -> ModelMeta:
    """The ``ModelMeta`` of ``model``, loaded from ``source`` (a local folder or a Hub name).

    - name: ``options.name``, else the name recorded at training, else the Hub name, else ``local/<folder>``
      (with a warning);
    - revision: ``options.revision``, else the Hub commit, else :func:`simcse_st.fingerprint.short_fingerprint`;
    - release date, training data, base model, MTEB training tasks: from the training record (the STS-B task when
      its dev split chose the checkpoint), else the date of the model's files;
    - licence and languages: the options, else the card (languages default to ``eng-Latn``);
    - parameters, memory, length, dimension, similarity (cosine): from the model;
    - reference and citation: the SimCSE paper for a model ``simcse-st train`` recorded, else the Hub page.

    Raises:
        ValueError: for a name without ``ORG/``, a card language MTEB cannot name, or no licence for the model
            (open weights need one).
    """
    from mteb.models.model_meta import ModelMeta, ScoringFunction
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    folder = model_folder(source)
    card = read_card(folder) if folder is not None else CardInfo()
    record = card.record
    meta = ModelMeta(
        loader=SentenceTransformerEncoderWrapper,
        name=model_name(source, card, options.name),
        revision=model_revision(model, source, options.revision),
        release_date=record.date if record else _files_date(source),
        languages=model_languages(card, options.languages),
        n_parameters=sum(parameter.numel() for parameter in model.parameters()),
        n_embedding_parameters=_embedding_parameters(model),
        memory_usage_mb=None,
        max_tokens=model.max_seq_length,
        embed_dim=model.get_embedding_dimension(),
        license=model_license(source, card, options.license, options.require_license),
        open_weights=True,
        public_training_code=PUBLIC_TRAINING_CODE if record else None,
        public_training_data=PUBLIC_TRAINING_DATA.get(record.training_data) if record else None,
        framework=["Sentence Transformers", "PyTorch"],
        reference=SIMCSE_REFERENCE if record else _hub_page(source),
        similarity_fn_name=ScoringFunction.from_str(model.similarity_fn_name or "cosine"),
        use_instructions=False,
        training_datasets=_training_tasks(card),
        adapted_from=record.base_model if record else card.base_model,
        citation=SIMCSE_CITATION if record else None,
    )
    return meta.model_copy(update={"memory_usage_mb": meta.calculate_memory_usage_mb()})


def model_name(source: str | os.PathLike[str], card: CardInfo, name: str | None) -> str:
    """The name results are filed under (see :func:`build_model_meta`)."""
    if name is not None:
        return check_model_name(name)
    if card.record and card.record.name:
        return check_model_name(card.record.name)
    hub = hub_model(source)
    if hub is not None and _ORG_NAME.match(hub.name):
        return hub.name
    fallback = f"local/{Path(str(source)).name}"
    logger.warning("%s records no ORG/NAME: its results are filed under %s; pass --name ORG/NAME for a name MTEB's "
                   "registry and leaderboard can take.", source, fallback)
    return fallback


def model_revision(model: SentenceTransformer, source: str | os.PathLike[str], revision: str | None) -> str:
    """``revision``, else the Hub commit of ``source``, else a short hash of the model's weights and configuration."""
    from simcse_st.fingerprint import short_fingerprint

    if revision:
        return revision
    hub = hub_model(source)
    if hub is not None and hub.commit:
        return hub.commit
    return short_fingerprint(model)


def model_languages(card: CardInfo, languages: tuple[str, ...] | None) -> list[str]:
    """``languages``, else the card's (``en`` read as ``eng-Latn``), else ``eng-Latn``.

    Raises:
        ValueError: for a card language MTEB has no code for here.
    """
    if languages:
        return list(languages)
    unknown = [code for code in card.languages if code not in CARD_LANGUAGES and "-" not in code]
    if unknown:
        raise ValueError(f"The model card's language {unknown[0]!r} has no MTEB code here: pass --languages with "
                         "ISO 639-3 and script codes, for example --languages eng-Latn deu-Latn.")
    return [CARD_LANGUAGES.get(code, code) for code in card.languages] or list(DEFAULT_LANGUAGES)


def model_license(
    source: str | os.PathLike[str], card: CardInfo, license: str | None, required: bool = True
) -> str | None:
    """``license``, else the card's.

    Raises:
        ValueError: when neither gives one and it is ``required`` (MTEB requires a licence for a model with open
            weights).
    """
    found = license or card.license
    if not found and required:
        raise ValueError(f"The model {source} records no licence and --license was not given; MTEB requires one "
                         "for a model with open weights: pass --license (for example --license apache-2.0, or the "
                         "base model's licence).")
    return found


def _training_tasks(card: CardInfo) -> set[str] | None:
    """MTEB's tasks whose data training used: the STS dev tasks that chose the checkpoint."""
    if card.record is None:
        return None
    return {MTEB_HUB_TASKS[task] for task in card.record.selection}


def _embedding_parameters(model: SentenceTransformer) -> int | None:
    encoder = getattr(model[0], "auto_model", None)
    if not hasattr(encoder, "get_input_embeddings"):  # none, or an OpenVINO graph (no PyTorch modules to count)
        return None
    return encoder.get_input_embeddings().weight.numel()


def _hub_page(source: str | os.PathLike[str]) -> str | None:
    hub = hub_model(source)
    return f"https://huggingface.co/{hub.name}" if hub is not None else None


def _files_date(source: str | os.PathLike[str]) -> str | None:
    folder = model_folder(source)
    if folder is None:
        return None
    modified = max(path.stat().st_mtime for path in folder.iterdir())
    return datetime.datetime.fromtimestamp(modified, tz=datetime.timezone.utc).date().isoformat()
