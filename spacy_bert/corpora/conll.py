"""CoNLL NER files -> spaCy Docs with entities, one Doc per sentence.

The format, and what this reader does with each irregularity (nothing is guessed silently):

- **Lines.** The file is read as `utf-8-sig` (a byte-order mark is dropped) and split only on
  `\\n` and `\\r\\n`. (`str.splitlines` would also split on `\\u2028`, `\\v`, `\\f`, ... and
  drop the rest of such a line with its tag.) Bytes that are not UTF-8: E772 with `file:line`.
- **Fields.** A line with a tab is `token<TAB>...<TAB>tag` (the tag is the last field); a line
  without one is `token ... tag` separated by spaces (CoNLL-2003 style). Fewer than two fields,
  an empty token or an empty tag: E779. A token that contains whitespace of any kind (a space
  in a tab-separated line, `\\u2028`, `\\v`, `\\f`, `\\r`, a no-break space, ...) would become
  one spaCy token with a space inside: E782.
- **Sentences** end at an empty line *or one of whitespace only*: WNUT-17's train file separates
  2,394 of its 3,394 sentences with a line holding a single tab, which spaCy's converter does
  not treat as a break (it merges them into one Doc of 46,486 tokens). `-DOCSTART-` lines are
  document markers: they end a sentence and are not tokens.
- **Tag schemes, decided per file** from all its tags:
  - *IO*: no tag has a prefix (`PER`, `O`). Each run of equal labels is one entity (IO cannot
    mark two adjacent entities of one type apart; that is the scheme's own limit).
  - *BIO* (IOB2): prefixes `B-` and `I-` only. An `I-` that does not continue an entity of
    its type starts one (as IOB1 readers do); the number of such repairs is reported in one
    warning.
  - *BILUO* (or BIOES, read as E- = L-, S- = U-): any `L-`/`U-`/`E-`/`S-` tag makes the file
    BILUO, and then every entity must be `B- I-... L-` or one `U-`; anything else is E783
    (so `U-`/`L-` never merge neighbouring entities).
  - A bare label in a file with prefixed tags is E780 (mixed schemes); a tag that is none of
    these is E781.
- Every error names `file:line`.
"""
import re
import warnings
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

from ..errors import Errors, Warnings

#: a prefixed tag: scheme letter, "-", a label without whitespace
_PREFIXED = re.compile(r"([BILUES])-(\S+)")
#: BIOES letters as BILUO's
_BIOES = {"E": "L", "S": "U"}
DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class Row:
    """One token line: its 1-based line number, the token and its tag."""

    line: int
    token: str
    tag: str


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(Errors.E772.format(path=path, line=line, error=f"byte 0x{data[error.start]:02x}: {error.reason}")) from None


def _row(path: Path, number: int, line: str) -> Row:
    fields = line.split("\t") if "\t" in line else [field for field in line.split(" ") if field]
    token, tag = (fields[0], fields[-1].strip()) if len(fields) >= 2 else ("", "")
    if not token or not tag:
        raise ValueError(Errors.E779.format(path=path, line=number, text=line))
    space = next((ch for ch in token if ch.isspace()), None)
    if space is not None:
        raise ValueError(Errors.E782.format(path=path, line=number, token=token, char=f"U+{ord(space):04X}"))
    return Row(number, token, tag)


def read_conll(path: Union[str, Path]) -> List[List[Row]]:
    """The sentences of a CoNLL file (see the module docstring), each a list of `Row`s.

    Raises OSError when the file cannot be read, ValueError E772 / E779 / E782 naming `file:line`.
    """
    path = Path(path)
    sentences: List[List[Row]] = []
    sentence: List[Row] = []
    for number, line in enumerate(_decode(path).split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip() or line.split("\t", 1)[0].split(" ", 1)[0] == DOCSTART:
            if sentence:
                sentences.append(sentence)
            sentence = []
            continue
        sentence.append(_row(path, number, line))
    if sentence:
        sentences.append(sentence)
    return sentences


def detect_scheme(path: Union[str, Path], sentences: List[List[Row]]) -> Tuple[str, Optional[int]]:
    """("IO" | "BIO" | "BILUO", the line that decided BILUO or None). Raises E780 / E781."""
    first_prefixed: Optional[Row] = None
    first_bare: Optional[Row] = None
    biluo_line: Optional[int] = None
    for row in (row for sentence in sentences for row in sentence):
        if row.tag == "O":
            continue
        match = _PREFIXED.fullmatch(row.tag)
        if match:
            first_prefixed = first_prefixed or row
            if biluo_line is None and match.group(1) in "LUES":
                biluo_line = row.line
        elif len(row.tag) >= 2 and row.tag[1] == "-" and row.tag[0] in "BILUES" or any(ch.isspace() for ch in row.tag):
            raise ValueError(Errors.E781.format(path=path, line=row.line, tag=row.tag))
        else:
            first_bare = first_bare or row
    scheme = "IO" if first_prefixed is None else "BILUO" if biluo_line is not None else "BIO"
    if first_prefixed is not None and first_bare is not None:
        raise ValueError(Errors.E780.format(path=path, line=first_bare.line, tag=first_bare.tag, scheme=scheme, first=first_prefixed.line))
    return scheme, biluo_line


def _io_entities(rows: List[Row]) -> List[Tuple[int, int, str]]:
    entities: List[Tuple[int, int, str]] = []
    for i, row in enumerate(rows):
        if row.tag == "O":
            continue
        if entities and entities[-1][1] == i and entities[-1][2] == row.tag:
            entities[-1] = (entities[-1][0], i + 1, row.tag)
        else:
            entities.append((i, i + 1, row.tag))
    return entities


def _bio_entities(rows: List[Row]) -> Tuple[List[Tuple[int, int, str]], List[int]]:
    """Entities, and the lines of the `I-` tags that started one (repairs)."""
    entities: List[Tuple[int, int, str]] = []
    repaired: List[int] = []
    for i, row in enumerate(rows):
        if row.tag == "O":
            continue
        prefix, label = row.tag[0], row.tag[2:]
        if prefix == "I" and entities and entities[-1][1] == i and entities[-1][2] == label:
            entities[-1] = (entities[-1][0], i + 1, label)
            continue
        if prefix == "I":
            repaired.append(row.line)
        entities.append((i, i + 1, label))
    return entities, repaired


def _biluo_entities(path: Path, rows: List[Row], first: Optional[int]) -> List[Tuple[int, int, str]]:
    entities: List[Tuple[int, int, str]] = []
    open_at: Optional[Tuple[int, str]] = None  # (token index, label) of an entity without its L- yet

    def fail(row: Row, reason: str) -> ValueError:
        return ValueError(Errors.E783.format(path=path, line=row.line, tag=row.tag, reason=reason, first=first))

    for i, row in enumerate(rows):
        prefix, label = ("O", "") if row.tag == "O" else (_BIOES.get(row.tag[0], row.tag[0]), row.tag[2:])
        if open_at is not None and (prefix in ("O", "B", "U") or label != open_at[1]):
            raise fail(row, f"the entity {open_at[1]!r} opened at line {rows[open_at[0]].line} has no L-{open_at[1]} before it")
        if open_at is None and prefix in ("I", "L"):
            raise fail(row, f"no B-{label} opens the entity it continues")
        if prefix == "B":
            open_at = (i, label)
        elif prefix == "L":
            assert open_at is not None  # an L- with nothing open raised above
            entities.append((open_at[0], i + 1, label))
            open_at = None
        elif prefix == "U":
            entities.append((i, i + 1, label))
    if open_at is not None:
        row = rows[open_at[0]]
        raise fail(row, f"the sentence ends before the entity {open_at[1]!r} gets its L- tag")
    return entities


def conll_to_docs(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """One Doc per sentence, with `doc.ents` from the tags (IO, BIO or BILUO, per file).

    The whole file is read and checked before the first Doc is yielded, so a bad line stops the
    conversion before anything is written. Raises OSError (unreadable file) or ValueError with
    a code and `file:line` (E772, E779-E783). Warns once (W770) with the number of repaired `I-` tags.
    """
    path = Path(path)
    sentences = read_conll(path)
    scheme, first = detect_scheme(path, sentences)
    spans: List[List[Tuple[int, int, str]]] = []
    repaired: List[int] = []
    for rows in sentences:
        if scheme == "IO":
            spans.append(_io_entities(rows))
        elif scheme == "BIO":
            entities, lines = _bio_entities(rows)
            spans.append(entities)
            repaired += lines
        else:
            spans.append(_biluo_entities(path, rows, first))
    if repaired:
        warnings.warn(Warnings.W770.format(path=path, count=len(repaired), line=repaired[0]), UserWarning)
    for rows, entities in zip(sentences, spans):
        doc = Doc(vocab, words=[row.token for row in rows])
        doc.ents = [Span(doc, start, end, label=label) for start, end, label in entities]
        yield doc


def convert_conll(input_path: Union[str, Path], output_path: Union[str, Path], limit: int = 0) -> Tuple[int, int]:
    """Write `input_path` (CoNLL NER) to `output_path` (.spacy). Returns (docs, entities).

    limit (int): keep only the first `limit` sentences (0 = all), for quick checks.
    """
    import spacy

    nlp = spacy.blank("en")
    read = conll_to_docs(input_path, nlp.vocab)
    docs = list(islice(read, limit) if limit > 0 else read)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=False).to_disk(output_path)
    return len(docs), sum(len(doc.ents) for doc in docs)
