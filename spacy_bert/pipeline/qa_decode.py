"""Answers from per-window logits, exactly as Hugging Face post-processes them (numpy only).

Two modes (the `bert_qa` component's `scoring`):

- `"pipeline"`: transformers 4.x `QuestionAnsweringPipeline.postprocess` (`select_starts_ends`,
  `decode_spans`, `get_indices`, `get_answer`): per window, the logits of positions that cannot
  answer (question, [SEP], padding) become -10000 and start and end are softmaxed over [CLS] +
  context; with `handle_impossible` the null score is the minimum over windows of
  p_start[CLS] * p_end[CLS]; [CLS] is then zeroed, span scores are p_start * p_end for
  end - start < `max_answer_len`, the `top_k` best per window are kept (a `top_k` beyond the
  window's valid spans keeps all of them: fewer answers, never Hugging Face's 0-score cells of
  [CLS], reversed or too-long spans), answers are widened to
  whole words (`align_to_words`), answers with equal text (case-insensitive) are merged by
  adding their scores, and all windows' answers are ranked together.
- `"squad"`: `utils_qa.postprocess_qa_predictions` of `run_qa.py`: per window the `n_best_size`
  best start and end logits, spans of context pieces with end - start + 1 <= `max_answer_len`,
  score = start logit + end logit; with `handle_impossible` (SQuAD v2.0) the null score is the
  minimum over windows of the [CLS] logit sums, and the null answer wins when
  null - best > `null_score_diff_threshold`. An answer's `score` is its probability (softmax over
  the n-best scores), as in Hugging Face's n-best file.

The windows are the component's unpadded windows: Hugging Face on features without padding.
An answer dict is `{"score", "start", "end", "answer"}` with `answer == context[start:end]`;
the null answer is `{"score", "start": 0, "end": 0, "answer": ""}`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = ["DecodeSettings", "WindowView", "decode_pipeline", "decode_squad", "DEFAULT_MAX_ANSWER_LEN"]

#: Hugging Face's default answer length per mode (pipeline `max_answer_len`, run_qa `max_answer_length`).
DEFAULT_MAX_ANSWER_LEN = {"pipeline": 15, "squad": 30}


@dataclass(frozen=True)
class DecodeSettings:
    scoring: str = "squad"
    top_k: int = 1
    handle_impossible: bool = False
    max_answer_len: Optional[int] = None
    n_best_size: int = 20
    null_score_diff_threshold: float = 0.0

    @property
    def answer_len(self) -> int:
        return self.max_answer_len if self.max_answer_len is not None else DEFAULT_MAX_ANSWER_LEN[self.scoring]


@dataclass
class WindowView:
    """One window of one pair, on the host.

    start_logits, end_logits: (positions,) float32, [CLS] at 0.
    content_offset (int): position of the window's first context piece.
    offsets: (length, 2) int char [start, end) of the window's context pieces.
    word_start: (length,) bool, the piece begins a word.
    """

    start_logits: np.ndarray
    end_logits: np.ndarray
    content_offset: int
    offsets: np.ndarray
    word_start: np.ndarray

    @property
    def length(self) -> int:
        return len(self.offsets)


def _word_span(view: WindowView, k: int) -> tuple:
    """(first, last) context index of the word containing piece k, inside this window
    (Hugging Face's `word_to_chars` on the window's encoding sees only its pieces)."""
    first = k
    while first > 0 and not view.word_start[first]:
        first -= 1
    last = k
    while last + 1 < view.length and not view.word_start[last + 1]:
        last += 1
    return first, last


def _softmax_hf(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum()


def decode_pipeline(context: str, windows: Sequence[WindowView], settings: DecodeSettings) -> List[Dict]:
    """transformers 4.x QuestionAnsweringPipeline's answers for one question (a list, best first)."""
    min_null_score = 1000000.0
    answers: List[Dict] = []
    max_len = settings.answer_len
    for view in windows:
        n = len(view.start_logits)
        c = view.content_offset
        desired = np.zeros(n, dtype=bool)
        desired[0] = True
        desired[c : c + view.length] = True
        start = _softmax_hf(np.where(desired, view.start_logits, np.float32(-10000.0)).astype(np.float32))
        end = _softmax_hf(np.where(desired, view.end_logits, np.float32(-10000.0)).astype(np.float32))
        if settings.handle_impossible:
            min_null_score = min(min_null_score, float(start[0] * end[0]))
        start[0] = end[0] = 0.0
        candidates = np.tril(np.triu(np.outer(start, end)), max_len - 1)
        flat = candidates.flatten()
        top_k = settings.top_k
        if top_k == 1:
            order = np.array([np.argmax(flat)])
        elif len(flat) <= top_k:  # Hugging Face's `<` makes argpartition fail at top_k == len(flat)
            order = np.argsort(-flat)
        else:
            idx = np.argpartition(-flat, top_k)[0:top_k]
            order = idx[np.argsort(-flat[idx])]
        starts, ends = np.unravel_index(order, candidates.shape)
        # Hugging Face keeps any top_k cells of the matrix, so a top_k beyond the valid spans
        # also returns its zeroed cells ([CLS], end before start, too long) as 0-score
        # answers; only real spans are answers here: a large top_k gives all, fewer than top_k.
        valid = (starts > 0) & (ends >= starts) & (ends - starts < max_len)
        keep = desired[starts] & desired[ends] & valid
        for s, e in zip(starts[keep].tolist(), ends[keep].tolist()):
            score = candidates[s, e]
            start_char, end_char = _chars(view, s, e)
            text = context[start_char:end_char]
            same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
            if same is not None:
                same["score"] += score.item()
            else:
                answers.append({"score": score.item(), "start": start_char, "end": end_char, "answer": text})
    if settings.handle_impossible:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda a: a["score"], reverse=True)[: settings.top_k]


def _chars(view: WindowView, s: int, e: int) -> tuple:
    """Hugging Face's `get_indices` with align_to_words: the chars of the words of positions s
    and e; a position outside the context ([CLS]) falls back to its offsets, (0, 0)."""
    c = view.content_offset
    ks, ke = s - c, e - c
    if 0 <= ks < view.length and 0 <= ke < view.length:
        return int(view.offsets[_word_span(view, ks)[0], 0]), int(view.offsets[_word_span(view, ke)[1], 1])
    start_char = int(view.offsets[ks, 0]) if 0 <= ks < view.length else 0
    end_char = int(view.offsets[ke, 1]) if 0 <= ke < view.length else 0
    return start_char, end_char


def decode_squad(context: str, windows: Sequence[WindowView], settings: DecodeSettings) -> List[Dict]:
    """utils_qa.postprocess_qa_predictions' answer for one question, first, then the rest of
    the n-best list (up to `top_k`)."""
    n_best, max_len = settings.n_best_size, settings.answer_len
    min_null = None
    prelim: List[Dict] = []
    for view in windows:
        start_logits, end_logits = view.start_logits, view.end_logits
        c, length = view.content_offset, view.length
        null = start_logits[0] + end_logits[0]
        if min_null is None or min_null["score"] > null:
            min_null = {"offsets": (0, 0), "score": null, "start_logit": start_logits[0], "end_logit": end_logits[0]}
        start_indexes = np.argsort(start_logits)[-1 : -n_best - 1 : -1].tolist()
        end_indexes = np.argsort(end_logits)[-1 : -n_best - 1 : -1].tolist()
        for s in start_indexes:
            for e in end_indexes:
                if not (c <= s < c + length and c <= e < c + length):
                    continue  # offset_mapping is None outside the context
                if e < s or e - s + 1 > max_len:
                    continue
                prelim.append(
                    {
                        "offsets": (int(view.offsets[s - c, 0]), int(view.offsets[e - c, 1])),
                        "score": start_logits[s] + end_logits[e],
                        "start_logit": start_logits[s],
                        "end_logit": end_logits[e],
                    }
                )
    if settings.handle_impossible and min_null is not None:
        prelim.append(min_null)
        null_score = min_null["score"]
    predictions = sorted(prelim, key=lambda x: x["score"], reverse=True)[:n_best]
    if settings.handle_impossible and min_null is not None and not any(p["offsets"] == (0, 0) for p in predictions):
        predictions.append(min_null)
    for pred in predictions:
        pred["text"] = context[pred["offsets"][0] : pred["offsets"][1]]
    if len(predictions) == 0 or (len(predictions) == 1 and predictions[0]["text"] == ""):
        predictions.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0, "offsets": None})
    scores = np.array([pred["score"] for pred in predictions])
    exp_scores = np.exp(scores - np.max(scores))
    probs = exp_scores / exp_scores.sum()
    for prob, pred in zip(probs, predictions):
        pred["probability"] = prob
    if not settings.handle_impossible:
        chosen = predictions[0]
    else:
        i = 0
        while predictions[i]["text"] == "":
            i += 1
        best = predictions[i]
        diff = null_score - best["start_logit"] - best["end_logit"]
        chosen = min_null if diff > settings.null_score_diff_threshold and min_null is not None else best
    ranked = [chosen] + [p for p in predictions if p is not chosen]
    answers = []
    for pred in ranked:
        if pred["offsets"] is None:  # Hugging Face's "empty" placeholder: no span of the context
            continue
        start_char, end_char = pred["offsets"]
        answers.append({"score": float(pred["probability"]), "start": start_char, "end": end_char, "answer": context[start_char:end_char]})
    return answers[: settings.top_k]
