"""Answers from per-window logits, exactly as Hugging Face post-processes them (numpy only).

Two modes (the `bert_qa` component's `scoring`):

- `"pipeline"`: transformers 4.x `QuestionAnsweringPipeline.postprocess` (4.53, the last form of
  `select_starts_ends`, `decode_spans`, `get_indices`, `get_answer`): per window, the logits of
  positions that cannot answer (question, [SEP], padding) become -10000 and start and end are
  softmaxed over [CLS] + context; with `handle_impossible` the null score is the minimum over
  windows of p_start[CLS] * p_end[CLS]; [CLS] is then zeroed, span scores are p_start * p_end
  for 0 <= end - start < `max_answer_len`, and the `top_k` best (start piece, end piece) PAIRS
  of each window are kept. Only then is each pair mapped to characters: with `align_to_words`
  (default) to the whole words of its first and last piece (a pair starting at `##ibe` of
  "illiberal" gives "illiberal ..."), else to the pieces' own offsets. Several pairs can so give
  the same text: the pipeline merges answers whose texts are equal ignoring case by ADDING their
  scores (the first pair met keeps its offsets), so the same text is never returned twice (the
  null answer "" is appended after merging, with its own score). All windows' answers are
  ranked together and the first `top_k` returned.

  Two deliberate differences, both only where Hugging Face returns FEWER than `top_k` answers:
  (1) a `top_k` beyond a window's valid spans returns Hugging Face's zeroed cells ([CLS],
  reversed or too-long spans) as 0-score answers there; here only real spans are answers.
  (2) Hugging Face keeps `top_k` pairs per window before merging equal texts, so merged pairs
  leave fewer than `top_k` answers although more spans exist (its "fewer answers than top_k"
  bug). Here the list is then filled: the next-best pairs of all windows, best first, each
  whose text is new adds one answer with that pair's score. Whenever Hugging Face returns
  `top_k` answers the two lists are equal (texts, offsets, scores); when it returns fewer,
  its answers are all here with their scores, ranked as it ranks them, among the filled ones.
- `"squad"`: `utils_qa.postprocess_qa_predictions` of `run_qa.py`: per window the `n_best_size`
  best start and end logits, spans of context pieces with end - start + 1 <= `max_answer_len`,
  score = start logit + end logit; with `handle_impossible` (SQuAD v2.0) the null score is the
  minimum over windows of the [CLS] logit sums, and the null answer wins when
  null - best > `null_score_diff_threshold`. An answer's `score` is its probability (softmax over
  the n-best scores), as in Hugging Face's n-best file.

The windows are the component's unpadded windows: Hugging Face on features without padding.
An answer dict is `{"score", "start", "end", "answer", "logit"}` with
`answer == context[start:end]`; the null answer is `{"score", "start": 0, "end": 0, "answer": ""}`.
`logit` is the answer's raw start + end logit (of its best pair; the null answer's: the minimum
over windows of the [CLS] sums): not normalised per window, so comparable across windows and
documents; calibration (`qa_calibration.py`) reads it and the component drops it from answers.
The null answer also carries `best_span` ({"score", "logit"} of the best span answer, or None),
which calibration reads for the null answer's calibrated score, and which is dropped likewise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

import numpy as np

if TYPE_CHECKING:  # the windows come from the torch side; decoding needs numpy only
    from ..layers.heads.qa import QAWindows

__all__ = ["DecodeSettings", "WindowView", "decode_pipeline", "decode_squad", "decode_windows", "DEFAULT_MAX_ANSWER_LEN"]

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
    align_to_words: bool = True

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


def _window_pairs(view: WindowView, settings: DecodeSettings, min_null_score: float) -> tuple:
    """One window's span scores as `select_starts_ends` computes them.

    Returns (candidates, logits, desired, min_null_score): candidates (n, n) float32 p_start *
    p_end with [CLS], reversed and too-long pairs 0; logits (n, n) start + end logits; desired
    (n,) bool, the positions that may answer ([CLS] and the context)."""
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
    candidates = np.tril(np.triu(np.outer(start, end)), settings.answer_len - 1)
    logits = view.start_logits.astype(np.float64)[:, None] + view.end_logits.astype(np.float64)[None, :]
    return candidates, logits, desired, min_null_score


def _top_cells(flat: np.ndarray, top_k: int) -> np.ndarray:
    """`decode_spans`' choice of the top_k cells of a flattened matrix, best first."""
    if top_k == 1:
        return np.array([np.argmax(flat)])
    if len(flat) <= top_k:  # Hugging Face's `<` makes argpartition fail at top_k == len(flat)
        return np.argsort(-flat)
    idx = np.argpartition(-flat, top_k)[0:top_k]
    return idx[np.argsort(-flat[idx])]


def decode_pipeline(context: str, windows: Sequence[WindowView], settings: DecodeSettings) -> List[Dict]:
    """transformers 4.x QuestionAnsweringPipeline's answers for one question (a list, best
    first), filled up to `top_k` where its per-window merge leaves fewer (module docstring)."""
    min_null_score = 1000000.0
    answers: List[Dict] = []
    by_text: Dict[str, Dict] = {}
    max_len = settings.answer_len
    rest = []  # (score, window index, s, e) of valid pairs beyond each window's top_k
    per_window = []
    for w, view in enumerate(windows):
        candidates, logits, desired, min_null_score = _window_pairs(view, settings, min_null_score)
        per_window.append((candidates, logits))
        flat = candidates.flatten()
        order = _top_cells(flat, settings.top_k)
        starts, ends = np.unravel_index(order, candidates.shape)
        # Hugging Face keeps any top_k cells of the matrix, so a top_k beyond the valid spans
        # also returns its zeroed cells ([CLS], end before start, too long) as 0-score
        # answers; only real spans are answers here.
        valid = (starts > 0) & (ends >= starts) & (ends - starts < max_len)
        keep = desired[starts] & desired[ends] & valid
        for s, e in zip(starts[keep].tolist(), ends[keep].tolist()):
            _add_pair(context, view, s, e, float(candidates[s, e]), float(logits[s, e]), settings, answers, by_text, merge=True)
        if len(answers) < settings.top_k:
            taken = set(order[keep].tolist())
            c = view.content_offset
            for s in range(c, c + view.length):
                for e in range(s, min(s + max_len, c + view.length)):
                    if s * candidates.shape[1] + e not in taken:
                        rest.append((float(candidates[s, e]), w, s, e))
    if len(answers) < settings.top_k and rest:
        rest.sort(key=lambda r: -r[0])  # stable: window order, then position, among equal scores
        for score, w, s, e in rest:
            if len(answers) >= settings.top_k:
                break
            candidates, logits = per_window[w]
            _add_pair(context, windows[w], s, e, score, float(logits[s, e]), settings, answers, by_text, merge=False)
    if settings.handle_impossible:
        null_logit = min(float(v.start_logits[0]) + float(v.end_logits[0]) for v in windows) if windows else 0.0
        best = max(answers, key=lambda a: a["score"], default=None)
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": "", "logit": null_logit, "best_span": _features(best)})
    return sorted(answers, key=lambda a: a["score"], reverse=True)[: settings.top_k]


def _features(answer: Optional[Dict]) -> Optional[Dict]:
    return None if answer is None else {"score": answer["score"], "logit": answer["logit"]}


def _add_pair(context: str, view: WindowView, s: int, e: int, score: float, logit: float, settings: DecodeSettings, answers: List[Dict], by_text: Dict[str, Dict], merge: bool) -> None:
    """Hugging Face's `get_indices` + `get_answer`: the pair's text; an answer with the same
    text (ignoring case) adds the score (`merge`) or, when filling, is left as it is."""
    start_char, end_char = _chars(view, s, e, settings.align_to_words)
    text = context[start_char:end_char]
    same = by_text.get(text.lower())
    if same is not None:
        if merge:
            same["score"] += score
            same["logit"] = max(same["logit"], logit)
        return
    answer = {"score": score, "start": start_char, "end": end_char, "answer": text, "logit": logit}
    by_text[text.lower()] = answer
    answers.append(answer)


def _chars(view: WindowView, s: int, e: int, align_to_words: bool = True) -> tuple:
    """Hugging Face's `get_indices`: with align_to_words the chars of the words of positions s
    and e, else the pieces' own offsets; a position outside the context ([CLS]) falls back to
    its offsets, (0, 0)."""
    c = view.content_offset
    ks, ke = s - c, e - c
    if align_to_words and 0 <= ks < view.length and 0 <= ke < view.length:
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
    best_span = next((p for p in predictions if p["offsets"] not in (None, (0, 0))), None)
    answers = []
    for pred in ranked:
        if pred["offsets"] is None:  # Hugging Face's "empty" placeholder: no span of the context
            continue
        start_char, end_char = pred["offsets"]
        answer = {"score": float(pred["probability"]), "start": start_char, "end": end_char, "answer": context[start_char:end_char], "logit": float(pred["score"])}
        if pred["offsets"] == (0, 0):
            answer["best_span"] = None if best_span is None else {"score": float(best_span["probability"]), "logit": float(best_span["score"])}
        answers.append(answer)
    return answers[: settings.top_k]


def decode_windows(windows: "QAWindows", contexts: Sequence[str], settings: DecodeSettings) -> List[List[Dict]]:
    """Answers of each (context, question) pair of `windows`, ranked over all its windows by
    `settings.scoring` ("squad": `decode_squad`, "pipeline": `decode_pipeline`)."""
    decode = decode_squad if settings.scoring == "squad" else decode_pipeline
    by_pair: List[List[WindowView]] = [[] for _ in contexts]
    plan, starts, ends = windows.plan, windows.start_logits, windows.end_logits
    assert starts is not None and ends is not None  # qa_forward copies the logits to the host
    for w in range(plan.n_windows):
        i, s, n = int(plan.text_index[w]), int(plan.start[w]), int(plan.length[w])
        by_pair[i].append(
            WindowView(
                starts[w], ends[w], int(plan.content_offset[w]),
                windows.encoded.piece_offsets[i][s : s + n], windows.word_start[i][s : s + n],
            )
        )
    return [decode(context, views, settings) for context, views in zip(contexts, by_pair)]
