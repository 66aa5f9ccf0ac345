"""`spacy-bert.SquadCorpus.v1`: SQuAD v1.1 / v2.0 JSON as spaCy Examples, one per paragraph.

    [corpora.train]
    @readers = "spacy-bert.SquadCorpus.v1"
    path = ${paths.train}
    limit = 0

The predicted Doc is the context with `_.questions` = [{"id", "question"}, ...]; the reference
Doc carries every gold answer as `_.answers` = {id: [{"start", "end", "answer"}, ...]} ([] for an
unanswerable v2.0 question; SQuAD dev lists up to three answers per question, all kept).
`spacy.Corpus.v1` cannot carry this (it rebuilds predicted Docs from text and drops
`user_data`). A gold answer whose text is not at its `answer_start` is an error naming the
question id (E607): nothing is dropped silently.
"""
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple, Union

from spacy.language import Language
from spacy.training import Example
from spacy.util import registry

from ..errors import Errors
from ..json_files import read_json
from . import qa  # noqa: F401  (registers doc._.questions / doc._.answers)

__all__ = ["read_squad", "squad_corpus_v1", "SquadParagraph"]

#: (context, [{"id", "question"}], {id: [{"start", "end", "answer"}]})
SquadParagraph = Tuple[str, List[Dict[str, str]], Dict[str, List[Dict[str, Any]]]]


def _fail(path: Path, reason: str) -> ValueError:
    return ValueError(Errors.E608.format(path=path, reason=reason))


def read_squad(path: Union[str, Path], limit: int = 0) -> List[SquadParagraph]:
    """The paragraphs of a SQuAD file (the first `limit` when > 0), checked."""
    path = Path(path)
    data = read_json(path, Errors.E608.replace("{reason}", "{error}"))
    if not isinstance(data.get("data"), list):
        raise _fail(path, "no 'data' list")
    paragraphs: List[SquadParagraph] = []
    for article in data["data"]:
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise _fail(path, f"an article without a 'paragraphs' list: {str(article)[:80]!r}")
        for paragraph in article["paragraphs"]:
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str) or not isinstance(paragraph.get("qas"), list):
                raise _fail(path, f"a paragraph without 'context' and 'qas': {str(paragraph)[:80]!r}")
            context = paragraph["context"]
            questions, gold = [], {}
            for qa_item in paragraph["qas"]:
                if not isinstance(qa_item, dict) or not isinstance(qa_item.get("question"), str) or not isinstance(qa_item.get("id"), (str, int)):
                    raise _fail(path, f"a question without 'id' and 'question': {str(qa_item)[:80]!r}")
                qid = str(qa_item["id"])
                answers = [] if qa_item.get("is_impossible") else qa_item.get("answers", [])
                if not isinstance(answers, list):
                    raise _fail(path, f"question {qid!r} has 'answers' that is not a list")
                spans = []
                for answer in answers:
                    text, start = (answer.get("text"), answer.get("answer_start")) if isinstance(answer, dict) else (None, None)
                    if not isinstance(text, str) or not isinstance(start, int):
                        raise _fail(path, f"question {qid!r} has an answer without 'text' and int 'answer_start': {answer!r}")
                    end = start + len(text)
                    if start < 0 or context[start:end] != text:
                        raise ValueError(Errors.E607.format(path=path, qid=qid, start=start, end=end, found=context[start:end], text=text))
                    spans.append({"start": start, "end": end, "answer": text})
                questions.append({"id": qid, "question": qa_item["question"]})
                gold[qid] = spans
            paragraphs.append((context, questions, gold))
            if limit and len(paragraphs) >= limit:
                return paragraphs
    return paragraphs


@registry.readers("spacy-bert.SquadCorpus.v1")
def squad_corpus_v1(path: Union[str, Path], limit: int = 0, split_questions: bool = False) -> Callable[[Language], Iterator[Example]]:
    """A spaCy corpus of SQuAD JSON (v1.1 or v2.0): one Example per paragraph.

    path (Path): the SQuAD JSON file. limit (int): paragraphs to read (0: all).
    split_questions (bool): one Example per question instead (its paragraph as the Doc), so
        that spaCy's shuffling and batchers mix questions of different paragraphs in a batch,
        as `run_qa.py` shuffles features. Off by default: every question of a paragraph then
        shares one Doc.
    """
    paragraphs = read_squad(path, limit)  # read (and checked) once, when the config is resolved

    def example(nlp: Language, context: str, questions: List[Dict[str, str]], gold: Dict[str, List[Dict[str, Any]]]) -> Example:
        predicted = nlp.make_doc(context)
        predicted._.questions = [dict(q) for q in questions]
        reference = nlp.make_doc(context)
        reference._.questions = [dict(q) for q in questions]
        reference._.answers = {q["id"]: [dict(a) for a in gold[q["id"]]] for q in questions}
        return Example(predicted, reference)

    def corpus(nlp: Language) -> Iterator[Example]:
        for context, questions, gold in paragraphs:
            if split_questions:
                for question in questions:
                    yield example(nlp, context, [question], gold)
            else:
                yield example(nlp, context, questions, gold)

    return corpus
