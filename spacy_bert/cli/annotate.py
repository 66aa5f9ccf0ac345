"""`spacy bert annotate`: a corpus into output shards (`PIPELINE INPUT OUTPUT_DIR`, local or Ray
engine, spacy_bert/annotate/), or a few texts printed (and a displaCy page) for a quick look.

Which one runs: the print mode when --file, --html or --print is given, or when the arguments
after PIPELINE are not exactly two (INPUT and OUTPUT_DIR); the corpus mode otherwise.
"""
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..errors import Errors
from ._app import command, fail
from ._checks import load_pipeline, output_file, read_utf8_lines


def describe(doc) -> str:
    """One line per finding: entities with their labels, then the top categories."""
    lines = [f"  {ent.text!r} -> {ent.label_}" for ent in doc.ents]
    if doc.cats:
        top = sorted(doc.cats.items(), key=lambda item: -item[1])[:3]
        lines.append("  cats: " + ", ".join(f"{label} {score:.2f}" for label, score in top))
    return "\n".join(lines) if lines else "  (nothing found)"


def write_displacy(docs: list, path: Path) -> None:
    """A displaCy entity page of `docs` (with categories as the page title of each Doc)."""
    from spacy import displacy

    for doc in docs:
        if doc.cats and "title" not in doc.user_data:
            label, score = max(doc.cats.items(), key=lambda item: item[1])
            doc.user_data["title"] = f"{label} ({score:.2f})"
    html = displacy.render(docs, style="ent", page=True, jupyter=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")


@command("annotate")
def annotate_cli(
    pipeline: str = typer.Argument(..., help="Saved spaCy pipeline (directory or package name)"),
    args: Optional[List[str]] = typer.Argument(None, help="INPUT OUTPUT_DIR (a corpus), or texts to print"),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Print mode: a UTF-8 file with one text per line"),
    html: Optional[Path] = typer.Option(None, "--html", help="Print mode: write a displaCy page of the results here"),
    print_mode: bool = typer.Option(False, "--print", help="Print mode even with two arguments (they are texts)"),
    engine: str = typer.Option("local", "--engine", "-e", help="local (this machine) or ray"),
    workers: int = typer.Option(1, "--workers", "-w", help="Processes (local; 1 = this process) or Ray actors"),
    shard_size: int = typer.Option(1000, "--shard-size", help="Records per shard"),
    fmt: str = typer.Option("spacy", "--format", help="spacy (DocBin per shard) or jsonl (DocBin and JSONL)"),
    on_error: str = typer.Option("fail", "--on-error", help="fail, or skip (failing records go to <shard>.errors.jsonl)"),
    precision: Optional[str] = typer.Option(None, "--precision", help="float32 | int8 | bfloat16 | auto, applied after load"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray instance)"),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="GPUs per Ray actor"),
    threads_per_worker: Optional[int] = typer.Option(None, "--threads-per-worker", help="Torch threads per worker (default cores // workers)"),
) -> None:
    """Annotate a corpus (PIPELINE INPUT OUTPUT_DIR) into exactly-once, resumable shards, or print what
    the pipeline finds in a few texts (PIPELINE TEXT... / --file FILE, with --html PAGE)."""
    args = list(args or [])
    if file is None and html is None and not print_mode and len(args) == 2:
        from ..annotate import annotate_corpus

        try:
            summary = annotate_corpus(
                pipeline, args[0], args[1], engine=engine, workers=workers, shard_size=shard_size, fmt=fmt,
                on_error=on_error, precision=precision, address=address, gpus_per_worker=gpus_per_worker,
                threads_per_worker=threads_per_worker,
            )
        except (ValueError, ImportError, RuntimeError) as error:
            fail(str(error))
        msg.good(summary.text)
        return
    from ..annotate.pipelines import check_precision

    check_precision(precision)  # E706, the corpus mode's check, before anything is loaded
    inputs = args
    if file is not None:
        inputs += [line.strip() for line in read_utf8_lines("annotate", "--file", file) if line.strip()]
    if not inputs:
        fail(Errors.E713)
    if html is not None:
        output_file("annotate", "--html", html)
    nlp = load_pipeline("annotate", pipeline)
    if precision is not None:
        from ..pipeline import set_precision

        set_precision(nlp, precision)
    docs = list(nlp.pipe(inputs))
    for doc in docs:
        print(doc.text)
        print(describe(doc))
    if html is not None:
        write_displacy(docs, html)
        msg.good(f"displaCy page of {len(docs)} texts: {html}")
