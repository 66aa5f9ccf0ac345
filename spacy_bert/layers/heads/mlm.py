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
adapter is what `bert_fill_mask` runs through the shim (`layers/stages/run.py`'s `run_batches`
with `adapter=MaskedLMAdapter`) when it only needs the loss, top-1 hits, top-k or the
log-probabilities of chosen ids, and the NSP head's logits and loss.
"""
from dataclasses import dataclass
from typing import Optional, Tuple, Union, cast

import numpy as np
import torch
from torch import nn

from ...errors import Errors
from ...modeling import BertForMaskedLM, BertForPreTraining
from ...modeling.heads import BertLMPredictionHead
from ...modeling.encoder import project_rows
from ...modeling import IGNORE_INDEX
from ...modeling.losses import cross_entropy


@dataclass
class MaskedLMResult:
    """Masked-LM outputs for the scored positions of a batch, in row-major order of (row, column).

    Attributes:
        loss (Optional[torch.Tensor]): () mean cross-entropy over the scored positions with a
            label (Hugging Face's MLM loss); None without labels. Differentiable. NaN when no
            position is scored (the caller, who knows the count on the host, skips it).
        positions (torch.Tensor): (n_scored, 2) int64 (batch row, sequence column) of each scored position.
        top_ids (Optional[torch.Tensor]): (n_scored, k) int64 vocabulary ids, best first (None
            when `top_k` is None).
        top_scores (Optional[torch.Tensor]): (n_scored, k) their softmax probabilities (fp32),
            as Hugging Face's fill-mask pipeline reports them.
        correct (Optional[torch.Tensor]): () int64 scored positions whose top-1 id is the label.
        label_log_probs (Optional[torch.Tensor]): (n_scored,) fp32 log-probability of each label
            (when asked for).
        nsp_logits (Optional[torch.Tensor]): (batch, 2) next-sentence logits (with
            `next_sentence_label`); nsp_loss (Optional[torch.Tensor]): () their mean
            cross-entropy; nsp_correct (Optional[torch.Tensor]): () int64 pairs whose argmax is the label.
    """

    loss: Optional[torch.Tensor]
    positions: torch.Tensor
    top_ids: Optional[torch.Tensor]
    top_scores: Optional[torch.Tensor]
    correct: Optional[torch.Tensor] = None
    label_log_probs: Optional[torch.Tensor] = None
    nsp_logits: Optional[torch.Tensor] = None
    nsp_loss: Optional[torch.Tensor] = None
    nsp_correct: Optional[torch.Tensor] = None

    def to_numpy(self) -> Tuple[Optional[float], np.ndarray, np.ndarray, np.ndarray]:
        """(loss as a float or None, positions (n, 2) int64, top_ids (n, k) int32, top_scores (n, k)
        float32): one device-to-host copy of each small array."""
        loss = None if self.loss is None else float(self.loss.detach())
        assert self.top_ids is not None and self.top_scores is not None, "to_numpy needs top_k"
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
    top_k: Optional[int] = 5,
    targets: Optional[torch.Tensor] = None,
    label_log_probs: bool = False,
    min_rows: int = 1,
) -> MaskedLMResult:
    """Apply the MLM head to the scored positions only.

    Args:
        head (BertLMPredictionHead): `cls.predictions` of a `BertForMaskedLM`/`BertForPreTraining`.
        hidden (torch.Tensor): (batch, seq, hidden) the encoder's last hidden state.
        labels (Optional[torch.Tensor]): (batch, seq) target ids, -100 where not scored.
        scored (Optional[torch.Tensor]): (batch, seq) bool, the positions to score (e.g. the
            `[MASK]` positions of a fill-mask input); default: `labels != IGNORE_INDEX` (-100).
        top_k (Optional[int]): How many ids to return per scored position (1..vocab_size, or
            1..n_targets); None: no top-k (training needs no probabilities).
        targets (Optional[torch.Tensor]): (n_targets,) int64: rank only these ids
            (probabilities still over the full vocabulary, not renormalised).
        label_log_probs (bool): also return log P(label) of each scored position.
        min_rows (int): project at least this many rows (`modeling.encoder.project_rows`), so
            that a position's scores do not depend on how many others its batch scores
            (batch-invariant mode passes MIN_PROJECTED_ROWS).

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
        assert labels is not None  # _check raised otherwise
        scored = torch.ne(labels, IGNORE_INDEX)
    else:
        _check("a scored mask of shape", tuple(scored.shape) == batch_seq, tuple(scored.shape), f"{batch_seq} (the input's shape)")
        _check("a scored mask of dtype", scored.dtype == torch.bool, scored.dtype, "torch.bool")
        scored = scored.to(hidden.device)
    n_ranked = head.decoder.out_features if targets is None else len(targets)
    if top_k is not None:
        _check("top_k", isinstance(top_k, int) and 1 <= top_k <= n_ranked, top_k, f"an int in 1..{n_ranked}")
    positions = scored.nonzero()  # (n_scored, 2), row-major like boolean indexing
    logits = project_rows(head, hidden[scored], min_rows)  # (n_scored, vocab): only the scored rows
    result = MaskedLMResult(loss=None, positions=positions, top_ids=None, top_scores=None)
    if labels is not None:
        targets_of_rows = labels[scored]
        result.loss = cross_entropy(logits, targets_of_rows)
        result.correct = (logits.detach().argmax(-1) == targets_of_rows).sum()
        if label_log_probs:
            result.label_log_probs = logits.detach().float().log_softmax(-1).gather(1, targets_of_rows[:, None])[:, 0]
    if top_k is not None:
        with torch.no_grad():
            probs = logits.float().softmax(dim=-1)
            if targets is not None:
                probs = probs[:, targets.to(probs.device)]
            result.top_scores, result.top_ids = probs.topk(top_k, dim=-1)
            if targets is not None:
                result.top_ids = targets.to(probs.device)[result.top_ids]
    return result


def mlm_prediction_head(model: nn.Module) -> BertLMPredictionHead:
    """The `cls.predictions` head of a masked-LM model (E380 for any other module)."""
    if not isinstance(model, (BertForMaskedLM, BertForPreTraining)):
        raise ValueError(
            Errors.E380.format(what="a model of class", value=type(model).__name__, expected="BertForMaskedLM or BertForPreTraining")
        )
    return model.cls.predictions


class MaskedLMAdapter(nn.Module):
    """A `BertForMaskedLM` (or `BertForPreTraining`) that scores only chosen positions.

    Its parameters are the wrapped model's (same names under `model.`), so the optimiser,
    the tied decoder and `save_pretrained(adapter.model)` are unchanged. It is what the shim
    runs for `bert_fill_mask` (`BertShim.predict` / `begin_update` with `adapter=`): fill-mask,
    `score_words`, pretraining and its scores.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        mlm_prediction_head(model)  # refuse other classes now, not at the first batch
        self.model = cast(Union[BertForMaskedLM, BertForPreTraining], model)

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
        top_k: Optional[int] = 5,
        targets: Optional[torch.Tensor] = None,
        label_log_probs: bool = False,
        next_sentence_label: Optional[torch.Tensor] = None,
        min_rows: int = 1,
    ) -> MaskedLMResult:
        """input_ids, attention_mask, token_type_ids (batch, seq) as for `BertForMaskedLM`;
        labels / scored / top_k / targets / label_log_probs / min_rows as for `score_masked_positions`;
        next_sentence_label (batch,) int64 (a `BertForPreTraining`): 0 = B continues A."""
        out = self.model.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        result = score_masked_positions(
            self.head, out.last_hidden_state, labels=labels, scored=scored, top_k=top_k, targets=targets,
            label_log_probs=label_log_probs, min_rows=min_rows,
        )
        if next_sentence_label is not None:
            _check("a next-sentence head on", isinstance(self.model, BertForPreTraining), type(self.model).__name__, "BertForPreTraining")
            result.nsp_logits = cast(BertForPreTraining, self.model).cls.seq_relationship(out.pooler_output)
            nsp_labels = next_sentence_label.to(result.nsp_logits.device)
            result.nsp_loss = cross_entropy(result.nsp_logits, nsp_labels)
            result.nsp_correct = (result.nsp_logits.detach().argmax(-1) == nsp_labels).sum()
        return result
