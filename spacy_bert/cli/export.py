"""`spacy bert export`: a trained component as a Hugging Face checkpoint directory."""
from pathlib import Path

import typer
from wasabi import msg

from ._app import command
from ._checks import load_pipeline, output_dir


@command("export")
def export_cli(
    pipeline: Path = typer.Argument(..., help="Saved spaCy pipeline (directory or package name)"),
    component: str = typer.Argument(..., help="Name of the bert_ner, bert_textcat, bert_qa or bert_fill_mask component"),
    output_dir_: Path = typer.Argument(..., metavar="OUTPUT_DIR", help="Directory to write the Hugging Face checkpoint to"),
) -> None:
    """Export a bert_ner / bert_textcat component as a Hugging Face checkpoint directory that
    transformers' AutoModelForTokenClassification / AutoModelForSequenceClassification load."""
    from ..pipeline.export import export_component

    output_dir("export", "OUTPUT_DIR", output_dir_)  # before the (slow) load
    nlp = load_pipeline("export", pipeline)
    out = export_component(nlp, component, output_dir_)  # E363 for a component it cannot export
    msg.good(f"Exported {component!r} to {out}")
