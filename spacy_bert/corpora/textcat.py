"""Text classification data sets (SST-2, TREC, GoEmotions) -> spaCy Docs with `doc.cats`.

Every record is `(text, cats)` where `cats` holds a score for *every* label of the data set
(1.0 or 0.0), in the data set's label order, as spaCy's `textcat` and `textcat_multilabel`
expect: SST-2 and TREC have exactly one 1.0 per record, GoEmotions one or more.

Rules shared by all readers:
- A malformed line or an unknown label id raises a ValueError naming `file:line` and the line;
  nothing is skipped silently.
- The text is stripped of surrounding whitespace. A record whose text is then empty (and so a
  blank line) raises a ValueError too: an empty Doc carries nothing to classify, and none of the
  real files has one.
"""
import random
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple, TypeVar, Union

from spacy.tokens import DocBin

PathLike = Union[str, Path]
Cats = Dict[str, float]
Record = Tuple[str, Cats]
T = TypeVar("T")  # a record of split_held_out

SST2_LABELS = ("negative", "positive")
TREC_LABELS = ("DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM")
TREC_ENCODING = "iso-8859-1"


def _lines(path: Path, encoding: str = "utf-8") -> Iterator[Tuple[int, str]]:
    """(line number, line without its line ending) for each line of `path`."""
    with open(path, encoding=encoding) as f:
        for number, line in enumerate(f, start=1):
            yield number, line.rstrip("\r\n")


def _malformed(path: Path, number: int, line: str, expected: str) -> ValueError:
    return ValueError(f"{path}:{number}: expected {expected}, got {line!r}")


def _cats(labels: Sequence[str], positive: Iterable[str]) -> Cats:
    """1.0 for each label in `positive`, 0.0 for every other label of `labels`."""
    chosen = set(positive)
    return {label: 1.0 if label in chosen else 0.0 for label in labels}


def _label_id(field: str, labels: Sequence[str], path: Path, number: int, line: str) -> int:
    """`field` as an index into `labels`, or a ValueError naming the place."""
    try:
        index = int(field)
    except ValueError:
        raise _malformed(path, number, line, "an integer label id") from None
    if not 0 <= index < len(labels):
        raise ValueError(f"{path}:{number}: unknown label id {index} (known: 0..{len(labels) - 1}), got {line!r}")
    return index


def _text(field: str, path: Path, number: int, line: str) -> str:
    text = field.strip()
    if not text:
        raise ValueError(f"{path}:{number}: empty text, got {line!r}")
    return text


def read_sst2(path: PathLike) -> Iterator[Record]:
    """SST-2 (GLUE) `label<TAB>sentence` lines; label 0 -> "negative", 1 -> "positive".

    path (str / Path): a UTF-8 TSV file. A first line whose first field is `label` is a header
        and skipped (the real train file's header is `label<TAB>sentence`, dev's `label<TAB>content`).
    YIELDS (str, Dict[str, float]): the sentence and its exclusive cats over SST2_LABELS.
    """
    path = Path(path)
    for number, line in _lines(path):
        fields = line.split("\t")
        if number == 1 and fields[0] == "label":
            continue
        if len(fields) != 2:
            raise _malformed(path, number, line, "'label<TAB>sentence'")
        label = SST2_LABELS[_label_id(fields[0], SST2_LABELS, path, number, line)]
        yield _text(fields[1], path, number, line), _cats(SST2_LABELS, [label])


def read_trec(path: PathLike, encoding: str = TREC_ENCODING) -> Iterator[Record]:
    """TREC question classification, `LABEL text` per line, LABEL an id into TREC_LABELS
    (0 DESC, 1 ENTY, 2 ABBR, 3 HUM, 4 LOC, 5 NUM).

    path (str / Path): the file, e.g. data/trec/train.txt.
    encoding (str): the file's encoding; the real file is ISO-8859-1, not UTF-8.
    YIELDS (str, Dict[str, float]): the question and its exclusive cats over TREC_LABELS.
    """
    path = Path(path)
    for number, line in _lines(path, encoding):
        fields = line.split(None, 1)
        if len(fields) != 2:
            raise _malformed(path, number, line, "'LABEL text'")
        label = TREC_LABELS[_label_id(fields[0], TREC_LABELS, path, number, line)]
        yield _text(fields[1], path, number, line), _cats(TREC_LABELS, [label])


def read_labels(path: PathLike) -> List[str]:
    """Label names, one a line: line i names id i.

    path (str / Path): e.g. data/goemotions/labels.txt.
    RETURNS (List[str]): the names in id order. Empty or repeated names raise a ValueError.
    """
    path = Path(path)
    labels: List[str] = []
    for number, line in _lines(path):
        name = line.strip()
        if not name:
            raise _malformed(path, number, line, "a label name")
        if name in labels:
            raise ValueError(f"{path}:{number}: label {name!r} repeats line {labels.index(name) + 1}")
        labels.append(name)
    if not labels:
        raise ValueError(f"{path}: no labels")
    return labels


def read_goemotions(path: PathLike, labels_path: PathLike) -> Iterator[Record]:
    """GoEmotions `text<TAB>comma-separated label ids<TAB>id` lines (multi-label). The comment
    id in the third column is checked to be present and otherwise dropped.

    path (str / Path): a UTF-8 TSV file without header, e.g. data/goemotions/train.tsv.
    labels_path (str / Path): the label names, line i naming id i (see `read_labels`).
    YIELDS (str, Dict[str, float]): the text and cats over all labels, 1.0 for each id listed.
    """
    path = Path(path)
    labels = read_labels(labels_path)
    for number, line in _lines(path):
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1] or not fields[2].strip():
            raise _malformed(path, number, line, "'text<TAB>label ids<TAB>id'")
        ids = [_label_id(field.strip(), labels, path, number, line) for field in fields[1].split(",")]
        yield _text(fields[0], path, number, line), _cats(labels, [labels[i] for i in ids])


def split_held_out(records: Sequence[T], fraction: float, seed: int = 0) -> Tuple[List[T], List[T]]:
    """Split `records` into (kept, held_out), deterministically for a given seed.

    records (Sequence[T]): e.g. `list(read_trec(path))`, or text lines.
    fraction (float): share held out, 0 < fraction < 1; round(len(records) * fraction) records.
    seed (int): seed of the shuffle that picks the held-out records.
    RETURNS (List, List): every record lands in exactly one of the two, each list in input order.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"held-out fraction must be between 0 and 1 (exclusive), got {fraction}")
    indices = list(range(len(records)))
    random.Random(seed).shuffle(indices)
    chosen = set(indices[: round(len(records) * fraction)])
    kept = [record for i, record in enumerate(records) if i not in chosen]
    held_out = [record for i, record in enumerate(records) if i in chosen]
    return kept, held_out


def label_counts(records: Iterable[Record]) -> Counter:
    """How many records have each label at 1.0; every label seen in the cats is a key (0 if unused).

    records (Iterable[Tuple[str, Dict[str, float]]]): the records to count.
    RETURNS (Counter): label -> count, in the cats' label order.
    """
    counts: Counter = Counter()
    for _, cats in records:
        for label, score in cats.items():
            counts[label] += score >= 0.5
    return counts


def write_textcat_docbin(records: Iterable[Record], out_path: PathLike, lang: str = "en") -> int:
    """Tokenize each text with `spacy.blank(lang)`, set `doc.cats`, and write a .spacy file.

    records (Iterable[Tuple[str, Dict[str, float]]]): (text, cats) pairs, e.g. from `read_sst2`.
    out_path (str / Path): the .spacy file to write; its folder is created. Nothing is written
        if reading the records raises.
    lang (str): language code of the blank pipeline whose tokenizer makes the Docs.
    RETURNS (int): the number of Docs written.
    """
    import spacy

    nlp = spacy.blank(lang)
    docbin = DocBin(store_user_data=False)
    for text, cats in records:
        doc = nlp.make_doc(text)
        doc.cats = dict(cats)
        docbin.add(doc)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(out_path)
    return len(docbin)
