"""`spacy bert ...` (spaCy's CLI through the `spacy_cli` entry point) and `python -m spacy_bert ...`.

Importing this package registers every command on `bert_cli` and adds the group to spaCy's app.
"""
from spacy.cli._util import app

from . import annotate, convert, export, fetch_assets, init_config, similarity  # noqa: F401  (register the commands)
from ._app import bert_cli

app.add_typer(bert_cli)

__all__ = ["bert_cli"]
