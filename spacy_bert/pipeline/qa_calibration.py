"""Calibrated `bert_qa` scores: `calibrated_score` estimates the probability that an answer is
correct (SQuAD exact match), so answers of different windows and documents can be ranked.

Both Hugging Face scores are normalised within one question (the pipeline's p_start * p_end
per window, run_qa.py's softmax over one question's n-best list), so they do not say how likely
an answer is right, nor compare across documents. The calibration is Platt scaling, a
two-parameter logistic map, fitted on a SQuAD-format dev set:

    calibrated_score = sigmoid(slope * x + bias)

where x is one of two features of the answer, chosen by measurement (the lower expected
calibration error on the held-out split, `fit_calibration`):

- `"logit"`: the answer's raw start + end logit (not normalised, so the same scale in every
  window and document);
- `"score"`: log-odds of Hugging Face's `score` (Platt scaling of the score itself; with
  slope = 1 / T this is a temperature on the score's log-odds).

The null answer (`handle_impossible`) gets 1 - the calibrated score of the best span answer of
its question: the estimate that no span answer is right. The parameters are a plain dict
(`Calibration.to_dict`) kept in the component's config key `calibration` (saved and loaded
with the pipeline; `spacy.load(..., config={"components": {name: {"calibration": ...}}})` wins).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import Errors

__all__ = ["Calibration", "FEATURES", "apply_calibration", "expected_calibration_error", "reliability_table", "fit_platt", "fit_calibration", "fit_null_threshold", "strip_internal"]

#: The features an answer can be calibrated on (see the module docstring).
FEATURES = ("logit", "score")
#: Internal keys of decoded answers, dropped before answers reach a Doc.
INTERNAL_KEYS = ("logit", "best_span")
_EPS = 1e-7


def _feature(values: Dict[str, float], feature: str) -> float:
    """x of one answer: the raw logit, or the log-odds of the (clipped) score."""
    if feature == "logit":
        return float(values["logit"])
    p = min(max(float(values["score"]), _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of one answer feature.

    feature (str): "logit" or "score". slope, bias (float): sigmoid(slope * x + bias).
    """

    feature: str
    slope: float
    bias: float

    def __call__(self, values: Dict[str, float]) -> float:
        """The calibrated probability of an answer ({"score", "logit"} at least)."""
        z = self.slope * _feature(values, self.feature) + self.bias
        return float(1.0 / (1.0 + math.exp(-z))) if z >= 0 else float(math.exp(z) / (1.0 + math.exp(z)))

    def to_dict(self) -> Dict[str, Any]:
        return {"method": "platt", "feature": self.feature, "slope": self.slope, "bias": self.bias}

    @classmethod
    def from_config(cls, value: Any, name: str) -> Optional["Calibration"]:
        """The `calibration` config value: None (uncalibrated) or the dict `to_dict` writes
        (extra keys such as fitted metrics are kept in the config and ignored here); E870."""
        if value is None:
            return None
        ok = (
            isinstance(value, dict)
            and value.get("method", "platt") == "platt"
            and value.get("feature") in FEATURES
            and all(isinstance(value.get(k), (int, float)) and not isinstance(value.get(k), bool) and math.isfinite(value[k]) for k in ("slope", "bias"))
        )
        if not ok:
            raise ValueError(Errors.E870.format(name=name, value=value, features=list(FEATURES)))
        return cls(value["feature"], float(value["slope"]), float(value["bias"]))


def apply_calibration(answers: List[Dict], calibration: Optional[Calibration]) -> List[Dict]:
    """Add `calibrated_score` to each answer (none when `calibration` is None); drop the
    internal keys. Changes and returns `answers`."""
    for answer in answers:
        if calibration is not None:
            if answer["answer"] == "" and "best_span" in answer:
                best = answer["best_span"]
                answer["calibrated_score"] = 1.0 - calibration(best) if best is not None else 1.0
            else:
                answer["calibrated_score"] = calibration(answer)
        strip_internal(answer)
    return answers


def strip_internal(answer: Dict) -> Dict:
    for key in INTERNAL_KEYS:
        answer.pop(key, None)
    return answer


def fit_platt(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iterations: int = 100) -> Tuple[float, float]:
    """(slope, bias) minimising the log loss of sigmoid(slope * x + bias) against y (0/1), by
    Newton's method with a small L2 on the slope (finite when the classes separate).
    x: (n,) float; y: (n,) 0/1."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # Platt's targets: keep the optimum finite when all answers are right (or all wrong)
    positives, negatives = y.sum(), len(y) - y.sum()
    t = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    w = np.zeros(2)
    design = np.stack([x, np.ones_like(x)], axis=1)
    reg = np.diag([l2 * len(x), 0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - t) + reg @ w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + reg + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[float], bins: int = 10) -> float:
    """ECE with `bins` equal-width confidence bins: sum over bins of |accuracy - mean
    confidence| weighted by the bin's share of answers."""
    return sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in reliability_table(confidence, correct, bins)) / max(1, len(confidence))


def reliability_table(confidence: Sequence[float], correct: Sequence[float], bins: int = 10) -> List[Dict[str, Any]]:
    """Per non-empty bin [lo, hi): {"bin", "count", "confidence", "accuracy"} (a score of 1.0
    falls in the last bin)."""
    conf = np.asarray(confidence, dtype=np.float64)
    corr = np.asarray(correct, dtype=np.float64)
    index = np.minimum((conf * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            rows.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "count": int(mask.sum()), "confidence": float(conf[mask].mean()), "accuracy": float(corr[mask].mean())})
    return rows


def fit_calibration(fit_rows: Sequence[Tuple[Dict[str, float], bool]], held_rows: Sequence[Tuple[Dict[str, float], bool]]) -> Tuple[Calibration, Dict[str, Any]]:
    """Fit Platt scaling on each feature with `fit_rows` ((answer features, exact match) of
    each question's top answer) and keep the feature with the lower ECE on `held_rows` (on
    the fitting rows when there are no held-out rows).

    Returns (calibration, report): report["candidates"] = {feature: {"ece_fit", "ece_held_out",
    "slope", "bias"}}."""
    if not fit_rows:
        raise ValueError(Errors.E871.format(count=0))
    candidates: Dict[str, Dict[str, Any]] = {}  # feature -> slope, bias, ece_fit, ece_held_out (None: no held-out rows)
    for feature in FEATURES:
        x = np.array([_feature(v, feature) for v, _ in fit_rows])
        y = np.array([float(c) for _, c in fit_rows])
        slope, bias = fit_platt(x, y)
        cal = Calibration(feature, slope, bias)
        candidates[feature] = {
            "slope": slope, "bias": bias,
            "ece_fit": expected_calibration_error([cal(v) for v, _ in fit_rows], [c for _, c in fit_rows]),
            "ece_held_out": expected_calibration_error([cal(v) for v, _ in held_rows], [c for _, c in held_rows]) if held_rows else None,
        }
    key = "ece_held_out" if held_rows else "ece_fit"
    best = min(FEATURES, key=lambda f: candidates[f][key])
    return Calibration(best, candidates[best]["slope"], candidates[best]["bias"]), {"candidates": candidates, "chosen": best}


def fit_null_threshold(rows: Sequence[Tuple[float, float, float]], default: float) -> float:
    """run_qa.py's `null_score_diff_threshold` maximising exact match (the official SQuAD v2.0
    script's `best_exact_thresh`): rows are (null logit - best span logit, EM if the span is
    chosen, EM if the null answer is chosen) per question; the null answer wins when the
    difference exceeds the threshold. `default` when there are no rows."""
    if not rows:
        return default
    diffs = sorted({d for d, _, _ in rows})
    # thresholds between consecutive differences, and below / above all of them
    cuts = [diffs[0] - 1.0] + [(a + b) / 2 for a, b in zip(diffs, diffs[1:])] + [diffs[-1] + 1.0]
    best_t, best_em = default, None
    for t in cuts:
        em = sum(null_em if d > t else span_em for d, span_em, null_em in rows)
        if best_em is None or em > best_em:
            best_t, best_em = float(t), em
    return best_t
