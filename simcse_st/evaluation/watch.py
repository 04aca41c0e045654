"""What training logs at every evaluation, as the SimCSE paper watches a run (its Figure 2): the STS dev score
beside alignment and uniformity on STS-B dev, from one encoding of the dev sentences."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from simcse_st.evaluation.alignment_uniformity import AlignmentUniformityEvaluator
from simcse_st.evaluation.encoding import encode_unique
from simcse_st.evaluation.sts import SentEvalSTSEvaluator

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

WATCH_SPLIT = "dev"
"""The STS-B split alignment and uniformity are measured on during training (the paper's Figure 2 uses STS-B dev)."""


class TrainingWatchEvaluator(SentenceEvaluator):
    """The dev evaluator of a SimCSE run: STS dev Spearman (which picks the checkpoint) and the paper's alignment
    and uniformity on STS-B dev, every distinct dev sentence encoded once for both.

    - STS dev: :class:`~simcse_st.evaluation.SentEvalSTSEvaluator` on ``tasks`` (keys ``sts_dev_<task>``, and
      ``sts_dev_avg``);
    - alignment: mean ``||f(x) - f(x+)||^2`` over the STS-B dev pairs scored above 4 (SimCSE Eq. 2, alpha = 2);
    - uniformity: ``log mean exp(-2 ||f(x) - f(y)||^2)`` over the distinct STS-B dev sentences (Eq. 3, t = 2)
      (keys ``stsb_dev_alignment``, ``stsb_dev_uniformity``).

    The trainer prefixes every key with ``eval_`` and sends them to its log history (``trainer_state.json``) and
    to every ``report_to`` logger (TensorBoard, ...), beside the training loss; ``simcse-st report`` draws them.
    The primary metric is the STS dev one (``sts_dev_avg``), higher is better.

    Args:
        data_dir: the data root holding ``senteval/``; defaults to ``$SIMCSE_DATA_DIR``.
        tasks: the STS dev tasks scored (STS-B alone by default, as the official checkpoint selection).
        batch_size: sentences per forward pass.
        show_progress_bar: show a progress bar while encoding.

    Example:
        >>> evaluator = TrainingWatchEvaluator(data_dir="../shared/data")
        >>> sorted(evaluator(model))  # doctest: +SKIP
        ['sts_dev_STSBenchmark', 'sts_dev_avg', 'stsb_dev_alignment', 'stsb_dev_uniformity']
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        tasks: tuple[str, ...] = ("STSBenchmark",),
        batch_size: int = 128,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__()
        self.sts = SentEvalSTSEvaluator(data_dir=data_dir, tasks=tasks, split="dev", name="sts_dev",
                                        batch_size=batch_size, show_progress_bar=show_progress_bar)
        self.geometry = AlignmentUniformityEvaluator(data_dir=data_dir, split=WATCH_SPLIT, batch_size=batch_size,
                                                     show_progress_bar=show_progress_bar)
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.primary_metric = "sts_dev_avg"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """STS dev scores, alignment and uniformity of ``model`` (keys as in the class docstring)."""
        row, embeddings = encode_unique(
            model, [*self.sts.sentences(), *self.geometry.sentences], batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
        )
        return (self.sts.record(model, self.sts.scores_from(row, embeddings), epoch, steps)
                | self.geometry.record(model, self.geometry.scores_from(row, embeddings), epoch, steps))

    @property
    def description(self) -> str:
        return "SentEval STS dev with alignment and uniformity"
