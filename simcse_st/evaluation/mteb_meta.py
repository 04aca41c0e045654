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
from simcse_st.model_card import SIMCSE_CITATION, CardInfo, TrainingRecord, read_card

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
    base_model: str | None = None
    release_date: str | None = None
    training_data_url: str | None = None


def check_model_name(name: str) -> str:
    """Return ``name`` if it is ``ORG/NAME``.

    Raises:
        ValueError: otherwise, with an example.
    """
    if not _ORG_NAME.match(name):
        raise ValueError(f"The model name {name!r} must be ORG/NAME (for example my-org/simcse-bert-base), as MTEB's "
                         "registry and results repository name models: pass --name ORG/NAME.")
    return name


def check_release_date(date: str) -> str:
    """Return ``date`` if it is ``YYYY-MM-DD``.

    Raises:
        ValueError: otherwise.
    """
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"--release-date {date!r} is not a date: pass YYYY-MM-DD, for example 2026-01-31.") from None
    return date


def check_url(url: str, flag: str = "--training-data-url") -> str:
    """Return ``url`` if it is an http(s) address.

    Raises:
        ValueError: otherwise.
    """
    if not re.match(r"^https?://\S+$", url):
        raise ValueError(f"{flag} {url!r} is not a web address: pass where the data is public, for example "
                         "https://huggingface.co/datasets/ORG/NAME.")
    return url


def build_model_meta(
    model: SentenceTransformer, source: str | os.PathLike[str], options: MetaOptions = MetaOptions()
) -> ModelMeta:
    """The ``ModelMeta`` of ``model``, loaded from ``source`` (a local folder or a Hub name).

    A name in MTEB's registry (``mteb.get_model_meta``) gets the registry's own ``ModelMeta``, provided the weights
    are those of its registered revision (:func:`registered_meta`); otherwise:

    - name: ``options.name``, else the Hub name, else the name recorded at training, else ``local/<folder>``
      (with a warning);
    - revision: ``options.revision``, else the Hub commit, else :func:`simcse_st.fingerprint.short_fingerprint`
      (which cannot be submitted: :func:`simcse_st.evaluation.mteb_submission.move_run` moves it to the commit);
    - release date: ``options.release_date``, else the training record's, else the Hub's (online), else empty
      (with a warning; never a file's time);
    - training data, its public address, MTEB training tasks: from the training record (the STS-B task when its
      dev split chose the checkpoint) and ``options.training_data_url``;
    - ``adapted_from``: ``options.base_model``, else the recorded base (else the card's), under the name MTEB's
      registry uses for it (:func:`registry_name`); empty, with a warning, when none is known;
    - licence and languages: the options, else the card (languages default to ``eng-Latn``);
    - parameters, memory, length, dimension, similarity (cosine): from the model;
    - reference: the model's Hub page once the revision is a Hub commit; citation: the SimCSE paper for a model
      ``simcse-st train`` recorded.

    Raises:
        ValueError: for a name without ``ORG/``, a registered name whose weights are not its registered revision's,
            a card language MTEB cannot name, or no licence for the model (open weights need one).
    """
    from mteb.models.model_meta import ModelMeta, ScoringFunction
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    from simcse_st.hub import is_hub_commit

    folder = model_folder(source)
    card = read_card(folder) if folder is not None else CardInfo()
    record = card.record
    name = model_name(source, card, options.name)
    registered = registered_meta(name, model, source)
    if registered is not None:
        return registered
    revision = model_revision(model, source, options.revision)
    meta = ModelMeta(
        loader=SentenceTransformerEncoderWrapper,
        name=name,
        revision=revision,
        release_date=release_date(source, record, options.release_date),
        languages=model_languages(card, options.languages),
        n_parameters=sum(parameter.numel() for parameter in model.parameters()),
        n_embedding_parameters=_embedding_parameters(model),
        memory_usage_mb=None,
        max_tokens=model.max_seq_length,
        embed_dim=model.get_embedding_dimension(),
        license=model_license(source, card, options.license, options.require_license),
        open_weights=True,
        public_training_code=PUBLIC_TRAINING_CODE if record else None,
        public_training_data=_training_data_url(record, options.training_data_url),
        framework=["Sentence Transformers", "PyTorch"],
        reference=f"https://huggingface.co/{name}" if is_hub_commit(revision) else None,
        similarity_fn_name=ScoringFunction.from_str(model.similarity_fn_name or "cosine"),
        use_instructions=False,
        training_datasets=_training_tasks(card),
        adapted_from=adapted_from(name, card, options.base_model),
        citation=SIMCSE_CITATION if record else None,
    )
    return meta.model_copy(update={"memory_usage_mb": meta.calculate_memory_usage_mb()})


def model_name(source: str | os.PathLike[str], card: CardInfo, name: str | None) -> str:
    """The name results are filed under (see :func:`build_model_meta`)."""
    if name is not None:
        return check_model_name(name)
    hub = hub_model(source)
    if hub is not None and _ORG_NAME.match(hub.name):
        return hub.name
    if card.record and card.record.name:
        return check_model_name(card.record.name)
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


def registry_entry(name: str) -> ModelMeta | None:
    """MTEB's registered ``ModelMeta`` of ``name`` (``mteb.get_model_meta``), None when the registry has no such
    name."""
    import mteb

    try:
        return mteb.get_model_meta(name)
    except KeyError:
        return None


def registered_meta(name: str, model: SentenceTransformer, source: str | os.PathLike[str]) -> ModelMeta | None:
    """The registry's ``ModelMeta`` when ``name`` is registered and ``model`` holds the weights of its registered
    revision; None when ``name`` is not registered. The weights are those of the revision when ``source`` is that
    revision's Hub snapshot, or when their fingerprint equals that of the revision loaded from the Hub (or its
    local cache).

    Raises:
        ValueError: when ``name`` is registered but the weights differ or cannot be compared: a known model is never
            given a second identity.
    """
    registered = registry_entry(name)
    if registered is None:
        return None
    hub = hub_model(source)
    if hub is not None and (hub.name, hub.commit) == (name, registered.revision):
        return registered
    from simcse_st.fingerprint import model_fingerprint

    published = load_hub_revision(name, registered.revision, why=f"{name} is in MTEB's registry at revision "
                                  f"{registered.revision}: to file {source} under it, its weights")
    if model_fingerprint(published) != model_fingerprint(model):
        raise ValueError(f"{name} is in MTEB's registry at revision {registered.revision}, and the weights of "
                         f"{source} are not that revision's: pass another --name ORG/NAME for a changed model "
                         "(MTEB files a registered name only under its registered revision).")
    return registered


def load_hub_revision(name: str, revision: str | None, why: str) -> SentenceTransformer:
    """The model ``name`` at ``revision`` (None: the Hub's ``main``) from the Hub, or offline from the Hugging Face
    cache.

    Raises:
        OSError: when it is neither reachable nor cached, starting with ``why`` ("..., must be compared with it").
    """
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(name, revision=revision, device="cpu")
    except (OSError, ValueError) as error:
        raise OSError(f"{why} must be compared with {name} at revision {revision or 'main'}, which is neither "
                      f"reachable on the Hub nor in the local Hugging Face cache ({str(error).splitlines()[0]}); "
                      f"run where the Hub is reachable, or 'hf download {name}"
                      f"{f' --revision {revision}' if revision else ''}' first.") from None


def registry_name(name: str) -> str:
    """``name`` as MTEB's registry names it: itself when registered, else the one registered ``ORG/NAME`` ending
    in ``/name`` for a bare legacy name (``bert-base-uncased``), else ``name`` unchanged."""
    import mteb

    if "/" in name or registry_entry(name) is not None:
        return name
    matches = [meta.name for meta in mteb.get_model_metas() if meta.name and meta.name.split("/")[-1] == name]
    return matches[0] if len(matches) == 1 else name


def adapted_from(name: str, card: CardInfo, base_model: str | None) -> str | None:
    """The base model's Hub name for MTEB's ``adapted_from`` (see :func:`build_model_meta`); None, with a
    warning, when none is known."""
    from simcse_st.hub import is_repo_id

    base = base_model or (card.record.base_model if card.record else None) or card.base_model
    if base is None or base == name or not is_repo_id(base):
        logger.warning("%s records no base model's Hub name%s: adapted_from is left empty, so MTEB counts none of "
                       "the base's training data; pass --base-model NAME (the Hub name training started from).", name,
                       f" ({base!r} is none)" if base else "")
        return None
    found = registry_name(base)
    if registry_entry(found) is None:
        logger.warning("adapted_from %s is not in MTEB's registry, so MTEB cannot read what it was trained on; check "
                       "it is the base's Hub name (ORG/NAME) or pass --base-model NAME.", found)
    return found


def release_date(source: str | os.PathLike[str], record: TrainingRecord | None, given: str | None) -> str | None:
    """``given``, else the day training ended, else the Hub repository's creation day (when the Hub is reachable);
    None, with a warning, otherwise."""
    if given:
        return check_release_date(given)
    if record is not None:
        return record.date
    found = _hub_date(source)
    if found is None:
        logger.warning("%s has no training record and the Hub gives no date: release_date is left empty; pass "
                       "--release-date YYYY-MM-DD.", source)
    return found


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


def _training_data_url(record: TrainingRecord | None, given: str | None) -> str | None:
    """``given``, else the address recorded at training, else that of the recipes' data by its name."""
    if given:
        return check_url(given)
    if record is None:
        return None
    return record.training_data_url or PUBLIC_TRAINING_DATA.get(record.training_data)


def _hub_date(source: str | os.PathLike[str]) -> str | None:
    """The creation day of the Hub repository ``source`` is, when the Hub is reachable; None otherwise."""
    from huggingface_hub import constants

    hub = hub_model(source)
    if hub is None or constants.HF_HUB_OFFLINE:
        return None
    from huggingface_hub import model_info

    try:
        created = model_info(hub.name, revision=hub.commit).created_at
    except Exception as error:  # noqa: BLE001 - any Hub failure leaves the date empty, with the warning
        logger.info("No release date from the Hub for %s: %s", hub.name, error)
        return None
    return created.date().isoformat() if created is not None else None
