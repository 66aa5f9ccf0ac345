"""`spacy bert calibrate-qa`: fit a bert_qa pipeline's calibrated scores on a SQuAD dev set.

    spacy bert calibrate-qa training/xquad/model-best dev.json --output training/xquad/calibrated

Fits Platt scaling (`pipeline/qa_fit.py`) so that answers carry `calibrated_score`, an estimate
of the probability that the answer is an exact match; prints expected calibration error and the
reliability table before and after, on the fitting paragraphs and on held-out ones; saves the
pipeline with the parameters in the component's config (to --output, else in place).
"""
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ._app import command
from ._checks import input_file, load_pipeline, output_dir, output_file


@command("calibrate-qa")
def calibrate_qa_cli(
    pipeline: Path = typer.Argument(..., help="Saved spaCy pipeline with a bert_qa component"),
    dev_json: Path = typer.Argument(..., help="SQuAD v1.1 or v2.0 JSON file to fit on"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Save the calibrated pipeline here (default: over PIPELINE)"),
    holdout: float = typer.Option(0.2, "--holdout", help="Share of the paragraphs held out to report on, in [0, 1)"),
    component: Optional[str] = typer.Option(None, "--component", "-c", help="The bert_qa component's name (default: the only one)"),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Write the report (parameters, ECE, reliability tables) to this JSON file"),
) -> None:
    """Fit calibrated answer scores (Platt scaling) and the null threshold on a dev set."""
    from ..pipeline.qa_fit import calibrate_qa

    input_file("calibrate-qa", "DEV_JSON", dev_json)
    if output is not None:
        output_dir("calibrate-qa", "--output", output)
    if report_path is not None:
        output_file("calibrate-qa", "--report", report_path)
    nlp = load_pipeline("calibrate-qa", pipeline)
    report = calibrate_qa(nlp, dev_json, holdout=holdout, component=component)
    cal = report["calibration"]
    candidates = report["choice"]["candidates"]
    eces = ", ".join(f"{f}: {c['ece_held_out'] if c['ece_held_out'] is not None else c['ece_fit']:.4f}" for f, c in candidates.items())
    msg.info(f"Calibration: sigmoid({cal['slope']:.4g} * {cal['feature']} + {cal['bias']:.4g}) (the feature with the lower held-out ECE: {eces})")
    if "null_score_diff_threshold" in report:
        msg.info(f"null_score_diff_threshold: {report['null_score_diff_threshold']:.4f}")
    for split in ("fit", "held_out"):
        part = report[split]
        if part is None:
            continue
        msg.divider(f"{split}: {part['questions']} questions, exact match {100 * part['exact']:.1f} %, ECE {part['ece_before']:.4f} -> {part['ece_after']:.4f}")
        for when in ("before", "after"):
            rows = [(r["bin"], r["count"], f"{r['confidence']:.3f}", f"{r['accuracy']:.3f}") for r in part[f"reliability_{when}"]]
            msg.table(rows, header=(f"{when}: bin", "answers", "mean confidence", "accuracy"))
    if report_path is not None:
        srsly.write_json(report_path, report)
    if output is not None:
        nlp.to_disk(output)
        msg.good(f"Calibrated pipeline saved to {output}")
    else:  # in place: written beside it first, so a failure leaves the original whole
        staging = Path(tempfile.mkdtemp(prefix=".calibrate-qa-", dir=Path(pipeline).resolve().parent))
        nlp.to_disk(staging / "pipeline")
        old = staging / "old"
        Path(pipeline).rename(old)
        (staging / "pipeline").rename(pipeline)
        shutil.rmtree(staging)
        msg.good(f"Calibrated pipeline saved over {pipeline}")
