"""The SimCSE paper's STS evaluation (SentEval protocol) as a sentence-transformers evaluator."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import numpy as np
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from simcse_st.data.sts import STS_TASK_LABELS, STS_TASKS, STSSubset, load_sts_task
from simcse_st.evaluation.encoding import check_pooling, encode_unique
from simcse_st.evaluation.metrics import paired_cosine, spearman_x100
from simcse_st.evaluation.protocol import AGGREGATIONS, DEV_TASKS, check_choice

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def training_position(epoch: float, steps: int) -> str:
    """`` after epoch E, step S`` for a log line, or ``""`` outside training (``epoch == -1``)."""
    if epoch == -1:
        return ""
    return f" after epoch {epoch:g}" + ("" if steps == -1 else f", step {steps}")


def score_line(scores: dict[str, float]) -> str:
    """``STS12 72.36 | ... | SICK-R 77.15 | avg 78.87`` for a log line."""
    return " | ".join(f"{STS_TASK_LABELS.get(task, task)} {score:.2f}" for task, score in scores.items())


def comparison_table(rows: dict[str, dict[str, float | None]]) -> str:
    """A Markdown table with one row per model (label -> scores by task and ``avg``), Spearman x100; the columns are
    the first row's keys, and a score a row lacks (or holds as None) shows as ``-``."""
    columns = list(next(iter(rows.values())))
    headers = ["model", *(STS_TASK_LABELS.get(task, "Avg." if task == "avg" else task) for task in columns)]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * len(columns)) + "|"]
    for label, scores in rows.items():
        cells = ("-" if scores.get(task) is None else f"{scores[task]:.2f}" for task in columns)
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


class SentEvalSTSEvaluator(SentenceEvaluator):
    """Spearman x100 of cosine similarity on the paper's seven STS tasks, as SentEval computes it.

    Each task's pairs are read once, at construction (so a missing file fails early); each call embeds every
    distinct sentence of all tasks once, then scores each task:

    - ``aggregation="all"`` (the paper's setting): one Spearman over the concatenation of a task's subsets;
    - ``"mean"`` / ``"wmean"``: the per-subset Spearman, averaged plainly or weighted by subset size.

    STS-B and SICK-R have a single subset, so the three agree on them. ``avg`` is the mean over tasks.

    Metric keys: the call returns ``{"<name>_<task>": ..., "<name>_avg": ...}`` with ``name`` defaulting to
    ``"sts_<split>"`` (``name=""`` gives the bare ``"STS12"``, ..., ``"avg"``). The sentence-transformers
    trainer prefixes them with ``eval_``, so with ``split="dev"`` the keys it logs are
    ``eval_sts_dev_STSBenchmark``, ``eval_sts_dev_SICKRelatedness`` and ``eval_sts_dev_avg``; pass
    ``metric_for_best_model="eval_sts_dev_avg"`` (or the primary metric, ``avg``) to select checkpoints on it.

    Args:
        data_dir: the data root holding ``senteval/``; defaults to ``$SIMCSE_DATA_DIR``.
        tasks: task names from :data:`simcse_st.data.STS_TASKS`; by default all seven for ``split="test"``
            and STS-B + SICK-R for ``split="dev"``.
        split: ``"test"`` (the paper's table) or ``"dev"`` (STS-B dev and SICK-R dev, for checkpoint selection).
        aggregation: ``"all"``, ``"mean"`` or ``"wmean"`` (see above).
        batch_size: sentences per forward pass.
        pooling: ``None`` for the model's own pooling, or a baseline pooling from
            :data:`simcse_st.evaluation.BASELINE_POOLINGS` to score a vanilla checkpoint.
        name: prefix of the metric keys; defaults to ``"sts_<split>"``.
        show_progress_bar: show a progress bar while encoding.
        source: ``"local"`` (SentEval files) or ``"hub"`` (see :func:`simcse_st.data.load_sts_task`).

    Example:
        >>> from sentence_transformers import SentenceTransformer
        >>> evaluator = SentEvalSTSEvaluator(data_dir="../shared/data", name="")
        >>> scores = evaluator(SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2"))
        >>> sorted(scores)
        ['SICKRelatedness', 'STS12', 'STS13', 'STS14', 'STS15', 'STS16', 'STSBenchmark', 'avg']
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        tasks: list[str] | tuple[str, ...] | None = None,
        split: str = "test",
        aggregation: str = "all",
        batch_size: int = 128,
        pooling: str | None = None,
        name: str | None = None,
        show_progress_bar: bool = True,
        source: str = "local",
    ) -> None:
        super().__init__()
        check_choice(split, ("test", "dev"), "split")
        check_choice(aggregation, AGGREGATIONS, "aggregation")
        check_pooling(pooling)
        self.tasks = tuple(tasks) if tasks else (STS_TASKS if split == "test" else DEV_TASKS)
        self.split = split
        self.aggregation = aggregation
        self.batch_size = batch_size
        self.pooling = pooling
        self.name = f"sts_{split}" if name is None else name
        self.show_progress_bar = show_progress_bar
        self.data: dict[str, list[STSSubset]] = {
            task: load_sts_task(task, split, data_dir, source=source) for task in self.tasks
        }
        self.primary_metric = "avg"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Score ``model``; returns Spearman x100 per task and their average, keyed as the class docstring says."""
        return self.record(model, self.compute_scores(model), epoch, steps)

    def record(self, model: SentenceTransformer, scores: dict[str, float], epoch: int = -1, steps: int = -1
               ) -> dict[str, float]:
        """Log ``scores`` (of :meth:`scores_from`), store them in the model card data and return them keyed as the
        class docstring says."""
        where = training_position(epoch, steps)
        logger.info(f"SentEvalSTSEvaluator ({self.split}, {self.aggregation}){where}: {score_line(scores)}")
        metrics = self.prefix_name_to_metrics(scores, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def sentences(self) -> list[str]:
        """Every sentence occurrence of every task's pairs (repeats included), in task order."""
        return [sentence for subsets in self.data.values() for subset in subsets
                for sentence in subset.sentences1 + subset.sentences2]

    def compute_scores(self, model: SentenceTransformer) -> dict[str, float]:
        """Spearman x100 per task, in task order, then ``avg``; each distinct sentence is encoded once."""
        row, embeddings = encode_unique(
            model, self.sentences(), batch_size=self.batch_size, pooling=self.pooling,
            show_progress_bar=self.show_progress_bar,
        )
        return self.scores_from(row, embeddings)

    def scores_from(self, row: dict[str, int], embeddings: np.ndarray) -> dict[str, float]:
        """Spearman x100 per task, then ``avg``, from embeddings already computed (``row[sentence]`` is the row of
        ``embeddings`` holding each sentence of :meth:`sentences`, as :func:`encode_unique` returns them)."""
        scores = {task: self._task_score(subsets, row, embeddings) for task, subsets in self.data.items()}
        scores["avg"] = float(np.mean(list(scores.values())))
        return scores

    def _task_score(self, subsets: list[STSSubset], row: dict[str, int], embeddings: np.ndarray) -> float:
        def rows(sentences: list[str]) -> np.ndarray:
            return embeddings[[row[sentence] for sentence in sentences]]

        predicted = [paired_cosine(rows(subset.sentences1), rows(subset.sentences2)) for subset in subsets]
        if self.aggregation == "all":
            return spearman_x100([g for subset in subsets for g in subset.scores], np.concatenate(predicted))
        per_subset = [spearman_x100(subset.scores, cosines) for subset, cosines in zip(subsets, predicted, strict=True)]
        weights = None if self.aggregation == "mean" else [len(subset) for subset in subsets]
        return float(np.average(per_subset, weights=weights))

    @property
    def description(self) -> str:
        return "SentEval STS"

    def get_config_dict(self) -> dict[str, object]:
        config: dict[str, object] = {"split": self.split, "aggregation": self.aggregation}
        if self.pooling is not None:
            config["pooling"] = self.pooling
        return config
