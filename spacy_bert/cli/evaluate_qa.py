"""`spacy bert evaluate-qa`: SQuAD metrics and official-format predictions of a `bert_qa` pipeline.

(`spacy evaluate` reads only DocBins and prints a fixed list of keys, so QA has its own command.)
"""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..errors import Errors
from ._app import command, fail
from ._checks import input_file, load_pipeline, output_file


@command("evaluate-qa")
def evaluate_qa_cli(
    pipeline: Path = typer.Argument(..., help="Saved spaCy pipeline with a bert_qa component"),
    squad_json: Path = typer.Argument(..., help="SQuAD v1.1 or v2.0 JSON file"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write predictions and scores to this JSON file"),
    component: Optional[str] = typer.Option(None, "--component", "-c", help="The bert_qa component's name (default: the only one)"),
) -> None:
    """Answer every question of a SQuAD file and print exact match and F1 (official SQuAD metrics)."""
    from ..pipeline.qa import BertQuestionAnswerer
    from ..pipeline.qa_evaluate import evaluate_qa

    input_file("evaluate-qa", "SQUAD_JSON", squad_json)
    if output is not None:  # checked now, not after every question is answered
        output_file("evaluate-qa", "--output", output)
    nlp = load_pipeline("evaluate-qa", pipeline)
    names = [name for name, pipe in nlp.pipeline if isinstance(pipe, BertQuestionAnswerer)]
    if component is not None and component not in names:
        found = f"no bert_qa component named {component!r} (its bert_qa components: {names})"
        fail(Errors.E611.format(name=f" {str(pipeline)!r}", found=found))
    if component is None and len(names) != 1:
        found = f"no bert_qa component (its components: {nlp.pipe_names})" if not names else f"{len(names)} bert_qa components {names}"
        fail(Errors.E611.format(name=f" {str(pipeline)!r}", found=found))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
    result = evaluate_qa(nlp, squad_json, output, component=component)  # E607 / E608 for a bad file
    scores = result["scores"]  # official names (exact, f1 in %, total, ...) and spaCy's qa_* fractions
    msg.table({key: f"{value:.4f}" if isinstance(value, float) else value for key, value in scores.items()}, header=("metric", "value"))
    if output is not None:
        msg.good(f"Predictions and scores written to {output}")
