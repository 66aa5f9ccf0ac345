"""`evaluate-qa`: a trained `bert_qa` pipeline on a SQuAD file, with the official output.

    from spacy_bert.pipeline.qa_evaluate import evaluate_qa
    result = evaluate_qa("training/xquad/model-best", "assets/xquad/dev.json", output="metrics.json")

(On the command line: `spacy bert evaluate-qa PIPELINE SQUAD_JSON [--output metrics.json]`.)
`spacy evaluate` cannot do this: it reads only DocBins and prints a fixed list of keys.

The output JSON holds `predictions` in the official format ({question id: answer text}, "" for
a null answer) and `scores` as the official v2.0 script names them (`exact`, `f1`, `total`, and
`HasAns_*` / `NoAns_*` when the file has unanswerable questions; percentages), plus the
component's fractions (`qa_exact`, `qa_f1`, ...).
"""
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

import srsly
import spacy
from spacy.language import Language

from ..errors import Errors
from .qa import BertQuestionAnswerer
from .qa_metrics import question_scores, scores_from_rows
from .qa_squad import read_squad

__all__ = ["evaluate_qa", "official_scores"]


def official_scores(fractions: Dict[str, Any]) -> Dict[str, Any]:
    """The official script's keys and percentages from `scores_from_rows`' fractions."""
    names = {"qa_exact": "exact", "qa_f1": "f1", "qa_has_ans_exact": "HasAns_exact", "qa_has_ans_f1": "HasAns_f1", "qa_no_ans_exact": "NoAns_exact", "qa_no_ans_f1": "NoAns_f1"}
    out: Dict[str, Any] = {}
    for ours, theirs in names.items():
        if fractions.get(ours) is not None:
            out[theirs] = 100.0 * fractions[ours]
    out["total"] = fractions.get("qa_total", 0)
    return out


def evaluate_qa(
    pipeline: Union[str, Path, Language],
    squad_json: Union[str, Path],
    output: Optional[Union[str, Path]] = None,
    *,
    component: Optional[str] = None,
    batch_size: int = 16,
) -> Dict[str, Any]:
    """Answer every question of `squad_json` with `pipeline` (a path or a loaded Language) and
    score the answers; write the result JSON to `output` if given, and return it.

    component (Optional[str]): the bert_qa component's name (default: the pipeline's only one).
    """
    nlp = pipeline if isinstance(pipeline, Language) else spacy.load(pipeline)
    names = [name for name, pipe in nlp.pipeline if isinstance(pipe, BertQuestionAnswerer)]
    if component is None and len(names) != 1:
        what = f"no bert_qa component (its components: {nlp.pipe_names})" if not names else f"{len(names)} bert_qa components {names}"
        name = "" if isinstance(pipeline, Language) else f" {str(pipeline)!r}"
        raise ValueError(Errors.E611.format(name=name, found=what))
    paragraphs = read_squad(squad_json)
    docs = []
    for context, questions, _ in paragraphs:
        doc = nlp.make_doc(context)
        doc._.questions = [dict(q) for q in questions]
        docs.append(doc)
    started = time.perf_counter()
    docs = list(nlp.pipe(docs, batch_size=batch_size))
    seconds = time.perf_counter() - started
    predictions: Dict[str, str] = {}
    rows = []
    for doc, (_, questions, gold) in zip(docs, paragraphs):
        answers = doc._.answers or {}
        for q in questions:
            found = answers.get(q["id"])
            text = found[0]["answer"] if found else ""
            predictions[q["id"]] = text
            exact, f1 = question_scores([a["answer"] for a in gold[q["id"]]], text if found is not None else None)
            rows.append((bool(gold[q["id"]]), exact, f1))
    fractions = scores_from_rows(rows)
    result = {
        "predictions": predictions,
        "scores": {**official_scores(fractions), **{k: v for k, v in fractions.items() if k != "qa_total"}},
        "seconds": seconds,
        "questions_per_second": len(predictions) / seconds if seconds > 0 else None,
    }
    if output is not None:
        srsly.write_json(output, result)
    return result
