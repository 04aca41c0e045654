"""The optional masked-language-modelling auxiliary objective (Gao et al. 2021, appendix F).

The paper adds ``lambda * l_mlm`` to the contrastive loss (lambda = 0.1) to keep token-level knowledge;
15 % of the tokens are chosen, of which 80 % become [MASK], 10 % a random token and 10 % stay as they are.
The prediction head lives in the loss, like the SimCSE MLP head, so the saved model does not carry it.

As in the official code (``BertForCL.lm_head = BertLMPredictionHead(config)`` in princeton-nlp/SimCSE's
``simcse/models.py``), the head is a **fresh, untied** BERT LM head: its parameter names do not match the
checkpoint's ``cls.predictions``, so the official run starts it from BERT's initialization (normal weights with
the config's ``initializer_range``, zero biases, LayerNorm 1/0) with a decoder of its own, not the word
embeddings. Logits are computed at the masked positions only, so memory grows with the number of masked
tokens, not with batch x length x vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn
from transformers import DataCollatorForLanguageModeling
from transformers.activations import get_activation

from simcse_st.losses.infonce import at_least_fp32
from simcse_st.models import initialize_as_official

MASK_PROBABILITY = 0.15
IGNORE_INDEX = -100  # label of a position that is not predicted


class MaskedLanguageModelingHead(nn.Module):
    """Masks a batch, runs it through the sentence model, and scores the token predictions.

    The head is BERT's LM prediction head (dense, the encoder's activation, LayerNorm, then a decoder to the
    vocabulary with its own bias), freshly initialized as the official SimCSE head is.

    Args:
        model: the SentenceTransformer being trained; its first module must be a Transformer whose
            tokenizer has a mask token.
        mask_probability: share of (non-special) tokens chosen for prediction.

    Raises:
        ValueError: if the tokenizer has no mask token.
    """

    def __init__(self, model: SentenceTransformer, mask_probability: float = MASK_PROBABILITY) -> None:
        super().__init__()
        tokenizer = model.tokenizer
        if getattr(tokenizer, "mask_token", None) is None:
            raise ValueError(
                "mlm_weight > 0 needs a tokenizer with a mask token (BERT, RoBERTa, ...); this model's tokenizer "
                "has none. Set mlm_weight=0.0."
            )
        # 15 % of tokens; of those 80 % [MASK], 10 % random, 10 % unchanged (transformers' defaults)
        self.masking = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mask_probability)
        encoder = model[0].auto_model
        config = encoder.config
        vocab_size, hidden_size = encoder.get_input_embeddings().weight.shape
        activation = getattr(config, "hidden_act", "gelu")
        self.transform = nn.Sequential(
            nn.Linear(hidden_size, hidden_size),
            get_activation(activation) if isinstance(activation, str) else activation,
            nn.LayerNorm(hidden_size, eps=getattr(config, "layer_norm_eps", 1e-12)),
        )
        self.decoder = nn.Linear(hidden_size, vocab_size)
        # BERT's initialization of a fresh head (a new LayerNorm is already weight 1, bias 0)
        for linear in (self.transform[0], self.decoder):
            initialize_as_official(linear, model[0])

    def mask(self, features: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """A copy of ``features`` with masked ``input_ids``, and the labels (-100 where not predicted)."""
        input_ids = features["input_ids"]
        special = torch.tensor(
            [
                self.masking.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                for row in input_ids.tolist()
            ],
            dtype=torch.bool,
        )
        special |= features["attention_mask"].cpu() == 0
        masked_ids, labels = self.masking.torch_mask_tokens(input_ids.cpu().clone(), special_tokens_mask=special)
        return {**features, "input_ids": masked_ids.to(input_ids.device)}, labels.to(input_ids.device)

    def forward(self, model: nn.Module, masked_features: dict[str, Tensor], labels: Tensor, num_masked: int) -> Tensor:
        """This batch's share of ``l_mlm``: the summed cross-entropy of its masked tokens over ``num_masked``.

        Args:
            model: the sentence model (or its DDP wrapper) that encodes ``masked_features``.
            masked_features: encoder inputs with masked ``input_ids`` (from :meth:`mask`).
            labels: the original token at each masked position, -100 elsewhere.
            num_masked: the masked tokens of the whole batch this is part of; with the full batch the result
                is the mean cross-entropy over its masked tokens, with a chunk the chunk's share of it.

        Returns:
            A 0-d tensor.
        """
        token_embeddings = model(masked_features)["token_embeddings"]
        predicted = labels != IGNORE_INDEX
        # decoder logits at the masked positions only: (masked tokens, vocabulary)
        logits = self.decoder(self.transform(token_embeddings[predicted]))
        # the softmax over the vocabulary in fp32, also under autocast
        return F.cross_entropy(at_least_fp32(logits), labels[predicted], reduction="sum") / max(num_masked, 1)
