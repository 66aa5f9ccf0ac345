"""Fitting a `bert_qa` calibration on a SQuAD-format dev set (`spacy bert calibrate-qa`).

    from spacy_bert.pipeline.qa_fit import calibrate_qa
    report = calibrate_qa(nlp, "dev.json", holdout=0.2)   # nlp's bert_qa is now calibrated
    nlp.to_disk("qa-calibrated")                            # the parameters travel in its config

The dev paragraphs are split (every 1/holdout-th paragraph held out, so questions of one
context never sit on both sides); Platt scaling is fitted on the rest (`qa_calibration.py`:
both features, the one with the lower held-out ECE kept), and the report gives expected
calibration error and reliability tables before (Hugging Face's `score` read as a probability)
and after, on both splits. One row per question: its best SPAN answer and whether it is an
exact match. With `handle_impossible` and scoring "squad", `null_score_diff_threshold` is fitted
on the fitting split too (the exact-match-maximising threshold of the official v2.0 script).
"""
import dataclasses
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, cast

from spacy.language import Language

from ..errors import Errors, Warnings
from .qa import BertQuestionAnswerer
from .qa_calibration import Calibration, expected_calibration_error, fit_calibration, fit_null_threshold, reliability_table
from .qa_metrics import question_scores
from .qa_squad import read_squad

__all__ = ["calibrate_qa", "find_qa", "held_out"]

#: (context, question, gold answer texts) of one dev question
DevQuestion = Tuple[str, str, List[str]]


def find_qa(nlp: Language, component: Optional[str] = None, label: str = "") -> Tuple[str, BertQuestionAnswerer]:
    """The pipeline's bert_qa component (the named one, or the only one); E611 otherwise."""
    names = [name for name, pipe in nlp.pipeline if isinstance(pipe, BertQuestionAnswerer)]
    if component is not None and component not in names:
        raise ValueError(Errors.E611.format(name=label, found=f"no bert_qa component named {component!r} (its bert_qa components: {names})"))
    if component is None and len(names) != 1:
        found = f"no bert_qa component (its components: {nlp.pipe_names})" if not names else f"{len(names)} bert_qa components {names}"
        raise ValueError(Errors.E611.format(name=label, found=found))
    name = component or names[0]
    return name, cast(BertQuestionAnswerer, nlp.get_pipe(name))  # one of `names`


def held_out(index: int, holdout: float) -> bool:
    """Whether paragraph `index` is held out: a `holdout` share, spread evenly over the file."""
    return int((index + 1) * holdout) > int(index * holdout)


def _rows(qa: BertQuestionAnswerer, questions: Sequence[DevQuestion], batch: int = 32) -> List[Dict[str, Any]]:
    """Per question: the best span's features and exact match, and the null margin."""
    settings = dataclasses.replace(qa.decode_settings, top_k=max(qa.decode_settings.n_best_size, 2))
    rows = []
    for b in range(0, len(questions), batch):
        part = questions[b : b + batch]
        contexts = [c for c, _, _ in part]
        windows = qa.run_windows(contexts, [q for _, q, _ in part])
        for (context, _, gold), answers in zip(part, qa.decode(windows, contexts, settings=settings, raw=True)):
            span = next((a for a in answers if a["answer"]), None)
            null = next((a for a in answers if not a["answer"]), None)
            rows.append(
                {
                    "span": None if span is None else {"score": span["score"], "logit": span["logit"]},
                    "span_exact": question_scores(gold, span["answer"])[0] if span is not None else 0.0,
                    "null_exact": question_scores(gold, "")[0],
                    "null_margin": None if (null is None or span is None) else null["logit"] - span["logit"],
                }
            )
    return rows


def _metrics(rows: Sequence[Dict[str, Any]], calibration: Calibration) -> Dict[str, Any]:
    scored = [r for r in rows if r["span"] is not None]
    correct = [r["span_exact"] for r in scored]
    before = [min(1.0, r["span"]["score"]) for r in scored]  # pipeline scores of merged answers can pass 1
    after = [calibration(r["span"]) for r in scored]
    return {
        "questions": len(scored),
        "exact": sum(correct) / max(1, len(correct)),
        "ece_before": expected_calibration_error(before, correct),
        "ece_after": expected_calibration_error(after, correct),
        "reliability_before": reliability_table(before, correct),
        "reliability_after": reliability_table(after, correct),
    }


def calibrate_qa(nlp: Language, squad_json: Union[str, Path], *, holdout: float = 0.2, component: Optional[str] = None) -> Dict[str, Any]:
    """Fit the calibration of `nlp`'s bert_qa on `squad_json`, store it in the component's cfg
    and config (saved with the pipeline), and return the report (module docstring).

    holdout (float): share of the paragraphs held out, in [0, 1) (E874); 0 reports on the
    fitting set only."""
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 <= holdout < 1:
        raise ValueError(Errors.E874.format(value=holdout))
    name, qa = find_qa(nlp, component)
    fit_q: List[DevQuestion] = []
    held_q: List[DevQuestion] = []
    for i, (context, questions, gold) in enumerate(read_squad(squad_json)):
        if not context.strip():
            continue
        side = held_q if held_out(i, holdout) else fit_q
        side.extend((context, q["question"], [a["answer"] for a in gold[q["id"]]]) for q in questions)
    fit_rows, held_rows = _rows(qa, fit_q), _rows(qa, held_q)
    as_pairs = lambda rows: [(r["span"], bool(r["span_exact"])) for r in rows if r["span"] is not None]  # noqa: E731
    fit_pairs = as_pairs(fit_rows)
    if not fit_pairs:  # (no right answer at all is fitted: an untrained reader's scores mean little)
        raise ValueError(Errors.E871.format(count=0))
    calibration, choice = fit_calibration(fit_pairs, as_pairs(held_rows))
    cfg_updates: Dict[str, Any] = {"calibration": calibration.to_dict()}
    report: Dict[str, Any] = {"component": name, "calibration": calibration.to_dict(), "choice": choice}
    if qa.cfg["handle_impossible"]:
        if qa.cfg["scoring"] == "squad":
            margins = [(r["null_margin"], r["span_exact"], r["null_exact"]) for r in fit_rows if r["null_margin"] is not None]
            threshold = fit_null_threshold(margins, qa.cfg["null_score_diff_threshold"])
            cfg_updates["null_score_diff_threshold"] = threshold
            report["null_score_diff_threshold"] = threshold
        else:
            warnings.warn(Warnings.W871.format(scoring=qa.cfg["scoring"]), UserWarning, stacklevel=2)
    report["fit"] = _metrics(fit_rows, calibration)
    report["held_out"] = _metrics(held_rows, calibration) if held_rows else None
    store_settings(nlp, name, cfg_updates)
    return report


def store_settings(nlp: Language, name: str, updates: Dict[str, Any]) -> None:
    """Write `updates` into the component's cfg and into the pipeline's config for it, so
    `nlp.to_disk` saves them and `nlp.config` shows them (a load-time override still wins:
    the settings recorded as built are updated too, `saved_settings.py`)."""
    qa = cast(BertQuestionAnswerer, nlp.get_pipe(name))  # a name `find_qa` gave
    qa.cfg.update(updates)
    built = getattr(qa, "_built_settings", None)
    if isinstance(built, dict):
        built.update(updates)
    config = nlp.get_pipe_config(name)
    for key, value in updates.items():
        config[key] = value
