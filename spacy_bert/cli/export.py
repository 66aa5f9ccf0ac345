"""`spacy bert export`: a trained component as a Hugging Face checkpoint directory."""
from pathlib import Path

import typer
from wasabi import msg

from ._app import bert_cli


@bert_cli.command("export")
def export_cli(
    pipeline: Path = typer.Argument(..., help="Saved spaCy pipeline (directory or package name)"),
    component: str = typer.Argument(..., help="Name of the bert_ner, bert_textcat, bert_qa or bert_fill_mask component"),
    output_dir: Path = typer.Argument(..., help="Directory to write the Hugging Face checkpoint to"),
) -> None:
    """Export a bert_ner / bert_textcat component as a Hugging Face checkpoint directory that
    transformers' AutoModelForTokenClassification / AutoModelForSequenceClassification load."""
    import spacy

    from ..pipeline.export import export_component

    nlp = spacy.load(pipeline)
    try:
        out = export_component(nlp, component, output_dir)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Exported {component!r} to {out}")
