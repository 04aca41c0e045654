"""The paper's alignment/uniformity analysis on STS-B as a sentence-transformers evaluator."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import numpy as np
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from simcse_st.data.sts import load_sts_task
from simcse_st.evaluation.encoding import check_pooling, encode_unique
from simcse_st.evaluation.metrics import alignment, uniformity
from simcse_st.evaluation.sts import training_position

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

POSITIVE_THRESHOLD = 4.0
"""STS-B pairs whose gold score exceeds this (on the 0-5 scale) are the positive pairs of the alignment."""


class AlignmentUniformityEvaluator(SentenceEvaluator):
    """Alignment and uniformity of L2-normalized embeddings on STS-B, as in the SimCSE paper (lower is better).

    - alignment: mean ``||f(x) - f(x+)||^2`` over the STS-B pairs with gold score > 4 (alpha = 2);
    - uniformity: ``log mean exp(-2 ||f(x) - f(y)||^2)`` over all pairs of distinct STS-B sentences (t = 2).

    Each distinct sentence is encoded once. The call returns ``{"<name>_alignment": ...,
    "<name>_uniformity": ...}`` (``name`` defaults to ``"stsb_<split>"``); the trainer logs them as
    ``eval_stsb_test_alignment`` and ``eval_stsb_test_uniformity``. The primary metric is uniformity, with
    ``greater_is_better = False``.

    Args:
        data_dir: the data root holding ``senteval/``; defaults to ``$SIMCSE_DATA_DIR``.
        split: the STS-B split (``"test"``, ``"dev"`` or ``"train"``).
        batch_size: sentences per forward pass.
        pooling: ``None`` or a baseline pooling from :data:`simcse_st.evaluation.BASELINE_POOLINGS`.
        name: prefix of the metric keys.
        show_progress_bar: show a progress bar while encoding.

    Example:
        >>> evaluator = AlignmentUniformityEvaluator(data_dir="../shared/data", name="")
        >>> evaluator(model)  # doctest: +SKIP
        {'alignment': 0.21, 'uniformity': -2.28}
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        split: str = "test",
        batch_size: int = 128,
        pooling: str | None = None,
        name: str | None = None,
        show_progress_bar: bool = True,
    ) -> None:
        super().__init__()
        check_pooling(pooling)
        (pairs,) = load_sts_task("STSBenchmark", split, data_dir)
        positives = [(s1, s2) for s1, s2, gold in zip(pairs.sentences1, pairs.sentences2, pairs.scores, strict=True)
                     if gold > POSITIVE_THRESHOLD]
        if not positives:
            raise ValueError(f"STS-B {split} has no pair with a gold score above {POSITIVE_THRESHOLD}.")
        self.positive_pairs: list[tuple[str, str]] = positives
        self.sentences: list[str] = list(dict.fromkeys(pairs.sentences1 + pairs.sentences2))
        self.split = split
        self.batch_size = batch_size
        self.pooling = pooling
        self.name = f"stsb_{split}" if name is None else name
        self.show_progress_bar = show_progress_bar
        self.greater_is_better = False
        self.primary_metric = "uniformity"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Return alignment and uniformity of ``model``'s embeddings (keys as in the class docstring)."""
        row, embeddings = encode_unique(
            model, self.sentences, self.batch_size, self.pooling, show_progress_bar=self.show_progress_bar
        )
        return self.record(model, self.scores_from(row, embeddings), epoch, steps)

    def scores_from(self, row: dict[str, int], embeddings: np.ndarray) -> dict[str, float]:
        """``{"alignment": ..., "uniformity": ...}`` from embeddings already computed (``row[sentence]`` is the row
        of ``embeddings`` holding each of :attr:`sentences`, as :func:`encode_unique` returns them)."""
        anchors = embeddings[[row[s1] for s1, _ in self.positive_pairs]]
        positives = embeddings[[row[s2] for _, s2 in self.positive_pairs]]
        # Eq. 2 over the positive pairs; Eq. 3 over every sentence, each once
        sentence_embeddings = embeddings[[row[sentence] for sentence in self.sentences]]
        return {"alignment": alignment(anchors, positives), "uniformity": uniformity(sentence_embeddings)}

    def record(self, model: SentenceTransformer, scores: dict[str, float], epoch: int = -1, steps: int = -1
               ) -> dict[str, float]:
        """Log ``scores`` (of :meth:`scores_from`), store them in the model card data and return them keyed as the
        class docstring says."""
        logger.info(
            f"AlignmentUniformityEvaluator (STS-B {self.split}){training_position(epoch, steps)}: "
            f"alignment {scores['alignment']:.4f} ({len(self.positive_pairs)} pairs), "
            f"uniformity {scores['uniformity']:.4f} ({len(self.sentences)} sentences)"
        )
        metrics = self.prefix_name_to_metrics(scores, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "Alignment and Uniformity"
