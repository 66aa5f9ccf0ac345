"""The `bert` command group: `spacy bert ...` (spaCy's CLI, entry point `spacy_cli`) and
`python -m spacy_bert ...` run the same commands."""
import typer

bert_cli = typer.Typer(
    name="bert",
    help="spacy-bert commands: convert data, write configs, export to Hugging Face, annotate, embed.",
    no_args_is_help=True,
    add_completion=False,
)
