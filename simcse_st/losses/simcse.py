"""Unsupervised SimCSE: two dropout views of each sentence are its positive pair (Gao et al. 2021, eq. 4)."""

from __future__ import annotations

import logging
from typing import Any

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling
from torch import Tensor, nn

from simcse_st.losses.base import SimCSELossBase
from simcse_st.losses.infonce import cosine_logits, gather_candidates, info_nce, positive_indices
from simcse_st.models import initialize_as_official

logger = logging.getLogger(__name__)


class SimCSELoss(SimCSELossBase):
    column_names = {1: ("sentence",)}

    def __init__(
        self,
        model: SentenceTransformer,
        temperature: float = 0.05,
        mlp_head: bool | None = None,
        gather_across_devices: bool | None = None,
        mini_batch_size: int | None = None,
        mlm_weight: float = 0.0,
        max_seq_length: int | None = None,
    ) -> None:
        """Unsupervised SimCSE: each sentence is encoded twice with different dropout masks, the two views are
        a positive pair, and the views of the other sentences in the batch are the negatives.

        The batch's B sentences are repeated so that the encoder sees 2B rows in **one** forward pass (row
        2i and 2i+1 are sentence i), as the official implementation does: the views differ only by
        dropout. The loss is InfoNCE over cosine similarities divided by the temperature (eq. 4):

            l_i = -log( e^{sim(h_i, h_i')/tau} / sum_j e^{sim(h_i, h_j')/tau} )

        Under mixed precision (autocast in fp16 or bf16: the trainer's ``fp16``/``bf16``, ``simcse-st train
        --precision``) the encoder runs in the low precision, while the similarity matrix and its softmax are
        computed in fp32 (:func:`~simcse_st.losses.infonce.cosine_logits`), as is the MLM term's softmax.

        Args:
            model: the SentenceTransformer to train, with dropout switched on (see
                :func:`simcse_st.build_simcse_model`); without dropout the two views are identical and the
                representation collapses.
            temperature: tau in eq. 4; the paper uses 0.05.
            mlp_head: put a Linear+tanh layer over the pooled embedding during training. It is owned by
                this loss, so the trainer optimizes it and the saved model does not contain it: the paper's
                "MLP only in training" for unsupervised SimCSE. None (the default) does what the official code
                does: the MLP with CLS pooling (its ``cls`` pooler with ``--mlp_only_train``), none with mean
                pooling (its ``avg`` pooler); True/False force it. It is initialized as the official one: weights
                normal(0, the encoder config's ``initializer_range``), bias zero.
            gather_across_devices: under DDP, the views of every process join each anchor's candidates,
                with gradient flowing through the gathered copies, so N processes give exactly the gradient of
                one process on the whole batch. The official code gathers whenever it runs distributed (without
                gradient, keeping only its own slice differentiable), so None (the default) gathers when the run
                has more than one process (``WORLD_SIZE`` > 1); False turns it off.
            mini_batch_size: gradient caching (GradCache): embed this many sentences (2x as many rows) at
                a time, so memory depends on it rather than on the batch size; same loss and gradients.
            mlm_weight: lambda of the auxiliary MLM objective (appendix F; 0.1 in the paper), 0 turns it off.
            max_seq_length: tokens per sentence in training; each batch is cut to it as the tokenizer truncates.
                None takes the length :func:`simcse_st.build_simcse_model` recorded on the model (its
                ``max_seq_length``, 32 in the paper), or no cut for a model built otherwise.

        References:
            - Gao, Yao & Chen, "SimCSE: Simple Contrastive Learning of Sentence Embeddings", EMNLP 2021,
              https://arxiv.org/abs/2104.08821
            - The official implementation: https://github.com/princeton-nlp/SimCSE

        Requirements:
            1. A data set with exactly one text column, one sentence a row; no labels.
            2. A model with dropout (the views come from it).
            3. Batches of more than one sentence; duplicates within a batch are false negatives.

        Inputs:
            +------------+--------+
            | Texts      | Labels |
            +============+========+
            | (sentence) | none   |
            +------------+--------+

        Example:
            ::

                from datasets import Dataset
                from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
                from simcse_st import SimCSELoss, build_simcse_model

                model = build_simcse_model("bert-base-uncased", pooling="cls", max_seq_length=32)
                train_dataset = Dataset.from_dict({"sentence": ["A man is playing a guitar.", "It is raining."]})
                loss = SimCSELoss(model, temperature=0.05)
                args = SentenceTransformerTrainingArguments(
                    output_dir="unsup-simcse", per_device_train_batch_size=64, learning_rate=3e-5
                )
                trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss)
                trainer.train()
        """
        use_mlp = uses_cls_pooling(model) if mlp_head is None else mlp_head
        head = official_mlp_head(model) if use_mlp else None
        super().__init__(
            model, temperature, gather_across_devices, mini_batch_size, mlm_weight, head=head,
            max_seq_length=max_seq_length,
        )
        self.mlp_head = use_mlp
        if not any(module.p > 0 for module in model.modules() if isinstance(module, nn.Dropout)):
            logger.warning(
                "SimCSELoss: the model has no dropout (every dropout probability is 0). Unsupervised SimCSE takes "
                "its positive pairs from dropout noise; without it the two views are identical and the "
                "representation collapses. Build the model with build_simcse_model(..., dropout=0.1)."
            )

    def views(self, features: dict[str, Any]) -> dict[str, Any]:
        """Each sentence twice, side by side (rows 2i and 2i+1), so one forward pass gives both dropout views."""
        return {
            key: value.repeat_interleave(2, dim=0) if isinstance(value, Tensor) and value.dim() > 0 else value
            for key, value in features.items()
        }

    def contrastive_loss(self, embeddings: list[Tensor]) -> Tensor:
        # h_i and h_i': the two dropout views of sentence i
        views = embeddings[0].view(-1, 2, embeddings[0].size(-1))
        anchors, positives = views[:, 0], views[:, 1]
        candidates, offset = gather_candidates(positives, self.gather_across_devices)
        # eq. 4: InfoNCE over sim(h_i, h_j') / tau, the positive of anchor i at column offset + i
        logits = cosine_logits(anchors, candidates, self.temperature)
        return info_nce(logits, positive_indices(anchors.size(0), offset, logits.device))

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "mlp_head": self.mlp_head}


def uses_cls_pooling(model: SentenceTransformer) -> bool:
    """Whether the model pools with [CLS]: the official ``cls`` pooler type, the one with the training MLP."""
    return any(isinstance(module, Pooling) and module.pooling_mode == "cls" for module in model.modules())


def official_mlp_head(model: SentenceTransformer) -> nn.Module:
    """The training-only MLP over [CLS], h = tanh(W h_cls + b), initialized as the official ``MLPLayer``:
    W ~ normal(0, initializer_range of the encoder's config, 0.02 for BERT), b = 0."""
    dimension = model.get_embedding_dimension()
    return nn.Sequential(initialize_as_official(nn.Linear(dimension, dimension), model[0]), nn.Tanh())
