"""One question over many documents: the best answers across all of them.

    import spacy, spacy_bert
    nlp = spacy.load("qa-calibrated")               # calibrated with `spacy bert calibrate-qa`
    texts = [p.read_text() for p in sorted(Path("docs").glob("*.txt"))]
    for a in spacy_bert.ask_documents(nlp, "Who founded the company?", texts, top_k=5):
        print(a["document"], a["calibrated_score"], a["answer"])

Each document is a context of the pipeline's `bert_qa` component: its own windows, its top_k
answers by the component's scoring (the same answers `ask(nlp, text, question)` gives with that
top_k), contexts run in batches of `batch_size`. All documents' answers are then ranked together
by `calibrated_score` (the probability that the answer is right: comparable across documents),
or, when the component is not calibrated, by `score` with a warning (W870): Hugging Face's
scores are normalised within one question and window, so across documents they only roughly
order answers. The null answer (`handle_impossible`) is not a document's answer here: a
document without a span answer contributes none. Ties keep document order.
"""
import dataclasses
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc

from ..errors import Errors, Warnings
from . import qa as _qa  # noqa: F401  (registers doc._.questions / doc._.answers)
from .arguments import check_top_k, is_count, one_string, question_list
from .qa_fit import find_qa

__all__ = ["ask", "ask_documents"]

WHAT = "ask_documents"


def ask(nlp: Language, context: str, questions: Union[str, Sequence[Any]]) -> Doc:
    """Answer `questions` about `context` (str) with `nlp`: the Doc with `_.answers` and
    `doc.spans` set.

    questions: one question (a str: `ask(nlp, context, "When?")` asks one question, id "0"), or
        a list of str / {"id", "question"}. Bytes, a dict, a number or a set is E751; a bad item
        is E604 (its index named), an empty question E605; a context that is not a str E753.
    """
    context = one_string(context, what="ask(context=...)", item="context")
    questions = question_list(questions)
    doc = nlp.make_doc(context)
    doc._.questions = questions
    return nlp(doc)


def _texts(contexts: Any) -> List[str]:
    if isinstance(contexts, (str, bytes, Doc, dict)) or not isinstance(contexts, (list, tuple)):
        raise ValueError(Errors.E872.format(what=WHAT, type_name=type(contexts).__name__, value=str(contexts)[:80]))
    texts = []
    for i, context in enumerate(contexts):
        if isinstance(context, Doc):
            texts.append(context.text)
        elif isinstance(context, str):
            texts.append(context)
        else:
            raise ValueError(Errors.E873.format(what=WHAT, index=i, type_name=type(context).__name__, value=str(context)[:80]))
    return texts


def ask_documents(
    nlp: Language,
    question: str,
    contexts: Sequence[Any],
    *,
    top_k: int = 5,
    batch_size: int = 16,
    component: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """The `top_k` best answers to `question` over all `contexts` (str or Doc each).

    Returns:
        List[dict]: best first, each {"document": index into contexts, "answer", "start",
        "end" (chars of that document), "score", and "calibrated_score" when calibrated}.
    Raises:
        E753 (question not a str), E605 (empty question), E750 (top_k), E872/E873 (contexts),
        E611 (no bert_qa component, or several without `component`).
    """
    question = one_string(question, what=f"{WHAT}(question=...)", item="question")
    if not question.strip():
        raise ValueError(Errors.E605.format(qid="0", value=question, where=f" (passed to {WHAT})"))
    texts = _texts(contexts)
    name, qa = find_qa(nlp, component)
    top_k = check_top_k(top_k, name=name, factory="bert_qa", where=f"passed to {WHAT}(top_k=...)", meaning="answers over all documents", fix="Pass an int >= 1.")
    if not is_count(batch_size):
        raise ValueError(Errors.E602.format(name=name, field="batch_size", value=batch_size, expected="a positive int"))
    calibrated = qa.calibration is not None
    if not calibrated:
        warnings.warn(Warnings.W870.format(what=WHAT, name=name), UserWarning, stacklevel=2)
    settings = dataclasses.replace(qa.decode_settings, top_k=top_k)
    found: List[Dict[str, Any]] = []
    indices = [i for i, text in enumerate(texts) if text.strip()]  # a blank document has no answer
    for b in range(0, len(indices), batch_size):
        part = indices[b : b + batch_size]
        batch = [texts[i] for i in part]
        windows = qa.run_windows(batch, [question] * len(batch))
        for i, answers in zip(part, qa.decode(windows, batch, settings=settings)):
            found.extend({"document": i, **a} for a in answers if a["answer"])
    key = "calibrated_score" if calibrated else "score"
    return sorted(found, key=lambda a: -a[key])[:top_k]
