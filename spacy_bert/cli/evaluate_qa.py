"""`spacy bert evaluate-qa`: SQuAD metrics and official-format predictions of a `bert_qa` pipeline.

(`spacy evaluate` reads only DocBins and prints a fixed list of keys, so QA has its own command.)
"""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ._app import bert_cli


@bert_cli.command("evaluate-qa")
def evaluate_qa_cli(
    pipeline: Path = typer.Argument(..., help="Saved spaCy pipeline with a bert_qa component"),
    squad_json: Path = typer.Argument(..., help="SQuAD v1.1 or v2.0 JSON file"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write predictions and scores to this JSON file"),
    component: Optional[str] = typer.Option(None, "--component", "-c", help="The bert_qa component's name (default: the only one)"),
) -> None:
    """Answer every question of a SQuAD file and print exact match and F1 (official SQuAD metrics)."""
    from ..pipeline.qa_evaluate import evaluate_qa

    try:
        result = evaluate_qa(str(pipeline), squad_json, output, component=component)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    scores = result["scores"]  # official names (exact, f1 in %, total, ...) and spaCy's qa_* fractions
    msg.table({key: f"{value:.4f}" if isinstance(value, float) else value for key, value in scores.items()}, header=("metric", "value"))
    if output is not None:
        msg.good(f"Predictions and scores written to {output}")
