"""The optional masked-language-modelling auxiliary objective (Gao et al. 2021, appendix F).

The paper adds ``lambda * l_mlm`` to the contrastive loss (lambda = 0.1) to keep token-level knowledge;
15 % of the tokens are chosen, of which 80 % become [MASK], 10 % a random token and 10 % stay as they are.
The prediction head lives in the loss, like the SimCSE MLP head, so the saved model does not carry it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn
from transformers import DataCollatorForLanguageModeling

MASK_PROBABILITY = 0.15


class MaskedLanguageModelingHead(nn.Module):
    """Masks a batch, runs it through the sentence model, and scores the token predictions.

    The head is BERT's (dense, GELU, LayerNorm, decoder), its decoder tied to the encoder's input word
    embeddings, so it starts from the encoder's own vocabulary geometry whatever the architecture.

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
        word_embeddings = model[0].auto_model.get_input_embeddings()
        vocab_size, hidden_size = word_embeddings.weight.shape
        self.transform = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.LayerNorm(hidden_size))
        self.decoder = nn.Linear(hidden_size, vocab_size)
        self.decoder.weight = word_embeddings.weight

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

    def forward(self, model: nn.Module, features: dict[str, Tensor]) -> Tensor:
        """``l_mlm``: cross-entropy of the original tokens at the masked positions."""
        masked_features, labels = self.mask(features)
        token_embeddings = model(masked_features)["token_embeddings"]
        logits = self.decoder(self.transform(token_embeddings))
        if not (labels != -100).any():
            return logits.sum() * 0.0  # nothing was masked in this batch
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100)
