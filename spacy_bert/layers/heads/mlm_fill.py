"""Fill-mask on the encoder stages: `fill_masks` (Hugging Face's fill-mask scores) and
`score_word_candidates` (whole candidate words, scored jointly).

Both run the stages every component runs: encode -> `plan_inputs` -> a hook
(`label_pieces`: the pieces to score, each in the window where it has the most context) ->
`run_batches` -> `BertShim.predict`, with `MaskedLMAdapter` (`layers/heads/mlm.py`) around the
shim's prediction model (the component's `precision`: the encoder in int8/bf16, the MLM head
in fp32). Only the scored positions are projected onto the vocabulary, and what leaves torch
is (n_masks, k) ids and probabilities, or one log-probability per scored piece.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...modeling.encoder import MIN_PROJECTED_ROWS
from ..stages.encode import EncodedInputs, encode_inputs
from ..stages.hooks import IGNORE_INDEX, label_pieces
from .mlm import MaskedLMAdapter
from ..stages.run import loaded_tokenizer, plan_inputs, run_batches
from ..settings import EncoderSettings
from ..shim.bert_shim import BertShim

__all__ = ["FilledMasks", "fill_masks", "score_word_candidates"]


@dataclass
class FilledMasks:
    """Predictions for the `[MASK]` pieces of one text.

    Attributes:
        pieces (np.ndarray): (n_masks,) int64 piece index of each mask in the text's encoding.
        offsets (np.ndarray): (n_masks, 2) int64 char [start, end) of each mask in the text.
        ids (np.ndarray): (n_masks, k) int64 predicted ids, best first.
        scores (np.ndarray): (n_masks, k) float32 probabilities over the full vocabulary.
        piece_ids (np.ndarray): (n_pieces,) int64 the text's piece ids (for `sequence`).
    """

    pieces: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray
    scores: np.ndarray
    piece_ids: np.ndarray


def fill_masks(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    top_k: int,
    target_ids: Optional[np.ndarray] = None,
) -> List[FilledMasks]:
    """Top-k predictions for every `[MASK]` of every text (Hugging Face's fill-mask scores).

    Every mask is scored in the window where it has the most context (`windows.py`), so a
    mask at piece 5,000 sees context on both sides; only the windows holding a scored mask run.

    Args:
        shim (BertShim): holds a `BertForMaskedLM` / `BertForPreTraining` and its tokenizer.
        settings (EncoderSettings): windows and batch budget, fitted to the model.
        texts (Sequence[str]): the texts; a text without a mask gets an empty result and costs
            no forward pass.
        top_k (int): predictions per mask (capped at the number of targets, as Hugging Face).
        target_ids (Optional[np.ndarray]): (n_targets,) int64: score only these ids
            (probabilities still over the full vocabulary, not renormalised).
    """
    tokenizer = loaded_tokenizer(shim)
    mask_id = tokenizer.mask_token_id
    encoded = encode_inputs(tokenizer, texts)
    masks = [np.flatnonzero(ids == mask_id) for ids in encoded.piece_ids]
    k = top_k if target_ids is None else min(top_k, len(target_ids))
    results = [
        FilledMasks(
            pieces=m.astype(np.int64),
            offsets=offsets[m].astype(np.int64).reshape(-1, 2),
            ids=np.zeros((len(m), k), dtype=np.int64),
            scores=np.zeros((len(m), k), dtype=np.float32),
            piece_ids=ids.astype(np.int64),
        )
        for m, ids, offsets in zip(masks, encoded.piece_ids, encoded.piece_offsets)
    ]
    if not any(len(m) for m in masks):
        return results
    # (text, mask number, piece) of every mask, in text order
    text_of = np.concatenate([np.full(len(m), t, dtype=np.int64) for t, m in enumerate(masks)])
    number_of = np.concatenate([np.arange(len(m), dtype=np.int64) for m in masks])
    piece_of = np.concatenate(masks).astype(np.int64)

    def windows_with_masks(plan) -> np.ndarray:
        return np.unique(np.array([plan.source_window[t][p] for t, p in zip(text_of.tolist(), piece_of.tolist())], dtype=np.int64))

    plan, batches = plan_inputs(encoded, settings, tokenizer, select=windows_with_masks)
    order = label_pieces(batches, plan, text_of, piece_of, np.full(len(piece_of), mask_id, dtype=np.int64))
    targets = None if target_ids is None else np.asarray(target_ids, dtype=np.int64)
    min_rows = MIN_PROJECTED_ROWS if settings.batch_invariant else 1
    run = run_batches(
        shim, batches, plan.n_windows, is_train=False, adapter=MaskedLMAdapter,
        extra=lambda batch: {"scored": batch.labels != IGNORE_INDEX, "top_k": k, "targets": targets, "min_rows": min_rows},
    )
    for rows, out in zip(order, run.outputs):
        top_ids, top_scores = out.top_ids.cpu().numpy(), out.top_scores.cpu().numpy()
        for i, g in enumerate(rows.tolist()):
            results[text_of[g]].ids[number_of[g]] = top_ids[i]
            results[text_of[g]].scores[number_of[g]] = top_scores[i]
    return results


def score_word_candidates(
    shim: BertShim,
    settings: EncoderSettings,
    text: str,
    candidates: Sequence[str],
) -> List[Tuple[List[int], float]]:
    """Joint log-probability of each candidate word in the one `[MASK]` of `text`.

    The mask becomes as many `[MASK]` pieces as the candidate has, and the pieces are scored
    left to right by the chain rule (the pseudo-likelihood of Salazar et al. 2020, decoded
    in order): log P(w) = sum_i log P(p_i | context, p_<i, masks for p_>i). A one-piece
    candidate gets exactly Hugging Face's fill-mask score (n = 1). Each (candidate, step)
    input is the text's pieces around the mask, at most `settings.window` positions centred
    on it (the context a long text has); they run as the inputs of the stages, each a window.

    Returns, per candidate, (its piece ids, log-probability).
    """
    tokenizer = loaded_tokenizer(shim)
    mask_id = tokenizer.mask_token_id
    ids = np.asarray(encode_inputs(tokenizer, [text]).piece_ids[0], dtype=np.int64)
    where = np.flatnonzero(ids == mask_id)
    assert len(where) == 1, "the caller checks that the text has exactly one mask"
    m = int(where[0])
    pieces = [np.asarray(encode_inputs(tokenizer, [c]).piece_ids[0], dtype=np.int64) for c in candidates]
    rows: List[np.ndarray] = []
    targets: List[Tuple[int, int, int]] = []  # (candidate, scored piece of the row, target id)
    for c, word in enumerate(pieces):
        n = len(word)
        budget = settings.window - 2
        context = max(0, budget - n)
        left = ids[max(0, m - context // 2) : m]
        right = ids[m + 1 : m + 1 + (context - len(left))]
        left = ids[max(0, m - (context - len(right))) : m]  # give unused right room to the left
        for i in range(n):
            rows.append(np.concatenate([left, word[:i], np.full(n - i, mask_id), right]).astype(np.int64))
            targets.append((c, len(left) + i, int(word[i])))
    log_probs = np.zeros(len(pieces), dtype=np.float64)
    if not rows:
        return [(w.tolist(), float("-inf") if not len(w) else 0.0) for w in pieces]
    no_segment = np.zeros(0, dtype=np.int64)
    encoded = EncodedInputs(
        piece_ids=rows, piece_offsets=[np.zeros((len(r), 2), dtype=np.int32) for r in rows], segment_ids=[no_segment] * len(rows)
    )
    plan, batches = plan_inputs(encoded, settings, tokenizer)
    order = label_pieces(
        batches, plan, np.arange(len(rows), dtype=np.int64),
        np.array([t[1] for t in targets], dtype=np.int64), np.array([t[2] for t in targets], dtype=np.int64),
    )
    min_rows = MIN_PROJECTED_ROWS if settings.batch_invariant else 1
    run = run_batches(
        shim, batches, plan.n_windows, is_train=False, pass_labels=True, adapter=MaskedLMAdapter,
        extra=lambda batch: {"top_k": None, "label_log_probs": True, "min_rows": min_rows},
    )
    for rows_of_batch, out in zip(order, run.outputs):
        for g, value in zip(rows_of_batch.tolist(), out.label_log_probs.cpu().numpy().tolist()):
            log_probs[targets[g][0]] += value
    return [(w.tolist(), float(lp) if len(w) else float("-inf")) for w, lp in zip(pieces, log_probs)]
