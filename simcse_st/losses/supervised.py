"""Supervised SimCSE on NLI: entailment hypotheses are positives, contradictions hard negatives (eq. 5)."""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor

from simcse_st.losses.base import SimCSELossBase
from simcse_st.losses.infonce import cosine_logits, gather_candidates, info_nce, positive_indices


class SupervisedSimCSELoss(SimCSELossBase):
    column_names = {2: ("anchor", "positive"), 3: ("anchor", "positive", "hard_negative")}

    def __init__(
        self,
        model: SentenceTransformer,
        temperature: float = 0.05,
        hard_negative_weight: float = 0.0,
        gather_across_devices: bool | None = None,
        mini_batch_size: int | None = None,
        mlm_weight: float = 0.0,
        max_seq_length: int | None = None,
    ) -> None:
        """Supervised SimCSE: the candidates of each anchor are the positives and the hard negatives of the
        whole batch; its own positive is the target (eq. 5):

            l_i = -log( e^{sim(h_i, h_i+)/tau} / sum_j (e^{sim(h_i, h_j+)/tau} + e^{sim(h_i, h_j-)/tau}) )

        ``hard_negative_weight`` adds a constant to the logit of each anchor's *own* hard negative, as the
        official implementation's ``hard_negative_weight`` does (the log of a weight alpha on that term).

        Under mixed precision (autocast in fp16 or bf16: the trainer's ``fp16``/``bf16``, ``simcse-st train
        --precision``) the encoder runs in the low precision, while the similarity matrix and its softmax are
        computed in fp32 (:func:`~simcse_st.losses.infonce.cosine_logits`), as is the MLM term's softmax.

        Args:
            model: the SentenceTransformer to train; the paper's recipe keeps an MLP (a Dense layer with tanh)
                at inference, which :func:`simcse_st.build_simcse_model` adds with ``mlp_at_inference=True``.
            temperature: tau in eq. 5; the paper uses 0.05.
            hard_negative_weight: added to the logit sim(h_i, h_i-)/tau of row i's own hard negative
                (0 = unweighted, the paper's default; its ablation reports log(alpha) with alpha = 1 best).
            gather_across_devices: under DDP, every process's positives and hard negatives join the
                candidates of every anchor, with gradient flowing through the gathered copies, so N processes
                give exactly the gradient of one process on the whole batch. The official code gathers whenever
                it runs distributed (without gradient, keeping only its own slice differentiable), so None (the
                default) gathers when the run has more than one process (``WORLD_SIZE`` > 1); False turns it off.
            mini_batch_size: gradient caching (GradCache): embed this many rows of each column at a time.
            mlm_weight: lambda of the auxiliary MLM objective (appendix F), 0 turns it off.
            max_seq_length: tokens per sentence in training; each batch is cut to it as the tokenizer truncates.
                None takes the length :func:`simcse_st.build_simcse_model` recorded on the model (its
                ``max_seq_length``, 32 in the paper), or no cut for a model built otherwise.

        References:
            - Gao, Yao & Chen, "SimCSE: Simple Contrastive Learning of Sentence Embeddings", EMNLP 2021,
              https://arxiv.org/abs/2104.08821
            - The official implementation: https://github.com/princeton-nlp/SimCSE

        Requirements:
            1. (anchor, positive) pairs or (anchor, positive, hard_negative) triplets, e.g. NLI premises with
               their entailment and contradiction hypotheses.
            2. Batches without duplicate sentences (BatchSamplers.NO_DUPLICATES).

        Inputs:
            +-------------------------------------+--------+
            | Texts                               | Labels |
            +=====================================+========+
            | (anchor, positive) pairs            | none   |
            +-------------------------------------+--------+
            | (anchor, positive, hard_negative)   | none   |
            +-------------------------------------+--------+

        Example:
            ::

                from datasets import Dataset
                from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
                from simcse_st import SupervisedSimCSELoss, build_simcse_model

                model = build_simcse_model("bert-base-uncased", pooling="cls", mlp_at_inference=True)
                train_dataset = Dataset.from_dict({
                    "anchor": ["A man is playing a guitar.", "Two dogs run on the grass."],
                    "positive": ["A person plays an instrument.", "Animals are outside."],
                    "hard_negative": ["Nobody is playing music.", "The dogs are asleep indoors."],
                })
                loss = SupervisedSimCSELoss(model, temperature=0.05)
                args = SentenceTransformerTrainingArguments(
                    output_dir="sup-simcse", per_device_train_batch_size=512, learning_rate=5e-5, num_train_epochs=3
                )
                trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss)
                trainer.train()
        """
        super().__init__(
            model, temperature, gather_across_devices, mini_batch_size, mlm_weight, max_seq_length=max_seq_length
        )
        self.hard_negative_weight = float(hard_negative_weight)

    def has_negatives(self, batch_size: int, num_columns: int) -> bool:
        # a single triplet still has its own hard negative; a single pair has nothing
        return batch_size > 1 or num_columns == 3

    def contrastive_loss(self, embeddings: list[Tensor]) -> Tensor:
        anchors, *candidate_columns = embeddings
        gathered = [gather_candidates(column, self.gather_across_devices) for column in candidate_columns]
        offset = gathered[0][1]
        candidates = torch.cat([column for column, _ in gathered])
        # eq. 5: the positives h_j+ and hard negatives h_j- of the whole batch are the candidates
        logits = cosine_logits(anchors, candidates, self.temperature)
        if len(candidate_columns) == 2 and self.hard_negative_weight != 0.0:
            # row i's own hard negative sits at column (gathered batch size) + offset + i
            rows = torch.arange(anchors.size(0), device=logits.device)
            own_negative = gathered[0][0].size(0) + offset + rows
            weights = torch.zeros_like(logits)
            weights[rows, own_negative] = self.hard_negative_weight
            logits = logits + weights
        return info_nce(logits, positive_indices(anchors.size(0), offset, logits.device))

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "hard_negative_weight": self.hard_negative_weight}
