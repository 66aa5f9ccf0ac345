"""Raw text for masked-LM training (`bert_fill_mask`): one document per line, the format
`spacy.PlainTextCorpus.v1` reads.

WikiText-2 (the `pretrain` workflow's data) has one paragraph per line, ` = Heading = ` lines
and blank lines between them. Blank lines are dropped here (they hold nothing to mask); every
other line is kept, stripped of surrounding whitespace, headings included (they are text too).
"""
from pathlib import Path
from typing import Iterable, List, Union

from ..errors import Errors

PathLike = Union[str, Path]


def read_text_lines(path: PathLike, limit: int = 0) -> List[str]:
    """The non-blank lines of a UTF-8 text file (a leading byte-order mark removed), stripped.

    path (str / Path): e.g. assets/wikitext2/valid.txt.
    limit (int): keep only the first `limit` non-blank lines (0: all).
    RETURNS (List[str]): the lines, in file order. Raises ValueError E530 when the file cannot
        be read as UTF-8 and E531 when it holds no text.
    """
    path = Path(path)
    lines: List[str] = []
    try:
        # utf-8-sig: WikiText-2's files start with a byte-order mark that would stick to word 1
        with open(path, encoding="utf-8-sig") as f:
            for line in f:
                text = line.strip()
                if text:
                    lines.append(text)
                    if limit and len(lines) >= limit:
                        break
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(Errors.E530.format(path=path, error=f"{type(error).__name__}: {error}")) from None
    if not lines:
        raise ValueError(Errors.E531.format(path=path))
    return lines


def write_text_lines(lines: Iterable[str], path: PathLike) -> int:
    """Write one line per document (UTF-8, parent folders made). RETURNS (int): lines written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
            count += 1
    return count
