"""`spacy bert annotate`: run a trained pipeline on texts, print what it found, write a displaCy page."""
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ._app import bert_cli


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


@bert_cli.command("annotate")
def annotate_cli(
    pipeline: Path = typer.Argument(..., help="Saved spaCy pipeline (directory or package name)"),
    texts: Optional[List[str]] = typer.Argument(None, help="texts to annotate"),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="a UTF-8 file with one text per line"),
    html: Optional[Path] = typer.Option(None, "--html", help="write a displaCy page of the results here"),
) -> None:
    """Annotate texts with a trained pipeline: print entities and categories, optionally a displaCy page."""
    import spacy

    inputs = list(texts or [])
    if file is not None:
        inputs += [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not inputs:
        msg.fail("No texts: pass them as arguments or with --file FILE (one per line).", exits=1)
    nlp = spacy.load(pipeline)
    docs = list(nlp.pipe(inputs))
    for doc in docs:
        print(doc.text)
        print(describe(doc))
    if html is not None:
        write_displacy(docs, html)
        msg.good(f"displaCy page of {len(docs)} texts: {html}")
