"""SQuAD's official metrics (the v2.0 evaluation script's rules, which equal v1.1's on answerable
questions), on `doc._.answers` (predicted) against the reference Doc's `_.answers` (gold).

- normalisation: lowercase, punctuation removed, articles (a, an, the) removed, whitespace
  collapsed;
- exact match and token F1 per question, the maximum over its gold answers; an unanswerable
  question's gold is the empty answer (only an empty prediction scores);
- a question without a prediction scores 0;
- `qa_exact`, `qa_f1` over all questions, and `qa_has_ans_*` / `qa_no_ans_*` over the answerable
  and unanswerable ones when the data has unanswerable questions. Fractions in [0, 1] (spaCy's
  logger multiplies by 100).
"""
import collections
import re
import string
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from spacy.training import Example
from spacy.util import registry

__all__ = ["normalize_answer", "exact_score", "f1_score", "squad_scores", "question_scores", "make_qa_scorer"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (the official script)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _tokens(s: str) -> List[str]:
    return normalize_answer(s).split() if s else []


def exact_score(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def f1_score(gold: str, pred: str) -> float:
    gold_toks, pred_toks = _tokens(gold), _tokens(pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return float(gold_toks == pred_toks)  # no-answer: 1 if both empty, else 0
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def question_scores(gold_texts: List[str], prediction: Optional[str]) -> Tuple[float, float]:
    """(exact, f1) of one question: max over gold texts ([""] when unanswerable); 0 when there
    is no prediction."""
    if prediction is None:
        return 0.0, 0.0
    golds = [g for g in gold_texts if normalize_answer(g)] or [""]
    return float(max(exact_score(g, prediction) for g in golds)), max(f1_score(g, prediction) for g in golds)


def squad_scores(examples: Iterable) -> Dict[str, Optional[float]]:
    """The metrics over spaCy Examples (see the module docstring)."""
    rows = []  # (has_answer, exact, f1)
    for eg in examples:
        gold = eg.reference._.answers or {}
        predicted = eg.predicted._.answers or {}
        for qid, answers in gold.items():
            found = predicted.get(qid)
            prediction = None if found is None else (found[0]["answer"] if found else "")
            exact, f1 = question_scores([a["answer"] for a in answers], prediction)
            rows.append((bool(answers), exact, f1))
    return scores_from_rows(rows)


def scores_from_rows(rows: List[Tuple[bool, float, float]]) -> Dict[str, Optional[float]]:
    """Aggregate (has_answer, exact, f1) rows into the named fractions."""
    if not rows:
        return {"qa_exact": None, "qa_f1": None}
    scores: Dict[str, Optional[float]] = {"qa_exact": sum(r[1] for r in rows) / len(rows), "qa_f1": sum(r[2] for r in rows) / len(rows), "qa_total": len(rows)}
    has = [r for r in rows if r[0]]
    no = [r for r in rows if not r[0]]
    if no:
        for key, part in (("has_ans", has), ("no_ans", no)):
            scores[f"qa_{key}_exact"] = sum(r[1] for r in part) / len(part) if part else None
            scores[f"qa_{key}_f1"] = sum(r[2] for r in part) / len(part) if part else None
    return scores


@registry.scorers("spacy-bert.qa_scorer.v1")
def make_qa_scorer() -> Callable:
    """SQuAD's official metrics on `doc._.answers` (predicted) vs the reference's gold answers."""

    def score(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        return squad_scores(examples)

    return score
