"""`BertConfig`: the hyper-parameters of a BERT model, field for field as Hugging Face names them.

A dataclass: each field, its type and its default (Hugging Face's, bert-base-uncased) are
declared once, below. The config round-trips through a Hugging Face `config.json` dictionary:
every known field is typed and validated, and keys this class does not know (e.g.
`_name_or_path`, `transformers_version`, `gradient_checkpointing`) are kept in `extra` and
written back.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ..errors import Errors

#: Activation names accepted for `hidden_act` (the subset of Hugging Face's ACT2FN BERT uses).
HIDDEN_ACTS = ("gelu", "relu", "silu", "swish", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "tanh")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

_INT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)
_PROB_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob")
_BOOL_FIELDS = ("use_cache", "is_decoder", "add_cross_attention", "tie_word_embeddings")


def _is_number(value: Any, low: float, high: float) -> bool:
    """`value` is an int or float (not bool, not NaN) with low <= value <= high, and finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return low <= value <= high and value != float("inf")


#: Deepest nesting of lists/objects accepted in a config value (real configs nest 2-3 levels).
MAX_NESTING = 100


def _check_depth(name: str, value: Any) -> None:
    """Refuse a value nested deeper than `MAX_NESTING` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > MAX_NESTING:
            raise ValueError(Errors.E037.format(field=name, limit=MAX_NESTING))
        stack.extend((child, depth + 1) for child in children)


def _label_id(field: str, key: Any) -> int:
    """A label id as config.json writes it: an int, or a str of one ("3"); bool is not an id."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        return int(key)
    raise ValueError(Errors.E038.format(field=field, key=key))


def _label_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(Errors.E003.format(field="num_labels", expected="an integer >= 0", value=value))
    return value


def _label_table(id2label: Any) -> Dict[int, str]:
    """`id2label` with int keys, which must be exactly 0..n-1: the row of each label in the head."""
    if not isinstance(id2label, Mapping):
        raise ValueError(Errors.E003.format(field="id2label", expected="a mapping of id to label", value=id2label))
    table = {_label_id("id2label", k): str(v) for k, v in id2label.items()}
    expected = set(range(len(table)))
    if set(table) != expected:
        missing = sorted(expected - set(table))[:5]
        extra = sorted(set(table) - expected)[:5]
        raise ValueError(Errors.E039.format(count=len(table), last=len(table) - 1, missing=missing, extra=extra))
    return dict(sorted(table.items()))


@dataclass(init=False, eq=False, repr=False)
class BertConfig:
    """Configuration of a BERT model (the fields of `transformers.BertConfig`).

    Args:
        vocab_size (int): Number of WordPiece ids.
        hidden_size (int): Width of every layer; must be a multiple of `num_attention_heads`.
        num_hidden_layers (int): Number of transformer layers.
        num_attention_heads (int): Attention heads per layer.
        intermediate_size (int): Width of the feed-forward layer.
        hidden_act (str): Feed-forward activation, one of `HIDDEN_ACTS`.
        hidden_dropout_prob (float): Dropout on embeddings and layer outputs.
        attention_probs_dropout_prob (float): Dropout on attention probabilities.
        max_position_embeddings (int): Longest sequence (in pieces) the model accepts.
        type_vocab_size (int): Number of token type (segment) ids.
        initializer_range (float): Standard deviation of the normal weight initialiser.
        layer_norm_eps (float): Epsilon of every LayerNorm.
        pad_token_id (int): Id of `[PAD]`.
        position_embedding_type (str): Only "absolute" is supported.
        use_cache (bool): Whether a decoder returns `past_key_values` by default.
        classifier_dropout (Optional[float]): Dropout before task classifiers
            (`hidden_dropout_prob` when None).
        is_decoder (bool): Causal self-attention.
        add_cross_attention (bool): Cross-attention to `encoder_hidden_states` (needs `is_decoder`).
        id2label (Optional[Mapping[int, str]]): Label names of classification heads.
        label2id (Optional[Mapping[str, int]]): Inverse of `id2label`.
        num_labels (Optional[int]): Number of labels when `id2label` is not given
            (names become `LABEL_0`, `LABEL_1`, ... as in Hugging Face).
        problem_type (Optional[str]): Loss of `BertForSequenceClassification`, one of `PROBLEM_TYPES`.
        tie_word_embeddings (bool): Tie the MLM decoder to the word embeddings.
        architectures (Optional[list]): Class names written to `config.json`.
        **extra: Keys this class does not interpret; kept (in `extra`) and written back.

    The generated `__init__` is replaced by one that also takes `num_labels` and unknown keys
    (as `transformers.BertConfig` does), so the fields are declared once, here, with their
    Hugging Face defaults.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: Optional[int] = 0
    position_embedding_type: str = "absolute"
    use_cache: bool = True
    classifier_dropout: Optional[float] = None
    is_decoder: bool = False
    add_cross_attention: bool = False
    problem_type: Optional[str] = None
    tie_word_embeddings: bool = True
    architectures: Optional[List[str]] = None
    id2label: Dict[int, str] = field(default_factory=lambda: {0: "LABEL_0", 1: "LABEL_1"})
    label2id: Dict[str, int] = field(default_factory=lambda: {"LABEL_0": 0, "LABEL_1": 1})
    extra: Dict[str, Any] = field(default_factory=dict)

    model_type = "bert"  # a class constant (not annotated, so not a field)

    def __init__(
        self,
        *,
        id2label: Optional[Mapping[Any, str]] = None,
        label2id: Optional[Mapping[str, Any]] = None,
        num_labels: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        # A value nested thousands of levels deep (a hostile config.json) would otherwise end
        # in a RecursionError inside deepcopy or json.
        for name, value in kwargs.items():
            _check_depth(name, value)
        for name, default in DEFAULTS.items():
            setattr(self, name, copy.deepcopy(kwargs.pop(name, default)))
        kwargs.pop("model_type", None)
        if id2label is not None:
            self.id2label = _label_table(id2label)
        else:
            n = 2 if num_labels is None else _label_count(num_labels)
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
        if label2id is not None and id2label is not None:
            if not isinstance(label2id, Mapping):
                raise ValueError(Errors.E003.format(field="label2id", expected="a mapping of label to id", value=label2id))
            self.label2id = {str(k): _label_id("label2id", v) for k, v in label2id.items()}
        else:
            self.label2id = {v: k for k, v in self.id2label.items()}
        if num_labels is not None and id2label is not None and _label_count(num_labels) != len(self.id2label):
            raise ValueError(
                Errors.E003.format(
                    field="num_labels",
                    expected=f"len(id2label) = {len(self.id2label)}",
                    value=num_labels,
                )
            )
        # An `extra` key (as `dataclasses.replace` passes it) holds the unknown keys themselves.
        self.extra = {**dict(kwargs.pop("extra", None) or {}), **kwargs}
        self.validate()

    # -- derived ------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        if value != len(self.id2label):
            self.id2label = {i: f"LABEL_{i}" for i in range(value)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # -- validation ----------------------------------------------------------
    def validate(self) -> None:
        """Raise `ValueError` naming the first field that cannot build a model."""
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(Errors.E003.format(field=name, expected="a positive integer", value=value))
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                Errors.E001.format(hidden_size=self.hidden_size, num_attention_heads=self.num_attention_heads)
            )
        eps = self.layer_norm_eps
        # eps <= 0 divides by zero on a constant row (padding, zero weights): NaN everywhere.
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 < eps < float("inf"):
            raise ValueError(Errors.E003.format(field="layer_norm_eps", expected="a finite number > 0 (e.g. 1e-12)", value=eps))
        if not isinstance(self.hidden_act, str) or self.hidden_act not in HIDDEN_ACTS:
            raise ValueError(Errors.E002.format(value=self.hidden_act, expected=", ".join(HIDDEN_ACTS)))
        for name in _PROB_FIELDS:
            value = getattr(self, name)
            if not _is_number(value, 0.0, 1.0):
                raise ValueError(Errors.E003.format(field=name, expected="a probability in [0, 1]", value=value))
        if self.classifier_dropout is not None and not _is_number(self.classifier_dropout, 0.0, 1.0):
            raise ValueError(
                Errors.E003.format(field="classifier_dropout", expected="None or a probability", value=self.classifier_dropout)
            )
        if self.position_embedding_type != "absolute":
            raise ValueError(
                Errors.E003.format(
                    field="position_embedding_type",
                    expected="'absolute' (relative position embeddings are not supported)",
                    value=self.position_embedding_type,
                )
            )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(Errors.E012.format(value=self.problem_type, expected=", ".join(PROBLEM_TYPES)))
        if not _is_number(self.initializer_range, 0.0, float("inf")):
            raise ValueError(
                Errors.E003.format(field="initializer_range", expected="a finite number >= 0 (e.g. 0.02)", value=self.initializer_range)
            )
        for name in _BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(Errors.E003.format(field=name, expected="true or false", value=getattr(self, name)))
        pad = self.pad_token_id
        if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < self.vocab_size):
            raise ValueError(
                Errors.E003.format(
                    field="pad_token_id", expected=f"an id in [0, vocab_size={self.vocab_size})", value=self.pad_token_id
                )
            )
        if self.add_cross_attention and not self.is_decoder:
            raise ValueError(
                Errors.E003.format(
                    field="add_cross_attention", expected="False unless is_decoder=True", value=self.add_cross_attention
                )
            )

    # -- dictionaries --------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """The `config.json` dictionary (label ids as strings, as Hugging Face writes them)."""
        out: Dict[str, Any] = dict(copy.deepcopy(self.extra))
        out["model_type"] = self.model_type
        for name in DEFAULTS:
            out[name] = copy.deepcopy(getattr(self, name))
        if out["architectures"] is None:
            del out["architectures"]
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> "BertConfig":
        """Build from a `config.json` dictionary; `overrides` replace fields (e.g. `num_labels=3`)."""
        for name, value in data.items():
            _check_depth(name, value)  # before deepcopy, which would recurse as deep
        kwargs = dict(copy.deepcopy(dict(data)))
        if "num_labels" in overrides and "id2label" not in overrides:
            # Asking for another label count replaces the checkpoint's label names.
            if kwargs.get("id2label") is not None and len(kwargs["id2label"]) != overrides["num_labels"]:
                kwargs.pop("id2label", None)
                kwargs.pop("label2id", None)
        kwargs.update(overrides)
        return cls(**kwargs)

    def copy(self) -> "BertConfig":
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k in DEFAULTS)
        return f"BertConfig({fields})"


#: The hyper-parameter fields and their defaults (the labels and `extra` aside), for code that
#: reads a raw config.json dictionary (checkpoint/preflight.py) and for `BertConfig.__init__`.
DEFAULTS: Dict[str, Any] = {
    f.name: f.default for f in fields(BertConfig) if f.name not in ("id2label", "label2id", "extra")
}
