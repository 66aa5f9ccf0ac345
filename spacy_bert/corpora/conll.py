"""CoNLL NER files (`token<TAB>IOB2-tag` per line) -> spaCy Docs with entities.

Differs from `spacy convert -c ner` in one way that matters for WNUT-17: a sentence break is
any line that is empty *or whitespace only*. WNUT-17's train file separates 2,394 of its 3,394
sentences with a line holding a single tab, which spaCy's converter does not treat as a break,
so it merges them into one Doc of 46,486 tokens.
"""
import warnings
from itertools import islice
from pathlib import Path
from typing import Iterator, List, Tuple, Union

from spacy.tokens import Doc, DocBin
from spacy.training import biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab


def _sentences(path: Path) -> Iterator[List[Tuple[str, str]]]:
    sentence: List[Tuple[str, str]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                if sentence:
                    yield sentence
                sentence = []
                continue
            fields = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            if len(fields) < 2 or not fields[0]:
                raise ValueError(f"{path}:{number}: expected 'token<TAB>tag', got {line!r}")
            sentence.append((fields[0], fields[-1].strip() or "O"))
    if sentence:
        yield sentence


def conll_to_docs(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """One Doc per sentence, with `doc.ents` from the IOB2 tags.

    An `I-` tag that does not continue an entity of its type starts one (as IOB1 readers do);
    the number of such repairs is reported in one warning, never silently.
    """
    repaired = 0
    for sentence in _sentences(Path(path)):
        words = [word for word, _ in sentence]
        tags = [tag for _, tag in sentence]
        previous = "O"
        for tag in tags:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                repaired += 1
            previous = tag
        doc = Doc(vocab, words=words)
        doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(tags))
        yield doc
    if repaired:
        warnings.warn(f"{path}: {repaired} 'I-' tag(s) did not continue an entity; each started a new entity.")


def convert_conll(input_path: Union[str, Path], output_path: Union[str, Path], limit: int = 0) -> Tuple[int, int]:
    """Write `input_path` (CoNLL NER) to `output_path` (.spacy). Returns (docs, entities).

    limit (int): keep only the first `limit` sentences (0 = all), for quick checks.
    """
    import spacy

    nlp = spacy.blank("en")
    docs = conll_to_docs(input_path, nlp.vocab)
    docs = list(islice(docs, limit) if limit > 0 else docs)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=False).to_disk(output_path)
    return len(docs), sum(len(doc.ents) for doc in docs)
