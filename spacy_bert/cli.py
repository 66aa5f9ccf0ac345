"""`spacy bert ...`: spacy-bert's commands inside spaCy's CLI (entry point `spacy_cli`)."""
from pathlib import Path

import typer
from spacy.cli._util import Arg, app
from wasabi import msg

bert_cli = typer.Typer(name="bert", help="spacy-bert commands.", no_args_is_help=True)
app.add_typer(bert_cli)


@bert_cli.command("export")
def export_cli(
    pipeline: Path = Arg(..., help="Saved spaCy pipeline (directory or package name)"),
    component: str = Arg(..., help="Name of the bert_ner or bert_textcat component"),
    output_dir: Path = Arg(..., help="Directory to write the Hugging Face checkpoint to"),
) -> None:
    """Export a bert_ner / bert_textcat component as a Hugging Face checkpoint directory that
    transformers' AutoModelForTokenClassification / AutoModelForSequenceClassification load."""
    import spacy

    from .pipeline.export import export_component

    nlp = spacy.load(pipeline)
    try:
        out = export_component(nlp, component, output_dir)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Exported {component!r} to {out}")
