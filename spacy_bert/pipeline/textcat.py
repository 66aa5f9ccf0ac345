"""`bert_textcat`: `BertForSequenceClassification` as a spaCy component.

    nlp.add_pipe("bert_textcat", config={"checkpoint": "path/to/bert", "multi_label": False})

`multi_label = false`: exclusive classes, softmax, trained with cross-entropy (spaCy's
`textcat` contract: scores sum to 1). `multi_label = true`: independent labels, sigmoid, binary
cross-entropy, `threshold` for scoring (spaCy's `textcat_multilabel` contract). The logits are
Hugging Face's: pooled `[CLS]` -> dropout -> linear. A text longer than the model is cut into
windows and classified from the mean of its windows' pooled outputs, which equals the mean of
the windows' logits (the classifier is affine): every window counts, weighted equally, and a
text that fits one window gets exactly what `transformers` computes.

Gold categories are validated as spaCy's `textcat` and `textcat_multilabel` do, in
`initialize` and `get_loss` (so in `update` before any weight changes): with exclusive classes each value is 0 or 1 and at most one is 1
(E401, E402; an example with no positive label is allowed and ignored in the loss, as in
spaCy); with independent labels each value is in [0, 1] (E403; soft targets are allowed, which
binary cross-entropy supports).
"""
import warnings
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d

from ..errors import Errors, Warnings
from ..layers.precision.policy import DEFAULT_PRECISION
from ..modeling import BertConfig, BertForSequenceClassification
from .probabilities import sigmoid, softmax
from .settings import DEFAULT_SETTINGS
from .task import BertTaskPipe

DEFAULT_TEXTCAT_MODEL = """
[model]
@architectures = "spacy-bert.BertSequenceClassifier.v1"
nO = null

[model.tok2vec]
@architectures = "spacy-bert.BertEncoder.v1"
mixed_precision = false
grad_scaler_config = {}
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_TEXTCAT_MODEL)["model"]
SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"


@registry.scorers("spacy-bert.textcat_scorer.v1")
def make_textcat_scorer() -> Callable:
    """spaCy's category scores (`cats_score`, `cats_macro_f`, `cats_f_per_type`, ...), with
    `multi_label` and `threshold` taken from the component."""

    def score(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        if not kwargs.get("multi_label", True):
            # Exclusive classes: the highest score is the prediction, whatever its value
            # (spaCy's textcat scores with threshold 0.0 too).
            kwargs["threshold"] = 0.0
        return Scorer.score_cats(examples, "cats", **kwargs)

    return score


@Language.factory(
    "bert_textcat",
    assigns=["doc.cats"],
    default_config={
        "model": DEFAULT_MODEL,
        "checkpoint": None,
        "window": DEFAULT_SETTINGS.window,
        "stride": DEFAULT_SETTINGS.stride,
        "max_batch_items": DEFAULT_SETTINGS.max_batch_items,
        "batch_invariant": DEFAULT_SETTINGS.batch_invariant,
        "precision": DEFAULT_PRECISION,
        "multi_label": False,
        "threshold": 0.5,
        "scorer": {"@scorers": "spacy-bert.textcat_scorer.v1"},
    },
    default_score_weights={
        "cats_score": 1.0,
        "cats_score_desc": None,
        "cats_micro_p": None,
        "cats_micro_r": None,
        "cats_micro_f": None,
        "cats_macro_p": None,
        "cats_macro_r": None,
        "cats_macro_f": None,
        "cats_macro_auc": None,
        "cats_f_per_type": None,
    },
)
def make_bert_textcat(
    nlp: Language,
    name: str,
    model: Model[List[Doc], Floats2d],
    checkpoint: Optional[str],
    window: int,
    stride: int,
    max_batch_items: int,
    batch_invariant: bool,
    precision: str,
    multi_label: bool,
    threshold: float,
    scorer: Optional[Callable],
) -> "BertTextCategorizer":
    """Create a `bert_textcat` component.

    checkpoint (Optional[str]): Hugging Face BERT directory (or hub id when online): an encoder,
        or a fine-tuned `BertForSequenceClassification` (then it predicts without training).
    window, stride, max_batch_items (int): The own encoder's windows and batches (see `bert`).
    batch_invariant (bool): Scores bit for bit the same whatever a text is batched with (see `bert`).
    precision (str): The own encoder's prediction arithmetic (see `bert`): "float32" (default),
        "int8", "bfloat16", "float16" or "auto". Training runs fp32; the head always runs fp32.
    multi_label (bool): Independent labels (sigmoid) instead of exclusive classes (softmax).
    threshold (float): Score from which a label counts as predicted (multi-label scoring).
    scorer (Optional[Callable]): Defaults to spaCy's category scores.
    """
    return BertTextCategorizer(
        nlp.vocab,
        model,
        name,
        checkpoint=checkpoint,
        window=window,
        stride=stride,
        max_batch_items=max_batch_items,
        batch_invariant=batch_invariant,
        precision=precision,
        multi_label=multi_label,
        threshold=threshold,
        scorer=scorer,
    )


class BertTextCategorizer(BertTaskPipe):
    """Text categories from a BERT sequence-classification head."""

    hf_class = BertForSequenceClassification
    factory_name = "bert_textcat"
    fixed_settings = {"multi_label": "its head was trained for the other problem type (softmax over exclusive classes vs independent sigmoids)."}

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bert_textcat",
        *,
        checkpoint: Optional[str] = None,
        window: int = DEFAULT_SETTINGS.window,
        stride: int = DEFAULT_SETTINGS.stride,
        max_batch_items: int = DEFAULT_SETTINGS.max_batch_items,
        batch_invariant: bool = DEFAULT_SETTINGS.batch_invariant,
        precision: str = DEFAULT_PRECISION,
        multi_label: bool = False,
        threshold: float = 0.5,
        scorer: Optional[Callable] = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(Errors.E354.format(
                field="threshold", value=threshold, problem="is out of range", where=f" (the {name!r} component)",
                reason="a threshold is a probability, a number from 0 to 1",
            ))
        super().__init__(
            vocab,
            model,
            name,
            checkpoint=checkpoint,
            window=window,
            stride=stride,
            max_batch_items=max_batch_items,
            batch_invariant=batch_invariant,
            precision=precision,
            multi_label=bool(multi_label),
            threshold=float(threshold),
        )
        self.scorer = scorer

    # -- labels --------------------------------------------------------------------------
    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    def add_label(self, label: str) -> int:
        if not isinstance(label, str):
            raise ValueError(Errors.E405.format(name=self.name, value=label, type_name=type(label).__name__))
        if label in self.labels:
            return 0
        self.cfg["labels"] = list(self.labels) + [label]
        self._resize_classifier()
        return 1

    @property
    def pooling(self) -> str:
        """"cls" (Hugging Face's pooled [CLS]) or "mean" (mean of the pieces' last hidden
        states), from the model's `pooling` setting."""
        return self.model.attrs.get("pooling", "cls")

    def hf_config_overrides(self) -> Dict[str, Any]:
        overrides = {**super().hf_config_overrides(), "problem_type": MULTI_LABEL if self.cfg["multi_label"] else SINGLE_LABEL}
        if self.pooling != "cls":
            # transformers keeps unknown config fields: a reader of config.json can see that
            # this head was trained on mean-pooled states, not on the pooled [CLS].
            overrides["spacy_bert_pooling"] = self.pooling
        return overrides

    def _rows_from_checkpoint(self, config: BertConfig, directory) -> List[str]:
        expected = MULTI_LABEL if self.cfg["multi_label"] else SINGLE_LABEL
        if config.problem_type not in (None, expected):
            raise ValueError(
                Errors.E361.format(path=directory, problem_type=config.problem_type, name=self.name, multi_label=self.cfg["multi_label"])
            )
        return super()._rows_from_checkpoint(config, directory)

    def _check_labels(self, labels: Sequence[str]) -> None:
        if not labels:
            raise ValueError(Errors.E404.format(name=self.name, factory=self.factory_name, what="categories (doc.cats)", head=self.hf_class.__name__))
        if not self.cfg["multi_label"] and len(labels) < 2:
            raise ValueError(Errors.E360.format(name=self.name, count=len(labels), labels=list(labels)))

    # -- running -------------------------------------------------------------------------
    def _scores(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(logits) if self.cfg["multi_label"] else softmax(logits)

    def predict(self, docs: Iterable[Doc]) -> np.ndarray:
        """(n_docs, n_labels) probabilities (softmax or sigmoid); Docs are not changed."""
        docs = list(docs)
        if not docs:
            return np.zeros((0, len(self.labels)), dtype="float32")
        self._check_ready()
        logits = self.model.ops.to_numpy(self.model.predict(docs))
        return self._scores(logits.astype(np.float64)).astype("float32")

    def set_annotations(self, docs: Sequence[Doc], scores: np.ndarray) -> None:
        for doc, row in zip(docs, scores):
            for label, score in zip(self.labels, row):
                doc.cats[label] = float(score)

    # -- training ------------------------------------------------------------------------
    def _validate_categories(self, examples: Iterable[Example]) -> None:
        """Refuse gold cats the loss cannot honour (spaCy's `textcat._validate_categories`):
        exclusive classes take 0/1 values with at most one 1 (an argmax over two positives
        would silently train on one of them); independent labels take values in [0, 1]."""
        multi_label = self.cfg["multi_label"]
        for eg in examples:
            cats = eg.reference.cats
            for label, value in cats.items():
                if multi_label:
                    ok = isinstance(value, (int, float, np.number)) and 0.0 <= value <= 1.0
                    if not ok:
                        raise ValueError(Errors.E403.format(name=self.name, label=label, value=value, cats=dict(cats)))
                elif value not in (0, 1):
                    raise ValueError(Errors.E402.format(name=self.name, label=label, value=value, cats=dict(cats)))
            if not multi_label:
                positive = [label for label, value in cats.items() if value == 1]
                if len(positive) > 1:
                    raise ValueError(Errors.E401.format(name=self.name, count=len(positive), cats=dict(cats)))

    def _truths(self, examples: Sequence[Example]) -> Tuple[np.ndarray, np.ndarray]:
        """(n_docs, n_labels) gold values and a mask of the known ones (missing cats are 0)."""
        truths = np.zeros((len(examples), len(self.labels)), dtype="float64")
        known = np.zeros_like(truths)
        for i, eg in enumerate(examples):
            for j, label in enumerate(self.labels):
                if label in eg.reference.cats:
                    truths[i, j] = float(eg.reference.cats[label])
                    known[i, j] = 1.0
        return truths, known

    def get_loss(self, examples: Iterable[Example], logits: Floats2d) -> Tuple[float, Floats2d]:
        """Hugging Face's losses: cross-entropy (exclusive) or binary cross-entropy with logits
        (multi-label), averaged over the batch; returns (loss, d_logits)."""
        examples = list(examples)
        self._validate_categories(examples)
        truths, known = self._truths(examples)
        x = self.model.ops.to_numpy(logits).astype(np.float64)
        if self.cfg["multi_label"]:
            probs = sigmoid(x)
            n = max(1.0, known.sum())
            # log(1 + e^x) - t*x, stable
            loss = float(((np.logaddexp(0.0, x) - truths * x) * known).sum() / n)
            d = (probs - truths) * known / n
        else:
            probs = softmax(x)
            has_gold = (known.sum(axis=1) > 0) & (truths.sum(axis=1) > 0)
            n = max(1, int(has_gold.sum()))
            target = truths.argmax(axis=1)
            rows = np.flatnonzero(has_gold)
            loss = float(-np.log(np.maximum(probs[rows, target[rows]], 1e-30)).sum() / n)
            d = np.zeros_like(probs)
            d[rows] = probs[rows]
            d[rows, target[rows]] -= 1.0
            d /= n
        return loss, self.model.ops.asarray2f(d.astype("float32"))

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        """Read the checkpoint (if not yet), take labels from `labels` or the examples' cats,
        and create (or extend) the head. Exclusive classes need at least two labels."""
        validate_get_examples(get_examples, "BertTextCategorizer.initialize")
        self._validate_categories(get_examples())
        self._ensure_loaded()
        if labels is None:
            found: List[str] = []
            for eg in get_examples():
                for label in eg.reference.cats:
                    if label not in found:
                        found.append(label)
            labels = found
        new = [label for label in labels if label not in self.labels]
        if self.classifier.has_param("W") and new:
            warnings.warn(Warnings.W302.format(name=self.name, labels=new))
        for label in new:
            self.add_label(label)
        self._check_labels(self.labels)
        self.model.initialize(X=[eg.predicted for eg in islice(get_examples(), 2)])
