"""`spacy bert convert-*`: the datasets' own formats -> spaCy `.spacy` files (one summary line each).

Every command reads all records first, so a malformed line stops it (exit status 1,
`file:line` in the message) before anything is written.
"""
import sys
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Optional

import click
import typer

from ..errors import Errors
from ._app import bert_cli


def _write_textcat(records: list, output: Path) -> None:
    """Write (text, cats) records to `output` and print one summary line: docs and label counts."""
    from ..corpora import label_counts, write_textcat_docbin

    docs = write_textcat_docbin(records, output)
    counts = ", ".join(f"{label} {count}" for label, count in label_counts(records).items())
    print(f"{output}: {docs} docs; labels: {counts}")


LIMIT_HELP = "keep only the first N records (0 = all), for quick checks"


def _read_all(read: Callable[[], Iterable], limit: int = 0) -> list:
    """All records of `read()` (the first `limit` when > 0); a malformed one exits with its place."""
    if limit < 0:
        raise click.BadParameter(f"{limit}: expected 0 (all) or a positive number", param_hint="--limit")
    try:
        records = read()
        return list(islice(records, limit) if limit else records)
    except ValueError as error:
        sys.exit(f"error: {error}")


@bert_cli.command("convert-conll")
def convert_conll_cli(
    input: Path = typer.Argument(..., help="CoNLL file, e.g. assets/wnut17/wnut17train.conll"),
    output: Path = typer.Argument(..., help="e.g. corpus/wnut17/train.spacy"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
) -> None:
    """CoNLL NER (token<TAB>IOB2 tag) -> .spacy, one Doc per sentence."""
    from ..corpora import convert_conll

    if limit < 0:
        raise click.BadParameter(f"{limit}: expected 0 (all) or a positive number", param_hint="--limit")
    try:
        docs, entities = convert_conll(input, output, limit)
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"{output}: {docs} docs, {entities} entities")


@bert_cli.command("convert-sst2")
def convert_sst2_cli(
    input: Path = typer.Argument(..., help="e.g. assets/sst2/train.tsv"),
    output: Path = typer.Argument(..., help="e.g. corpus/sst2/train.spacy"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
) -> None:
    """SST-2 (label<TAB>sentence) -> .spacy with cats negative/positive."""
    from ..corpora import read_sst2

    _write_textcat(_read_all(lambda: read_sst2(input), limit), output)


@bert_cli.command("convert-trec")
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
        raise click.UsageError(Errors.E512)
    records = _read_all(lambda: read_trec(input), limit)
    if held_out is None:
        _write_textcat(records, output)
        return
    try:
        records, rest = split_held_out(records, held_out, seed)
    except ValueError as error:
        sys.exit(f"error: {error}")
    _write_textcat(records, output)
    _write_textcat(rest, held_out_output)


@bert_cli.command("convert-goemotions")
def convert_goemotions_cli(
    input: Path = typer.Argument(..., help="e.g. assets/goemotions/train.tsv"),
    output: Path = typer.Argument(..., help="e.g. corpus/goemotions/train.spacy"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="label names, line i = id i (default: labels.txt beside INPUT)"),
    limit: int = typer.Option(0, "--limit", help=LIMIT_HELP),
) -> None:
    """GoEmotions (text<TAB>ids<TAB>id) -> .spacy with 28 multi-label cats."""
    from ..corpora import read_goemotions

    labels_file = labels or input.with_name("labels.txt")
    _write_textcat(_read_all(lambda: read_goemotions(input, labels_file), limit), output)


@bert_cli.command("split-text")
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
        raise click.UsageError(Errors.E512)
    if limit < 0:
        raise click.BadParameter(f"{limit}: expected 0 (all) or a positive number", param_hint="--limit")
    try:
        lines = read_text_lines(input, limit)
    except ValueError as error:
        sys.exit(str(error))  # coded (E530, E531)
    if held_out is None:
        print(f"{output}: {write_text_lines(lines, output)} lines")
        return
    if not 0.0 < held_out < 1.0 or not 0 < round(len(lines) * held_out) < len(lines):
        sys.exit(Errors.E532.format(value=held_out, lines=len(lines)))
    kept, rest = split_held_out(lines, held_out, seed)
    print(f"{output}: {write_text_lines(kept, output)} lines; {held_out_output}: {write_text_lines(rest, held_out_output)} lines")
