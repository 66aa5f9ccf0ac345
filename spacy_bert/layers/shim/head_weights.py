"""Which weights are the head of each Hugging Face class, and conversion both ways.

A task component's weights are a `BertFor*` model's weights: the encoder (`bert.*`, held by
the shim) plus a small head. `HEAD_PARAMS` is the one place that says, per Hugging Face class,
which parameters form the head and under which name the spaCy side keeps them:

- token and sequence classification: `classifier.weight`/`classifier.bias` are the thinc
  `linear_head`'s `W`/`b` (the head is small, so it stays a thinc layer: spaCy's optimiser,
  `use_params` averages and resizing on `add_label` work on it as on spaCy's own layers);
- question answering: `qa_outputs.weight`/`qa_outputs.bias`, the same two-matrix shape;
- masked LM: the `cls.predictions.*` transform stays in torch (`layers/heads/mlm.py`): its decoder
  is tied to the word embeddings and its outputs are vocabulary-sized.

Everything that touches torch tensors for these conversions lives here, so `pipeline/`
never does (DESIGN.md: nothing above `layers/` touches torch tensors).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, Union, cast

import numpy as np
import torch

from ...checkpoint import keys, load_pretrained, save_pretrained
from ...checkpoint.files import read_config_dict
from ...checkpoint.stream import directory_weights
from ...errors import Errors
from ...modeling import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertPreTrainedModel,
)
from ...tokenization import BertTokenizer

#: Hugging Face parameter name (relative to the model, no `bert.` encoder prefix) -> the name
#: the spaCy side keeps it under (a thinc param of the component's head layer, or the torch
#: MLM adapter's parameter of the same name).
HEAD_PARAMS: Dict[Type[BertPreTrainedModel], Dict[str, str]] = {
    BertForTokenClassification: {"classifier.weight": "W", "classifier.bias": "b"},
    BertForSequenceClassification: {"classifier.weight": "W", "classifier.bias": "b"},
    BertForQuestionAnswering: {"qa_outputs.weight": "W", "qa_outputs.bias": "b"},
    BertForMaskedLM: {
        "cls.predictions.transform.dense.weight": "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.dense.bias": "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight": "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias": "cls.predictions.transform.LayerNorm.bias",
        # decoder.weight is the tied word-embedding matrix (part of the encoder); the bias is
        # the head's own.
        "cls.predictions.bias": "cls.predictions.bias",
    },
}
HEAD_PARAMS[BertForPreTraining] = {
    **HEAD_PARAMS[BertForMaskedLM],
    "cls.seq_relationship.weight": "cls.seq_relationship.weight",
    "cls.seq_relationship.bias": "cls.seq_relationship.bias",
}


def head_params(hf_class: Type[BertPreTrainedModel]) -> Dict[str, str]:
    """The head table row of `hf_class` (a programming error for a class without one)."""
    if hf_class not in HEAD_PARAMS:
        raise KeyError(f"{hf_class.__name__} has no entry in HEAD_PARAMS; known: {[c.__name__ for c in HEAD_PARAMS]}")
    return HEAD_PARAMS[hf_class]


def head_arrays(model: BertPreTrainedModel) -> Dict[str, np.ndarray]:
    """The head of a Hugging Face model as fp32 numpy arrays, keyed by their spaCy-side name.

    Returns:
        e.g. {"W": (num_labels, hidden), "b": (num_labels,)} for token classification.
    """
    state = dict(model.named_parameters())
    return {ours: state[theirs].detach().cpu().float().numpy() for theirs, ours in head_params(type(model)).items()}


def encoder_with_pooler(model: BertPreTrainedModel) -> BertModel:
    """The `BertModel` inside `model` (its `bert` attribute), with a pooler.

    Token classification, QA and MLM build their encoder without a pooler; the encoder layer
    always computes one, so a fresh pooler is added (it does not influence those heads' logits).
    """
    bert = cast(BertModel, model.bert)
    if getattr(bert, "pooler", None) is not None:
        return bert
    full = BertModel(bert.config).to(bert.dtype)
    missing, unexpected = full.load_state_dict(bert.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("pooler.") for k in missing), (missing, unexpected)
    return full.to(bert.device)


#: The dtypes a saved encoder may have (names as `str(torch.dtype)` writes them, no prefix).
FLOAT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}


def float_dtype(value: Any, source: str) -> torch.dtype:
    """The torch dtype named `value` (as saved: "bfloat16", "torch.float16", ...); E382 if it is
    not a floating-point dtype (a damaged or hand-edited file must not reach `getattr(torch, ...)`)."""
    name = value.removeprefix("torch.") if isinstance(value, str) else value
    if name not in FLOAT_DTYPES:
        raise ValueError(Errors.E382.format(source=source, value=value, expected=sorted(FLOAT_DTYPES)))
    return FLOAT_DTYPES[name]


def saved_dtype(directory: Path) -> Optional[torch.dtype]:
    """The dtype a checkpoint directory was saved in (`dtype`, or the older `torch_dtype`, of its
    config.json); None when it does not say."""
    config = read_config_dict(directory)
    value = config.get("dtype", config.get("torch_dtype"))
    return None if value is None else float_dtype(value, f"{Path(directory) / 'config.json'}")


@dataclass
class TaskWeights:
    """What a task component reads from a Hugging Face directory.

    Attributes:
        encoder (BertModel): the encoder, with a pooler (see `encoder_with_pooler`).
        tokenizer (BertTokenizer): the directory's tokenizer.
        config (BertConfig): the directory's config (id2label, problem_type, ...).
        head (Optional[Dict[str, np.ndarray]]): the head in fp32, by spaCy-side name, or None
            when the directory is not a checkpoint of the component's class (`architectures`).
    """

    encoder: BertModel
    tokenizer: BertTokenizer
    config: BertConfig
    head: Optional[Dict[str, np.ndarray]]


def read_task_weights(hf_class: Type[BertPreTrainedModel], directory: Path, *, keep_dtype: bool) -> TaskWeights:
    """Read a Hugging Face directory for a component of `hf_class`.

    Args:
        hf_class: The component's Hugging Face class; its head is read when `architectures` in
            config.json names it, else the directory is read as a plain encoder (a head of
            another class is dropped with the loader's W101 warning).
        directory (Path): A checkpoint directory, or a saved component's `model/` folder.
        keep_dtype (bool): Cast the encoder to the dtype the directory was saved in (saved
            pipelines: bf16 stays bf16). The head stays fp32 (it is a thinc layer).
    """
    architectures = read_config_dict(directory).get("architectures") or []
    tokenizer = BertTokenizer.from_pretrained(directory)
    if hf_class.__name__ in architectures:
        # Load in fp32 (lossless from bf16/fp16) so the fp32 head saved beside a bf16 encoder
        # comes back exactly.
        model = load_pretrained(hf_class, directory)
        head: Optional[Dict[str, np.ndarray]] = head_arrays(model)
        encoder, config = encoder_with_pooler(model), model.config
    else:
        # Built in the saved dtype directly: no float32 copy of a bf16 encoder on the way.
        encoder = load_pretrained(BertModel, directory, dtype=saved_dtype(directory) if keep_dtype else None)
        head, config = None, encoder.config
    dtype = saved_dtype(directory) if keep_dtype and head is not None else None
    if dtype is not None:
        encoder = encoder.to(dtype)
    return TaskWeights(encoder=encoder, tokenizer=tokenizer, config=config, head=head)


def write_task_weights(
    hf_class: Type[BertPreTrainedModel],
    directory: Path,
    encoder: BertModel,
    tokenizer: BertTokenizer,
    head: Optional[Mapping[str, np.ndarray]],
    config_overrides: Optional[Mapping[str, Any]] = None,
) -> None:
    """Write a component as a Hugging Face directory that `read_task_weights` (and
    `transformers`) reads: an `hf_class` checkpoint when it has a head, else the plain encoder.
    The encoder keeps its dtype; the head is written in fp32, as the component holds it."""
    if head is None:
        save_pretrained(encoder, directory, tokenizer=tokenizer)
        return
    model = build_hf_model(hf_class, encoder, head, config_overrides)
    model.bert.to(encoder.dtype)  # config.json's dtype is then the encoder's (first parameter)
    save_pretrained(model, directory, tokenizer=tokenizer)


def build_hf_model(
    hf_class: Type[BertPreTrainedModel],
    encoder: BertModel,
    arrays: Mapping[str, np.ndarray],
    config_overrides: Optional[Mapping[str, Any]] = None,
) -> BertPreTrainedModel:
    """A Hugging Face `hf_class` model (CPU, fp32, eval mode) from an encoder and head arrays.

    Args:
        hf_class: One of the classes of `HEAD_PARAMS`.
        encoder (BertModel): The encoder; its weights are copied, never shared.
        arrays (Mapping[str, np.ndarray]): The head, keyed by spaCy-side name (`head_arrays`' form).
        config_overrides: Config fields of the head (id2label, label2id, problem_type, ...).
    """
    table = head_params(hf_class)
    config = BertConfig.from_dict(encoder.config.to_dict(), **dict(config_overrides or {}))
    # Every weight below is overwritten, so the random init must not draw from torch's global
    # generator: saving a pipeline (`to_disk` builds this model) would otherwise change the
    # random stream of the training run it happens in (dropout masks after each checkpoint).
    with torch.random.fork_rng(devices=[]):
        model = hf_class(config)
    encoder_state = {k: v.detach().cpu().float() for k, v in encoder.state_dict().items()}
    missing, unexpected = cast(BertModel, model.bert).load_state_dict(encoder_state, strict=False)
    # Heads built without a pooler (token classification, QA, MLM): the only keys that differ.
    assert not missing and all(k.startswith("pooler.") for k in unexpected), (missing, unexpected)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for theirs, ours in table.items():
            value = np.asarray(arrays[ours], dtype=np.float32)
            if tuple(value.shape) != tuple(params[theirs].shape):
                raise ValueError(Errors.E381.format(name=theirs, got=tuple(value.shape), expected=tuple(params[theirs].shape)))
            params[theirs].copy_(torch.from_numpy(value))
    return model.eval()


# -- strict loading of a saved component's folder ---------------------------------------------
#: Head tensors a checkpoint may hold beside a class's own head: the decoder tied to the word
#: embeddings (Hugging Face writes it for masked-LM classes; it is no parameter of its own).
TIED_HEAD_NAMES = {"cls.predictions.decoder.weight"}
#: The classes with a pooler (Hugging Face builds token classification, QA and masked LM
#: without one), so a saved folder of one of the others never holds `pooler.*`.
POOLER_CLASSES = (BertModel, BertForSequenceClassification, BertForPreTraining)


def check_saved_weights(
    hf_class: Union[Type[BertPreTrainedModel], Sequence[Type[BertPreTrainedModel]]],
    directory: Path,
    name: str,
    *,
    has_head: bool = True,
    labels: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Check a saved component's Hugging Face folder before anything is loaded from it (only
    file headers are read). Loading a saved pipeline is strict: unlike a checkpoint, whose
    missing head is made fresh with a warning, a saved folder must hold what was saved.

    Args:
        hf_class: The class the component saved (`BertModel` for the `bert` component: no head,
            but its pooler), or the classes it may have saved (the one config.json's
            `architectures` names is checked; `bert_fill_mask`: masked LM or pretraining).
        directory (Path): The saved `model/` folder.
        name (str): The component, for messages.
        has_head (bool): Whether the save had a head (False: a task component saved before it
            had one writes the plain encoder, which is then what must be there).
        labels (Optional[Sequence[str]]): The cfg's head rows, to compare with config.json's
            `id2label` (None: the component has no labels to compare).

    Returns:
        The folder's config.json. Raises E761 (the head is missing: `architectures` or tensors),
        E762 (tensors of another head), E388 (labels and the head's rows differ in number), E763
        (labels disagree with id2label), or the checkpoint loader's coded errors (no config.json,
        no weights file).
    """
    config = read_config_dict(directory)
    architectures = config.get("architectures") or []
    if not isinstance(hf_class, type):
        classes = list(hf_class)
        named = [c for c in classes if c.__name__ in architectures]
        if not named:
            reason = f"its config.json names the architectures {architectures or 'none'}, not {' or '.join(c.__name__ for c in classes)}"
            raise ValueError(Errors.E761.format(name=name, path=directory, reason=reason))
        hf_class = named[0]
    layout = directory_weights(directory).layout  # headers only: no tensor data is read
    if not has_head:
        hf_class = BertModel  # a task component saved without a head writes the plain encoder
    with_prefix = hf_class is not BertModel
    present = {keys.to_model_name(n, with_prefix): n for n in layout}
    heads = {n for n in present if keys.is_head(n)}
    expected = set(head_params(hf_class)) if hf_class is not BertModel else set()
    pooled = any(keys.is_pooler(n) for n in present)
    if expected and hf_class.__name__ not in architectures:
        reason = f"its config.json names the architectures {architectures or 'none'}, not {hf_class.__name__}"
        raise ValueError(Errors.E761.format(name=name, path=directory, reason=reason))
    # Another head first: it says where the file came from better than the head it lacks.
    foreign = sorted(heads - expected - (TIED_HEAD_NAMES if expected else set()))
    if pooled and hf_class not in POOLER_CLASSES:
        foreign.append("pooler")
    if foreign:
        what = ", ".join(sorted(head_params(hf_class))) if expected else "encoder"
        raise ValueError(Errors.E762.format(name=name, path=directory, foreign=keys.head_modules(foreign), expected=what))
    missing = sorted(expected - heads)
    if missing:
        raise ValueError(Errors.E761.format(name=name, path=directory, reason=f"model.safetensors has no {', '.join(missing)}"))
    if hf_class in POOLER_CLASSES and not pooled:
        raise ValueError(Errors.E761.format(name=name, path=directory, reason="model.safetensors has no pooler (pooler.dense.*)"))
    if expected and labels is not None:
        first = next(iter(head_params(hf_class)))  # the weight: (rows, hidden)
        rows = layout[present[first]].shape[0]
        if rows != len(labels):
            raise ValueError(Errors.E388.format(name=name, n_labels=len(labels), labels=list(labels), n_rows=rows, source=f" in {directory}"))
        check_id2label(config, labels, name, directory)
    return config


def check_id2label(config: Mapping[str, Any], labels: Sequence[str], name: str, directory: Path) -> None:
    """E763 unless config.json's `id2label` lists exactly `labels`, in order."""
    id2label = config.get("id2label")
    rows: Optional[List[Any]] = None
    if isinstance(id2label, dict) and sorted(map(str, id2label)) == sorted(str(i) for i in range(len(id2label))):
        rows = [id2label.get(str(i), id2label.get(i)) for i in range(len(id2label))]
    if rows == list(labels):
        return
    if rows is None:
        details = "its id2label is not a map of the row numbers 0..n-1 to labels"
    else:
        extra, missing = [r for r in rows if r not in labels], [l for l in labels if l not in rows]
        parts = [f"id2label has {extra} that cfg lacks" if extra else "", f"cfg has {missing} that id2label lacks" if missing else ""]
        details = "; ".join(p for p in parts if p) or "the same labels in another order"
    raise ValueError(Errors.E763.format(name=name, path=directory, details=details, labels=list(labels), id2label=id2label))
