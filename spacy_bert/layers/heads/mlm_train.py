"""Masked-LM (+NSP) pretraining on the encoder stages: `mlm_update` and `mlm_evaluate`.

The stages are every component's: encode -> `plan_inputs` -> a hook (`MaskPieces`: BERT's
80/10/10, of pieces or of whole words) -> `run_batches(pass_labels=True)` ->
`BertShim.begin_update` (training) or `BertShim.predict` on the fp32 model (the scores of
`spacy train`), with `MaskedLMAdapter` (`layers/heads/mlm.py`) around the model: only the masked
positions are projected onto the vocabulary. NSP pairs are inputs with a second segment:
sentence A is the segment, B the text (`[CLS] A [SEP] B [SEP]`, token types 1 from B on).

Gradients: each batch runs forward and backward at once, its loss weighted by its share of
all masked pieces (and of all pairs), so the gradient is exactly that of Hugging Face's mean
cross-entropy over every masked piece of the update, with the activations of one batch in
memory (a 1,000,000-character line is hundreds of windows). The backward is thinc's
(`WindowOutputs.backward`): with `mixed_precision = true` on CUDA, the grad scaler scales
each batch's loss and unscales the gradients (`BertShim.rescale_gradients` keeps the
gradients of earlier batches right across the per-batch unscales).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ...tokenization import BertTokenizer
from ..stages.batching import PaddedBatch
from ..stages.encode import EncodedInputs, encode_inputs
from ..stages.hooks import IGNORE_INDEX, PieceHook, apply_hook
from .mlm import MaskedLMAdapter, MaskedLMResult
from ..stages.run import WindowOutputs, loaded_tokenizer, plan_inputs, run_batches
from ..settings import EncoderSettings
from ..shim.bert_shim import BertShim
from ..stages.windows import WindowPlan

__all__ = ["MaskedLMStats", "PairInputs", "mlm_begin_update", "mlm_evaluate", "mlm_update", "plan_mlm_inputs"]


@dataclass
class PairInputs:
    """NSP pairs, already piece ids: A and B per pair and the label (0 continuation, 1 random)."""

    a_ids: List[np.ndarray]
    b_ids: List[np.ndarray]
    labels: np.ndarray


@dataclass
class MaskedLMStats:
    """Sums over an evaluation or an update: masked pieces, their summed loss, top-1 hits, NSP."""

    n_masked: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    n_pairs: int = 0
    nsp_correct: int = 0
    nsp_loss_sum: float = 0.0


def plan_mlm_inputs(
    tokenizer: BertTokenizer,
    settings: EncoderSettings,
    texts: Sequence[str],
    pairs: Optional[PairInputs] = None,
    word_starts: Optional[Sequence[np.ndarray]] = None,
) -> Tuple[WindowPlan, List[PaddedBatch]]:
    """`plan_inputs` for the texts' windows (MLM) or for NSP pairs (A the second segment, B the text).

    word_starts (Optional[Sequence[np.ndarray]]): per text, the sorted char starts of its
        words (spaCy tokens); then each batch gets `word_ids` (whole-word masking).
    """
    if pairs is not None:
        no_offsets = [np.zeros((len(b), 2), dtype=np.int32) for b in pairs.b_ids]
        encoded = EncodedInputs(piece_ids=list(pairs.b_ids), piece_offsets=no_offsets, segment_ids=list(pairs.a_ids))
    else:
        encoded = encode_inputs(tokenizer, texts)
    plan, batches = plan_inputs(encoded, settings, tokenizer)
    if word_starts is not None:
        _set_word_ids(batches, plan, encoded, word_starts)
    return plan, batches


def _set_word_ids(batches: Sequence[PaddedBatch], plan: WindowPlan, encoded: EncodedInputs, word_starts: Sequence[np.ndarray]) -> None:
    """`batch.word_ids`: the word of each piece is the last word starting at or before the
    piece's first char; ids are offset per text so that words of different texts never share one."""
    offset = np.cumsum([0] + [len(w) for w in word_starts])
    piece_words = [
        np.searchsorted(np.asarray(starts, dtype=np.int64), offsets[:, 0], side="right") - 1 + offset[t]
        for t, (starts, offsets) in enumerate(zip(word_starts, encoded.piece_offsets))
    ]
    for batch in batches:
        word_ids = np.full(batch.input_ids.shape, -1, dtype=np.int64)
        for row, w in enumerate(batch.windows.tolist()):
            t, start, n = int(plan.text_index[w]), int(plan.start[w]), int(plan.length[w])
            word_ids[row, 1 : 1 + n] = piece_words[t][start : start + n]
        batch.word_ids = word_ids


def _pair_labels(plan: WindowPlan, pairs: Optional[PairInputs]) -> Callable[[PaddedBatch], dict]:
    """The adapter's keyword arguments of a batch: its pairs' NSP labels (a pair is one window)."""
    if pairs is None:
        return lambda batch: {"top_k": None}
    labels = np.asarray(pairs.labels, dtype=np.int64)
    return lambda batch: {"top_k": None, "next_sentence_label": labels[plan.text_index[batch.windows]]}


def _n_scored(batch: PaddedBatch) -> int:
    """The masked pieces of a hooked batch (its labels other than IGNORE_INDEX)."""
    return 0 if batch.labels is None else int(np.count_nonzero(batch.labels != IGNORE_INDEX))


def _has_work(batch: PaddedBatch, pairs: Optional[PairInputs]) -> bool:
    """A batch runs when it has a masked piece or NSP pairs (very short texts may have neither)."""
    return pairs is not None or _n_scored(batch) > 0


def _add_batch(stats: MaskedLMStats, out: MaskedLMResult, batch: PaddedBatch, n_masked: int, n_pairs: int) -> torch.Tensor:
    """Add one batch's numbers to `stats`; return its loss weighted by its share of the update's
    masked pieces and pairs (a () tensor; summed over batches: Hugging Face's loss)."""
    n = _n_scored(batch)
    loss = torch.zeros((), device=out.positions.device)
    if n:
        assert out.loss is not None and out.correct is not None  # the batch ran with its labels
        loss = loss + out.loss * (n / n_masked)
        stats.loss_sum += float(out.loss.detach()) * n
        stats.correct += int(out.correct)
    if out.nsp_logits is not None:
        assert out.nsp_loss is not None and out.nsp_correct is not None  # set with nsp_logits
        n_batch_pairs = len(batch.windows)
        loss = loss + out.nsp_loss * (n_batch_pairs / n_pairs)
        stats.nsp_loss_sum += float(out.nsp_loss.detach()) * n_batch_pairs
        stats.nsp_correct += int(out.nsp_correct)
    return loss


def _train_pass(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    hook: PieceHook,
    rng: np.random.Generator,
    pairs: Optional[PairInputs],
    word_starts: Optional[Sequence[np.ndarray]],
    eager: bool,
) -> Tuple[float, MaskedLMStats, Callable[[float], None]]:
    """Plan, hook every batch (in order, one generator), run each batch in training mode.

    eager: backward right after each batch's forward (one batch's activations in memory; the
    returned backprop does nothing). Otherwise the graphs are kept and the returned
    backprop(d_loss) runs one backward over all batches (thinc's contract)."""
    plan, batches = plan_mlm_inputs(loaded_tokenizer(shim), settings, texts, pairs, word_starts)
    for batch in batches:
        apply_hook(hook, batch, rng)
    n_masked = sum(_n_scored(b) for b in batches)
    n_pairs = 0 if pairs is None else len(pairs.labels)
    stats = MaskedLMStats(n_masked=n_masked, n_pairs=n_pairs)
    extra = _pair_labels(plan, pairs)
    runs: List[WindowOutputs] = []
    losses: List[torch.Tensor] = []
    for batch in batches:
        if not _has_work(batch, pairs):
            continue
        run = run_batches(shim, [batch], plan.n_windows, is_train=True, pass_labels=True, adapter=MaskedLMAdapter, extra=extra)
        loss = _add_batch(stats, run.outputs[0], batch, n_masked, n_pairs)
        if eager:
            shim.rescale_gradients()  # this backprop unscales every gradient, also earlier batches'
            run.backward([loss], [torch.ones_like(loss)])
        else:
            runs.append(run)
            losses.append(loss)

    def backprop(d_loss: float) -> None:
        if runs:
            shim.rescale_gradients()
            runs[-1].backward(losses, [torch.full_like(loss, float(d_loss)) for loss in losses])

    total = (stats.loss_sum / max(n_masked, 1)) + (stats.nsp_loss_sum / n_pairs if n_pairs else 0.0)
    return total, stats, backprop


def mlm_update(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    hook: PieceHook,
    rng: np.random.Generator,
    pairs: Optional[PairInputs] = None,
    word_starts: Optional[Sequence[np.ndarray]] = None,
) -> Tuple[float, MaskedLMStats]:
    """One MLM (+NSP) forward and backward over `texts` (or `pairs`), batch by batch; gradients
    accumulate in the shim's model (thinc's `finish_update` applies them).

    The loss is Hugging Face's: mean cross-entropy over all masked pieces of the update, plus,
    with `pairs`, the mean NSP cross-entropy over the pairs (`BertForPreTraining`'s sum).
    `word_starts` (per text, char starts of its words) gives a whole-word hook its words.
    Returns (loss, stats).
    """
    total, stats, _ = _train_pass(shim, settings, texts, hook, rng, pairs, word_starts, eager=True)
    return total, stats


def mlm_begin_update(
    shim: BertShim, settings: EncoderSettings, texts: Sequence[str], hook: PieceHook, rng: np.random.Generator
) -> Tuple[Tuple[float, MaskedLMStats], Callable[[float], None]]:
    """thinc's form of `mlm_update` (the `bert_fill_mask` model's training forward): the loss
    of `texts` and a backprop taking d(loss) that runs one backward over all batches (so the
    activations of every batch are kept until then; `mlm_update` holds one batch's)."""
    total, stats, backprop = _train_pass(shim, settings, texts, hook, rng, None, None, eager=False)
    return (total, stats), backprop


def mlm_evaluate(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    hooks: Sequence[PieceHook],
    seeds: Sequence[int],
    pairs: Optional[PairInputs] = None,
    word_starts: Optional[Sequence[np.ndarray]] = None,
) -> MaskedLMStats:
    """Masked-LM statistics without gradients, by the fp32 model; text (or pair) i is masked
    with its own generator seeded by `seeds[i]` (a stable checksum of the text), so two
    evaluations mask identically whatever the batching. `hooks` holds one hook (used for all)."""
    stats = MaskedLMStats()
    hook = hooks[0]
    items = range(len(texts)) if pairs is None else range(len(pairs.labels))
    for i in items:
        rng = np.random.default_rng(int(seeds[i]))
        if pairs is None:
            one_pairs = None
            plan, batches = plan_mlm_inputs(loaded_tokenizer(shim), settings, [texts[i]], None, None if word_starts is None else [word_starts[i]])
        else:
            one_pairs = PairInputs([pairs.a_ids[i]], [pairs.b_ids[i]], pairs.labels[i : i + 1])
            plan, batches = plan_mlm_inputs(loaded_tokenizer(shim), settings, [], one_pairs)
        extra = _pair_labels(plan, one_pairs)
        for batch in batches:
            apply_hook(hook, batch, rng)
            if not _has_work(batch, one_pairs):
                continue
            out = run_batches(shim, [batch], plan.n_windows, is_train=False, pass_labels=True, adapter=MaskedLMAdapter, extra=extra, fp32=True).outputs[0]
            n = _n_scored(batch)
            if n:
                stats.n_masked += n
                stats.loss_sum += float(out.loss) * n
                stats.correct += int(out.correct)
            if out.nsp_logits is not None:
                stats.n_pairs += len(batch.windows)
                stats.nsp_loss_sum += float(out.nsp_loss) * len(batch.windows)
                stats.nsp_correct += int(out.nsp_correct)
    return stats
