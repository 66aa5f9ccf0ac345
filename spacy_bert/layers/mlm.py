"""The masked-LM head on the torch side: loss and top-k of the scored positions only.

Hugging Face's `BertForMaskedLM` projects every position onto the vocabulary: at 32 x 512
positions and a 30,522-word vocabulary that is a (16384, 30522) fp32 tensor, about 2 GB, of
which a masked-LM batch scores about 15 %. `MaskedLMAdapter` runs the same encoder and the
same `cls.predictions` head, but gathers the scored positions' hidden states first, so the
projection is (n_scored, vocab). It returns the loss (a differentiable scalar, Hugging Face's:
mean cross-entropy over the scored positions) and the top-k ids and probabilities per scored
position; `MaskedLMResult.to_numpy` brings only those small arrays to the host, never a
vocabulary-sized one.

`modeling/` keeps Hugging Face's forward semantics (full `logits`/`prediction_logits`); this
adapter is what the encoder layer runs when a component only needs the loss and top-k.
"""
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..errors import Errors
from ..modeling import BertForMaskedLM, BertForPreTraining
from ..modeling.heads import BertLMPredictionHead
from ..modeling import IGNORE_INDEX
from ..modeling.losses import cross_entropy


@dataclass
class MaskedLMResult:
    """Masked-LM outputs for the scored positions of a batch, in row-major order of (row, column).

    Attributes:
        loss (Optional[torch.Tensor]): () mean cross-entropy over the scored positions with a
            label (Hugging Face's MLM loss); None without labels. Differentiable.
        positions (torch.Tensor): (n_scored, 2) int64 (batch row, sequence column) of each scored position.
        top_ids (torch.Tensor): (n_scored, k) int64 vocabulary ids, best first.
        top_scores (torch.Tensor): (n_scored, k) their softmax probabilities (fp32), as
            Hugging Face's fill-mask pipeline reports them.
    """

    loss: Optional[torch.Tensor]
    positions: torch.Tensor
    top_ids: torch.Tensor
    top_scores: torch.Tensor

    def to_numpy(self) -> Tuple[Optional[float], np.ndarray, np.ndarray, np.ndarray]:
        """(loss as a float or None, positions (n, 2) int64, top_ids (n, k) int32, top_scores (n, k)
        float32): one device-to-host copy of each small array."""
        loss = None if self.loss is None else float(self.loss.detach())
        return (
            loss,
            self.positions.cpu().numpy(),
            self.top_ids.to(torch.int32).cpu().numpy(),
            self.top_scores.detach().float().cpu().numpy(),
        )


def _check(what: str, ok: bool, value: object, expected: str) -> None:
    if not ok:
        raise ValueError(Errors.E380.format(what=what, value=value, expected=expected))


def score_masked_positions(
    head: BertLMPredictionHead,
    hidden: torch.Tensor,
    labels: Optional[torch.Tensor] = None,
    scored: Optional[torch.Tensor] = None,
    top_k: int = 5,
) -> MaskedLMResult:
    """Apply the MLM head to the scored positions only.

    Args:
        head (BertLMPredictionHead): `cls.predictions` of a `BertForMaskedLM`/`BertForPreTraining`.
        hidden (torch.Tensor): (batch, seq, hidden) the encoder's last hidden state.
        labels (Optional[torch.Tensor]): (batch, seq) target ids, -100 where not scored.
        scored (Optional[torch.Tensor]): (batch, seq) bool, the positions to score (e.g. the
            `[MASK]` positions of a fill-mask input); default: `labels != IGNORE_INDEX` (-100).
        top_k (int): How many ids to return per scored position (1..vocab_size).

    Returns:
        MaskedLMResult; the loss is over the scored positions whose label is not -100.
    """
    _check("hidden states of shape", hidden.dim() == 3, tuple(hidden.shape), "(batch, seq, hidden)")
    batch_seq = tuple(hidden.shape[:2])
    if labels is not None:
        _check("labels of shape", tuple(labels.shape) == batch_seq, tuple(labels.shape), f"{batch_seq} (the input's shape)")
        labels = labels.to(hidden.device)
    if scored is None:
        _check("neither labels nor scored positions", labels is not None, None, "labels or a `scored` mask")
        scored = labels != IGNORE_INDEX
    else:
        _check("a scored mask of shape", tuple(scored.shape) == batch_seq, tuple(scored.shape), f"{batch_seq} (the input's shape)")
        _check("a scored mask of dtype", scored.dtype == torch.bool, scored.dtype, "torch.bool")
        scored = scored.to(hidden.device)
    vocab_size = head.decoder.out_features
    _check("top_k", isinstance(top_k, int) and 1 <= top_k <= vocab_size, top_k, f"an int in 1..{vocab_size}")
    positions = scored.nonzero()  # (n_scored, 2), row-major like boolean indexing
    logits = head(hidden[scored])  # (n_scored, vocab): only the scored rows are projected
    loss = None if labels is None else cross_entropy(logits, labels[scored])
    with torch.no_grad():
        top_scores, top_ids = logits.float().softmax(dim=-1).topk(top_k, dim=-1)
    return MaskedLMResult(loss=loss, positions=positions, top_ids=top_ids, top_scores=top_scores)


def mlm_prediction_head(model: Union[BertForMaskedLM, BertForPreTraining]) -> BertLMPredictionHead:
    """The `cls.predictions` head of a masked-LM model."""
    if not isinstance(model, (BertForMaskedLM, BertForPreTraining)):
        raise ValueError(
            Errors.E380.format(what="a model of class", value=type(model).__name__, expected="BertForMaskedLM or BertForPreTraining")
        )
    return model.cls.predictions


class MaskedLMAdapter(nn.Module):
    """A `BertForMaskedLM` (or `BertForPreTraining`) that scores only chosen positions.

    Its parameters are the wrapped model's (same names under `model.`), so the optimiser,
    the tied decoder and `save_pretrained(adapter.model)` are unchanged.
    """

    def __init__(self, model: Union[BertForMaskedLM, BertForPreTraining]) -> None:
        super().__init__()
        mlm_prediction_head(model)  # refuse other classes now, not at the first batch
        self.model = model

    @property
    def head(self) -> BertLMPredictionHead:
        # A property, not a second registration: the head's parameters keep one name each.
        return mlm_prediction_head(self.model)

    @property
    def bert(self):
        return self.model.bert

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        scored: Optional[torch.Tensor] = None,
        top_k: int = 5,
    ) -> MaskedLMResult:
        """input_ids, attention_mask, token_type_ids (batch, seq) as for `BertForMaskedLM`;
        labels / scored / top_k as for `score_masked_positions`."""
        out = self.model.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return score_masked_positions(self.head, out.last_hidden_state, labels=labels, scored=scored, top_k=top_k)
