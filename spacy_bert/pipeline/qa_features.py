"""What `bert_qa` reads from Docs and trains on: the questions of a Doc (`read_questions`),
the gold answers of an Example (`gold_answers`) and run_qa.py's per-window training labels
(`window_labels`)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from spacy.tokens import Doc
from spacy.training import Example

from ..errors import Errors
from ..layers.heads.qa import QAWindows

__all__ = ["gold_answers", "read_questions", "window_labels"]


def _where(doc: Doc) -> str:
    text = doc.text
    return f" (in the Doc starting {text[:40]!r})" if text else " (in an empty Doc)"


def read_questions(doc: Doc) -> Optional[List[Tuple[str, str]]]:
    """(id, question) pairs of `doc._.questions`; None when it is not set. Raises E604 (type),
    E605 (empty question), E606 (duplicate id)."""
    value = doc._.questions
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise ValueError(Errors.E604.format(value=value, type_name=type(value).__name__, where=_where(doc)))
    pairs: List[Tuple[str, str]] = []
    seen = set()
    for i, item in enumerate(value):
        if isinstance(item, str):
            qid, question = str(i), item
        elif isinstance(item, dict) and isinstance(item.get("question"), str) and isinstance(item.get("id", str(i)), (str, int)):
            qid, question = str(item.get("id", i)), item["question"]
        else:
            raise ValueError(Errors.E604.format(value=item, type_name=type(item).__name__, where=f" at index {i}{_where(doc)}"))
        if not question.strip():
            raise ValueError(Errors.E605.format(qid=qid, value=question, where=_where(doc)))
        if qid in seen:
            raise ValueError(Errors.E606.format(qid=qid, where=_where(doc)))
        seen.add(qid)
        pairs.append((qid, question))
    return pairs


def gold_answers(example: Example, qid: str) -> List[Dict]:
    """The reference's gold answers of question `qid` (E610 for one whose text is not at its
    offsets)."""
    gold = example.reference._.answers or {}
    answers = gold.get(qid, [])
    text = example.reference.text
    if not isinstance(answers, list):
        raise ValueError(Errors.E610.format(qid=qid, value=answers))
    for a in answers:
        ok = isinstance(a, dict) and isinstance(a.get("start"), int) and isinstance(a.get("end"), int) and text[a["start"] : a["end"]] == a.get("answer")
        if not ok:
            raise ValueError(Errors.E610.format(qid=qid, value=a))
    return answers


def window_labels(windows: QAWindows, spans: Sequence[Optional[Tuple[int, int]]]) -> Tuple[np.ndarray, np.ndarray]:
    """run_qa.py's `prepare_train_features` labels: per window, the positions of the pieces that
    hold the answer's first and last characters, or 0 ([CLS]) when the window does not contain
    the whole answer or there is none.

    spans: per pair, the gold answer's char [start, end) or None (unanswerable).
    Returns (start_positions, end_positions), each (n_windows,) int64.

    One deliberate difference: when the answer starts in a window's last context piece,
    run_qa.py's start loop walks on over [SEP] and padding (their offsets are (0, 0)) and labels
    the window's last position; here the scan stops at the context's end and labels that piece.
    """
    plan = windows.plan
    starts = np.zeros(plan.n_windows, dtype=np.int64)
    ends = np.zeros(plan.n_windows, dtype=np.int64)
    for w in range(plan.n_windows):
        i = int(plan.text_index[w])
        span = spans[i]
        n = int(plan.length[w])
        if span is None or n == 0:
            continue
        start_char, end_char = span
        s = int(plan.start[w])
        offsets = windows.encoded.piece_offsets[i][s : s + n]
        if not (offsets[0, 0] <= start_char and offsets[n - 1, 1] >= end_char):
            continue
        # Hugging Face: move right while the piece starts at or before start_char, then back one;
        # move left while the piece ends at or after end_char, then forward one.
        k = 0
        while k < n and offsets[k, 0] <= start_char:
            k += 1
        first = k - 1
        k = n - 1
        while k >= 0 and offsets[k, 1] >= end_char:
            k -= 1
        last = k + 1
        c = int(plan.content_offset[w])
        starts[w], ends[w] = c + first, c + last
    return starts, ends
