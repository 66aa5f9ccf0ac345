"""`spacy bert ...` (spaCy's CLI through the `spacy_cli` entry point) and `python -m spacy_bert ...`.

Importing this package registers every command on `bert_cli` and adds the group to spaCy's app.
Inside spaCy's CLI it also checks a `--gpu-id N` request first (see gpu.py), and makes
`spacy project assets` end with a clear message when an asset cannot be fetched (project_assets.py).
"""
import sys

from spacy.cli._util import app

from . import annotate, calibrate_qa, convert, evaluate_qa, export, fetch_assets, init_config, serve, similarity  # noqa: F401  (register the commands)
from ._app import bert_cli
from .gpu import check_gpu_request, running_spacy_cli
from .project_assets import check_project_assets

app.add_typer(bert_cli)

if running_spacy_cli():
    check_gpu_request(sys.argv[1:])
    check_project_assets(sys.argv[1:])

__all__ = ["bert_cli"]
