"""What the two SimCSE losses share: input checks, the encoder call, GradCache and the auxiliary MLM term."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from itertools import dropwhile
from typing import Any

import torch
import torch.distributed as dist
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn

from simcse_st._compat import CachedLossMixin, RandContext, _create_minibatch, embed_columns, merge_feature_batches
from simcse_st.losses.infonce import gathers_across_devices
from simcse_st.losses.mlm import IGNORE_INDEX, MaskedLanguageModelingHead
from simcse_st.models import training_max_seq_length

logger = logging.getLogger(__name__)

# keys of an MLM column: the labels of its masked tokens, and the masked-token count of the whole batch
MLM_LABELS = "mlm_labels"
MLM_NUM_MASKED = "mlm_num_masked"

SIMCSE_CITATION = """
@inproceedings{gao2021simcse,
    title = "{S}im{CSE}: Simple Contrastive Learning of Sentence Embeddings",
    author = "Gao, Tianyu and Yao, Xingcheng and Chen, Danqi",
    booktitle = "Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing",
    year = "2021",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2021.emnlp-main.552",
    pages = "6894--6910",
}
"""


class SimCSELossBase(CachedLossMixin, nn.Module):
    """Base of :class:`SimCSELoss` and :class:`SupervisedSimCSELoss`; not used directly.

    A subclass names its input columns (``column_names``), may turn each batch into the rows the encoder
    sees (:meth:`views`), and computes the contrastive loss from the full batch's embeddings
    (:meth:`contrastive_loss`). This class runs the encoder (in one pass, or in GradCache chunks when
    ``mini_batch_size`` is set), applies the loss-owned ``head`` to the pooled embeddings, adds the MLM
    term, and checks the input.

    Each tokenized batch is first cut to the training length (``max_seq_length``, by default the one
    :func:`~simcse_st.build_simcse_model` recorded on the model) exactly as the tokenizer truncates, so the model
    keeps its full length for ``encode``, evaluation and saving while training sees the recipe's 32 tokens.

    The MLM term masks every row the encoder sees (both dropout copies of a sentence for the unsupervised loss,
    each masked independently, as the official code masks each copy). With ``mini_batch_size`` it is computed
    chunk by chunk inside GradCache: the masked rows form extra columns whose chunks give their share of
    ``l_mlm`` (a 0-d tensor) in the first pass and are replayed with gradient, under the same RNG state and
    DDP synchronization, in the backward pass; memory then follows the mini-batch for this term too.
    """

    #: accepted numbers of text columns -> the names a data set would give them
    column_names: dict[int, tuple[str, ...]] = {}

    def __init__(
        self,
        model: SentenceTransformer,
        temperature: float,
        gather_across_devices: bool | None,
        mini_batch_size: int | None,
        mlm_weight: float,
        head: nn.Module | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        nn.Module.__init__(self)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 (the paper uses 0.05), got {temperature}.")
        if mini_batch_size is not None and (not isinstance(mini_batch_size, int) or mini_batch_size < 1):
            raise ValueError(f"mini_batch_size must be a positive integer or None, got {mini_batch_size!r}.")
        if not mlm_weight >= 0:
            raise ValueError(
                f"mlm_weight must be >= 0 (0 turns the MLM term off; the paper uses 0.1), got {mlm_weight}."
            )
        self.model = model
        self.temperature = float(temperature)
        self.gather_across_devices = gathers_across_devices(gather_across_devices)
        self.mini_batch_size = mini_batch_size
        self.mlm_weight = float(mlm_weight)
        self.head = head if head is not None else nn.Identity()
        self.mlm = MaskedLanguageModelingHead(model) if mlm_weight > 0 else None
        self.num_special_tokens = model.tokenizer.num_special_tokens_to_add(pair=False)
        self.max_seq_length = max_seq_length if max_seq_length is not None else training_max_seq_length(model)
        self.num_closing_tokens = _check_truncation(model, self.max_seq_length)
        self._warned_no_negatives = False
        self._synchronize_head_gradients()

    @property
    def uses_gradient_cache(self) -> bool:  # read by sentence-transformers' Matryoshka/AdaptiveLayer wrappers
        return self.mini_batch_size is not None

    # --- what subclasses define -------------------------------------------------------------------------
    def views(self, features: dict[str, Any]) -> dict[str, Any]:
        """The rows the encoder sees for one input column (the column itself unless a subclass says otherwise)."""
        return features

    def contrastive_loss(self, embeddings: list[Tensor]) -> Tensor:
        """The InfoNCE loss from the full batch's embeddings, one tensor per input column."""
        raise NotImplementedError

    def has_negatives(self, batch_size: int, num_columns: int) -> bool:
        """Whether a batch of this shape gives its anchors any negative candidate."""
        return batch_size > 1

    # --- the forward pass -------------------------------------------------------------------------------
    def embed(self, features: dict[str, Any]) -> Tensor:
        """``head(pool(encoder(views)))`` for one column: the h_i of the paper."""
        return self.head(self.model(self.views(features))["sentence_embedding"])

    def embed_minibatch(
        self,
        sentence_feature: dict[str, Tensor],
        begin: int,
        end: int,
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
    ) -> tuple[Tensor, RandContext | None]:
        """GradCache's chunk embedding, through :meth:`views` and the head (or, for a chunk of an MLM column, its
        share of ``l_mlm``); the RNG state is kept for the replay."""
        features = _create_minibatch(sentence_feature, begin, end)
        with random_state if random_state is not None else nullcontext():
            with nullcontext() if with_grad else torch.no_grad():
                state = RandContext(*features.values()) if copy_random_state else None
                if MLM_LABELS in features:  # a chunk of masked rows: its share of l_mlm
                    return self.mlm_share(features), state
                return self.embed(features), state

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        """The loss from per-chunk outputs (GradCache's step 2 when ``with_backward``): the contrastive loss over the
        text columns' embeddings, plus lambda times the chunks' shares of ``l_mlm`` (the 0-d outputs)."""
        loss = self.contrastive_loss([torch.cat(chunks) for chunks in reps if chunks[0].dim() > 0])
        mlm_shares = [share for chunks in reps if chunks[0].dim() == 0 for share in chunks]
        if mlm_shares:
            # total = l_contrastive + lambda * l_mlm (appendix F)
            loss = loss + self.mlm_weight * torch.stack(mlm_shares).sum()
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        features = [self.truncate(column) for column in sentence_features]
        self.check_batch(features)
        batch_size = features[0]["input_ids"].size(0)
        if not self._any_process_has_negatives(batch_size, len(features)):
            return self._no_negatives_loss(features[0]["input_ids"].device)
        # masked before any encoding, so that a seed gives the same masks with and without mini-batches
        mlm_columns = self.mlm_columns(features) if self.mlm is not None else []
        if self.mini_batch_size is not None:
            return self.forward_cached(features + mlm_columns, labels)
        loss = self.contrastive_loss(self.embed_all(features))
        if mlm_columns:
            # total = l_contrastive + lambda * l_mlm (appendix F)
            loss = loss + self.mlm_weight * torch.stack([self.mlm_share(column) for column in mlm_columns]).sum()
        return loss

    def truncate(self, features: dict[str, Any]) -> dict[str, Any]:
        """``features`` cut to ``max_seq_length`` tokens a row, as the tokenizer truncates at that length."""
        if self.max_seq_length is None:
            return features
        return truncate_features(features, self.max_seq_length, self.num_closing_tokens)

    def embed_all(self, features: list[dict[str, Any]]) -> list[Tensor]:
        """:meth:`embed` for every column, the columns padded to one width and encoded in a single forward pass
        (the official code's flattened batch; DDP with unused parameters allows one pass per step)."""
        pooled = embed_columns(self.model, [self.views(column) for column in features], separate_first=False)
        return [self.head(embeddings) for embeddings in pooled]

    def mlm_columns(self, features: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The masked inputs of ``l_mlm``: every row the encoder sees, all columns merged into one when they can be.

        Each returned column holds the masked features, their labels (``MLM_LABELS``) and the masked-token
        count of the whole batch (``MLM_NUM_MASKED``), so that any chunk of it knows its share of the mean.
        """
        views = [self.views(column) for column in features]
        merged = merge_feature_batches(views) if len(views) > 1 else views[0]
        masked = [self.mlm.mask(column) for column in ([merged] if merged is not None else views)]
        num_masked = sum(int((labels != IGNORE_INDEX).sum()) for _, labels in masked)
        return [{**column, MLM_LABELS: labels, MLM_NUM_MASKED: num_masked} for column, labels in masked]

    def mlm_share(self, column: dict[str, Any]) -> Tensor:
        """An MLM column's (or chunk's) summed cross-entropy over the batch's masked-token count (0-d)."""
        features = {key: value for key, value in column.items() if key not in (MLM_LABELS, MLM_NUM_MASKED)}
        return self.mlm(self.model, features, column[MLM_LABELS], column[MLM_NUM_MASKED])

    # --- input checks -----------------------------------------------------------------------------------
    def expected_columns_text(self) -> str:
        return " or ".join(f"{n} ({', '.join(names)})" for n, names in self.column_names.items())

    def validate_columns(self, column_names: Sequence[str]) -> None:
        """Raise a ValueError naming the columns if a data set has the wrong number of text columns.

        Call it on ``dataset.column_names`` (a ``label`` column, which this loss ignores, excluded) before
        training; the forward pass repeats the count check on every batch, where names are no longer known.
        """
        text_columns = [name for name in column_names if name not in ("label", "score", "dataset_name")]
        if len(text_columns) not in self.column_names:
            raise ValueError(
                f"{type(self).__name__} expects {self.expected_columns_text()} text columns, but the data set has "
                f"{len(text_columns)}: {text_columns}. Select the right ones, e.g. "
                f"dataset.select_columns({list(self.column_names[min(self.column_names)])!r}) after renaming."
            )

    def check_batch(self, features: list[dict[str, Tensor]]) -> None:
        """Raise a ValueError for a wrong column count or an empty sentence in this batch."""
        if len(features) not in self.column_names:
            raise ValueError(
                f"{type(self).__name__} expects {self.expected_columns_text()} text columns, but the batch has "
                f"{len(features)} text columns. Keep only those columns in the training data set "
                "(dataset.select_columns([...]))."
            )
        for position, column in enumerate(features):
            # a row with no token besides the tokenizer's special ones was an empty (or blank) string
            lengths = column["attention_mask"].sum(dim=1)
            empty = (lengths <= self.num_special_tokens).nonzero().flatten().tolist()
            if empty:
                raise ValueError(
                    f"{type(self).__name__}: rows {empty} of text column {position} in this batch are empty strings. "
                    "Remove empty sentences from the data set, e.g. dataset.filter(lambda row: row['text'].strip())."
                )

    def _any_process_has_negatives(self, batch_size: int, num_columns: int) -> bool:
        if self.gather_across_devices and dist.is_available() and dist.is_initialized():
            batch_size *= dist.get_world_size()
        return self.has_negatives(batch_size, num_columns)

    def _no_negatives_loss(self, device: torch.device) -> Tensor:
        if not self._warned_no_negatives:
            logger.warning(
                "%s got a batch with a single row: it has no in-batch negatives, so it contributes no loss. "
                "This happens with a data set's last, short batch; set dataloader_drop_last=True (or a batch "
                "size that divides the data set) to avoid it.",
                type(self).__name__,
            )
            self._warned_no_negatives = True
        return torch.zeros((), device=device, requires_grad=True)

    # --- distributed training ---------------------------------------------------------------------------
    def _synchronize_head_gradients(self) -> None:
        """Average the loss-owned head's gradients over processes, as DDP does for the model's own parameters.

        The trainer wraps only the model in DistributedDataParallel; parameters that live in the loss
        (the MLP and MLM heads) would otherwise drift apart between processes.
        """
        model_parameters = {id(p) for p in self.model.parameters()}
        for parameter in self.parameters():
            if parameter.requires_grad and id(parameter) not in model_parameters:
                parameter.register_hook(_average_over_processes)

    def head_state_dict(self) -> dict[str, Tensor]:
        """The loss-owned parameters (heads), without the model's: what a training checkpoint must add.

        A tensor is left out when it *is* one of the model's (the same object or storage, e.g. an MLM decoder tied
        to the word embeddings), whatever its name in the loss.
        """
        model_tensors = self.model.state_dict(keep_vars=True).values()
        shared = {id(tensor) for tensor in model_tensors} | {_storage(tensor) for tensor in model_tensors}
        return {
            key: value.detach()
            for key, value in self.state_dict(keep_vars=True).items()
            if id(value) not in shared and _storage(value) not in shared
        }

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "max_seq_length": self.max_seq_length,
            "temperature": self.temperature,
            "gather_across_devices": self.gather_across_devices,
            "mini_batch_size": self.mini_batch_size,
            "mlm_weight": self.mlm_weight,
        }

    @property
    def citation(self) -> str:
        return SIMCSE_CITATION


def _storage(tensor: Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def closing_token_count(tokenizer: Any) -> int:
    """How many special tokens the tokenizer puts after a sentence's last token (BERT's [SEP], RoBERTa's </s>: 1)."""
    ids = tokenizer("a")["input_ids"]
    special = tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
    return len(special) - len(list(dropwhile(bool, reversed(special)))) if special else 0


def _check_truncation(model: SentenceTransformer, max_seq_length: int | None) -> int:
    """The tokenizer's closing special token count, after checking that batches can be cut to ``max_seq_length``."""
    if max_seq_length is None:
        return 0
    tokenizer = model.tokenizer
    closing = closing_token_count(tokenizer)
    if not isinstance(max_seq_length, int) or max_seq_length <= tokenizer.num_special_tokens_to_add(pair=False):
        raise ValueError(f"max_seq_length must be an integer above the tokenizer's special token count, got "
                         f"{max_seq_length!r} (the paper trains with 32).")
    if getattr(tokenizer, "padding_side", "right") != "right":
        raise ValueError("Training at a shorter max_seq_length than the model's needs a tokenizer that pads on the "
                         "right; set model.tokenizer.padding_side = 'right' or build the loss with max_seq_length "
                         "equal to the model's.")
    return closing


def truncate_features(features: dict[str, Any], max_length: int, num_closing: int) -> dict[str, Any]:
    """A right-padded tokenized batch cut to ``max_length`` positions, row by row as the tokenizer truncates.

    A row longer than ``max_length`` keeps its first ``max_length - num_closing`` positions followed by its own
    closing special token(s), so the result equals tokenizing the sentences with ``max_length``. Every tensor of
    shape (rows, positions) (ids, attention mask, token types) is cut the same way; other entries are kept.
    """
    attention_mask = features["attention_mask"]
    rows, width = attention_mask.shape
    if width <= max_length:
        return features
    lengths = attention_mask.sum(dim=1, keepdim=True)
    positions = torch.arange(max_length, device=attention_mask.device).expand(rows, max_length)
    # the last num_closing kept positions of a long row point at that row's closing tokens
    closing = positions - max_length + lengths
    too_long = (lengths > max_length) & (positions >= max_length - num_closing)
    index = torch.where(too_long, closing, positions)
    return {
        key: value.gather(1, index) if isinstance(value, Tensor) and value.shape == (rows, width) else value
        for key, value in features.items()
    }


def _average_over_processes(gradient: Tensor) -> Tensor:
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return gradient
    gradient = gradient.clone()
    dist.all_reduce(gradient)
    return gradient / dist.get_world_size()
