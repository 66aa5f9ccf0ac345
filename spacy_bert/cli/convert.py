"""`spacy bert convert-*`: the datasets' own formats -> spaCy `.spacy` files (one summary line each).

Every command checks its paths first (E770 / E771), then reads all records, so a malformed
line stops it (exit status 1, one coded line with `file:line`) before anything is written.
"""
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import typer

from ..errors import Errors
from ._app import command, fail, is_coded
from ._checks import input_file, non_negative_limit, not_utf8, output_file


def _write_textcat(records: list, output: Path) -> None:
    """Write (text, cats) records to `output` and print one summary line: docs and label counts."""
    from ..corpora import label_counts, write_textcat_docbin

    docs = write_textcat_docbin(records, output)
    counts = ", ".join(f"{label} {count}" for label, count in label_counts(records).items())
    print(f"{output}: {docs} docs; labels: {counts}")


LIMIT_HELP = "keep only the first N records (0 = all), for quick checks"


def _read_all(name: str, paths: Sequence[Path], read: Callable[[], Iterable], limit: int = 0) -> list:
    """All records of `read()` (the first `limit` when > 0); a malformed one exits with its place
    (the readers' `file:line` messages get E775, a non-UTF-8 file E772)."""
    non_negative_limit(name, limit)
    try:
        records = read()
        return list(islice(records, limit) if limit else records)
    except UnicodeDecodeError as error:
        for path in paths:  # the file that is not UTF-8, with the line of its first bad byte
            data = path.read_bytes()
            try:
                data.decode("utf-8-sig")
            except UnicodeDecodeError as first:
                fail(not_utf8(path, data, first))
        fail(Errors.E773.format(command=name, error=f"a file is not UTF-8 text ({error})"))
    except ValueError as error:
        fail(str(error) if is_coded(error) else Errors.E775.format(command=name, error=error))


def _paths(name: str, input: Path, output: Path, held_out_output: Optional[Path] = None) -> None:
    """E770 / E771 before any work: INPUT an existing file, the outputs writable."""
    input_file(name, "INPUT", input)
    output_file(name, "OUTPUT", output)
    if held_out_output is not None:
        output_file(name, "--held-out-output", held_out_output)


@command("convert-conll")
def convert_conll_cli(
    input: Path = typer.Argument(..., help="CoNLL file, e.g. assets/wnut17/wnut17train.conll"),
    output: Path = typer.Argument(..., help="e.g. corpus/wnut17/train.spacy"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
) -> None:
    """CoNLL NER (token<TAB>tag; IO, BIO or BILUO tags, detected per file) -> .spacy, one Doc per sentence."""
    from ..corpora import convert_conll

    non_negative_limit("convert-conll", limit)
    _paths("convert-conll", input, output)
    docs, entities = convert_conll(input, output, limit)  # coded errors name file:line
    print(f"{output}: {docs} docs, {entities} entities")


@command("convert-sst2")
def convert_sst2_cli(
    input: Path = typer.Argument(..., help="e.g. assets/sst2/train.tsv"),
    output: Path = typer.Argument(..., help="e.g. corpus/sst2/train.spacy"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
) -> None:
    """SST-2 (label<TAB>sentence) -> .spacy with cats negative/positive."""
    from ..corpora import read_sst2

    _paths("convert-sst2", input, output)
    _write_textcat(_read_all("convert-sst2", [input], lambda: read_sst2(input), limit), output)


@command("convert-trec")
def convert_trec_cli(
    input: Path = typer.Argument(..., help="e.g. assets/trec/train.txt"),
    output: Path = typer.Argument(..., help="e.g. corpus/trec/train.spacy"),
    held_out: Optional[float] = typer.Option(None, "--held-out", metavar="FRACTION", help="hold this share of the lines out, e.g. 0.1"),
    held_out_output: Optional[Path] = typer.Option(None, "--held-out-output", metavar="PATH", help="where the held-out part goes, e.g. corpus/trec/dev.spacy"),
    seed: int = typer.Option(0, "--seed", help="seed of the held-out split"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP + " (before the split)"),
) -> None:
    """TREC (ISO-8859-1, 'LABEL text') -> .spacy with 6 exclusive cats."""
    from ..corpora import read_trec, split_held_out

    if (held_out is None) != (held_out_output is None):
        fail(Errors.E512)
    _paths("convert-trec", input, output, held_out_output)
    records = _read_all("convert-trec", [input], lambda: read_trec(input), limit)
    if held_out is None:
        _write_textcat(records, output)
        return
    if not 0.0 < held_out < 1.0 or not 0 < round(len(records) * held_out) < len(records):
        fail(Errors.E532.format(value=held_out, lines=len(records)))
    assert held_out_output is not None  # E512 above: both --held-out options or neither
    records, rest = split_held_out(records, held_out, seed)
    _write_textcat(records, output)
    _write_textcat(rest, held_out_output)


@command("convert-goemotions")
def convert_goemotions_cli(
    input: Path = typer.Argument(..., help="e.g. assets/goemotions/train.tsv"),
    output: Path = typer.Argument(..., help="e.g. corpus/goemotions/train.spacy"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="label names, line i = id i (default: labels.txt beside INPUT)"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
) -> None:
    """GoEmotions (text<TAB>ids<TAB>id) -> .spacy with 28 multi-label cats."""
    from ..corpora import read_goemotions

    labels_file = labels or input.with_name("labels.txt")
    _paths("convert-goemotions", input, output)
    input_file("convert-goemotions", "--labels" if labels else "--labels (default: labels.txt beside INPUT)", labels_file)
    _write_textcat(_read_all("convert-goemotions", [input, labels_file], lambda: read_goemotions(input, labels_file), limit), output)


@command("split-text")
def split_text_cli(
    input: Path = typer.Argument(..., help="UTF-8 text, one document per line, e.g. assets/wikitext2/valid.txt"),
    output: Path = typer.Argument(..., help="e.g. corpus/wikitext2/train.txt"),
    held_out: Optional[float] = typer.Option(None, "--held-out", metavar="FRACTION", help="hold this share of the lines out, e.g. 0.1"),
    held_out_output: Optional[Path] = typer.Option(None, "--held-out-output", metavar="PATH", help="where the held-out lines go, e.g. corpus/wikitext2/dev.txt"),
    seed: int = typer.Option(0, "--seed", help="seed of the held-out split"),
    limit: int = typer.Option(0, "--limit", help="keep only the first N non-blank lines (0 = all), for quick checks (before the split)"),
) -> None:
    """Raw text -> one document per line for spacy.PlainTextCorpus.v1 (bert_fill_mask training):
    blank lines dropped, the rest stripped; optionally a seeded held-out share for the dev set."""
    from ..corpora import split_held_out
    from ..corpora.text import read_text_lines, write_text_lines

    if (held_out is None) != (held_out_output is None):
        fail(Errors.E512)
    non_negative_limit("split-text", limit)
    output_file("split-text", "OUTPUT", output)
    if held_out_output is not None:
        output_file("split-text", "--held-out-output", held_out_output)
    lines = read_text_lines(input, limit)  # coded (E530, E531)
    if held_out is None:
        print(f"{output}: {write_text_lines(lines, output)} lines")
        return
    if not 0.0 < held_out < 1.0 or not 0 < round(len(lines) * held_out) < len(lines):
        fail(Errors.E532.format(value=held_out, lines=len(lines)))
    assert held_out_output is not None  # E512 above: both --held-out options or neither
    kept, rest = split_held_out(lines, held_out, seed)
    print(f"{output}: {write_text_lines(kept, output)} lines; {held_out_output}: {write_text_lines(rest, held_out_output)} lines")
