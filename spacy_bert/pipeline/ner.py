"""`bert_ner`: `BertForTokenClassification` as a spaCy component.

    nlp.add_pipe("bert_ner", config={"checkpoint": "path/to/bert"})

Labels are entity types; the head predicts BIO tags ("O", "B-X", "I-X") on the first piece of
each spaCy token (`token_tags.py`). A fine-tuned Hugging Face token-classification checkpoint
(`architectures: ["BertForTokenClassification"]`, IOB2 `id2label`) predicts at once; an
encoder-only checkpoint gets a fresh head at `initialize()` from the training labels. Long
texts are windows (the encoder's), so entities after piece 512 are found.

Entities set earlier in the pipeline (an `entity_ruler` before `bert_ner`) are kept, as spaCy's
`ner` keeps them: a predicted entity that overlaps one of them is left out of `doc.ents` but
stays in `doc.spans[spans_key]`, which always holds every prediction (nothing is lost
silently). `overwrite_ents = true` replaces `doc.ents` with the predictions instead.
"""
import warnings
from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, cast

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d

from ..errors import Errors, Warnings
from ..layers.encoder import token_offsets
from ..layers.heads.linear import PieceLogits
from ..layers.precision.policy import DEFAULT_PRECISION
from ..modeling import BertConfig, BertForTokenClassification
from .probabilities import softmax
from .settings import DEFAULT_SETTINGS
from .task import BertTaskPipe
from .token_tags import (
    AGGREGATION_STRATEGIES,
    IGNORE,
    OUTSIDE,
    decode_entities,
    entity_types,
    gold_targets,
    tag_rows,
    token_pieces,
    token_probabilities,
)

DEFAULT_NER_MODEL = """
[model]
@architectures = "spacy-bert.BertTokenClassifier.v1"
nO = null

[model.tok2vec]
@architectures = "spacy-bert.BertEncoder.v1"
mixed_precision = false
grad_scaler_config = {}
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_NER_MODEL)["model"]


@Language.factory(
    "bert_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "checkpoint": None,
        "window": DEFAULT_SETTINGS.window,
        "stride": DEFAULT_SETTINGS.stride,
        "max_batch_items": DEFAULT_SETTINGS.max_batch_items,
        "batch_invariant": DEFAULT_SETTINGS.batch_invariant,
        "precision": DEFAULT_PRECISION,
        "aggregation_strategy": "first",
        "spans_key": "bert_ner",
        "overwrite_ents": False,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_bert_ner(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[PieceLogits]],
    checkpoint: Optional[str],
    window: int,
    stride: int,
    max_batch_items: int,
    batch_invariant: bool,
    precision: str,
    aggregation_strategy: str,
    spans_key: str,
    overwrite_ents: bool,
    scorer: Optional[Callable],
) -> "BertNER":
    """Create a `bert_ner` component.

    checkpoint (Optional[str]): Hugging Face BERT directory (or hub id when online): an encoder,
        or a fine-tuned `BertForTokenClassification` (then it predicts without training).
        Unused when the model listens to a shared `bert` component.
    window, stride, max_batch_items (int): The own encoder's windows and batches (see `bert`).
    batch_invariant (bool): Scores bit for bit the same whatever a text is batched with (see `bert`).
    precision (str): The own encoder's prediction arithmetic (see `bert`): "float32" (default),
        "int8", "bfloat16", "float16" or "auto". Training runs fp32; the head always runs fp32.
    aggregation_strategy (str): How a token's pieces give its label: "first", "average", "max".
    spans_key (str): `doc.spans` key of the predicted entities (with `attrs["scores"]`); it
        holds every prediction, also those left out of `doc.ents`.
    overwrite_ents (bool): Replace entities already in `doc.ents` (e.g. from an `entity_ruler`
        earlier in the pipeline). Default false: keep them, and leave predictions that overlap
        them out of `doc.ents` (spaCy's `entity_ruler` setting of the same name).
    scorer (Optional[Callable]): Defaults to spaCy's entity scorer (ents_p/r/f, ents_per_type).
    """
    return BertNER(
        nlp.vocab,
        model,
        name,
        checkpoint=checkpoint,
        window=window,
        stride=stride,
        max_batch_items=max_batch_items,
        batch_invariant=batch_invariant,
        precision=precision,
        aggregation_strategy=aggregation_strategy,
        spans_key=spans_key,
        overwrite_ents=overwrite_ents,
        scorer=scorer,
    )


class BertNER(BertTaskPipe):
    """Named entities from a BERT token-classification head."""

    hf_class = BertForTokenClassification
    factory_name = "bert_ner"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bert_ner",
        *,
        checkpoint: Optional[str] = None,
        window: int = DEFAULT_SETTINGS.window,
        stride: int = DEFAULT_SETTINGS.stride,
        max_batch_items: int = DEFAULT_SETTINGS.max_batch_items,
        batch_invariant: bool = DEFAULT_SETTINGS.batch_invariant,
        precision: str = DEFAULT_PRECISION,
        aggregation_strategy: str = "first",
        spans_key: str = "bert_ner",
        overwrite_ents: bool = False,
        scorer: Optional[Callable] = None,
    ) -> None:
        if aggregation_strategy not in AGGREGATION_STRATEGIES:
            raise ValueError(Errors.E362.format(value=aggregation_strategy, expected=", ".join(AGGREGATION_STRATEGIES)))
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
            aggregation_strategy=aggregation_strategy,
            spans_key=spans_key,
            overwrite_ents=bool(overwrite_ents),
        )
        self.scorer = scorer

    # -- labels --------------------------------------------------------------------------
    @property
    def labels(self) -> Tuple[str, ...]:
        """Entity types, sorted (as spaCy's `ner` gives them)."""
        return tuple(sorted(entity_types(self.cfg["labels"]))) if self.cfg["labels"] else tuple()

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    def add_label(self, label: str) -> int:
        """Add an entity type (two head rows, "B-" and "I-"); returns 1 if added, 0 if known."""
        if not isinstance(label, str):
            raise ValueError(Errors.E405.format(name=self.name, value=label, type_name=type(label).__name__))
        if label in self.labels:
            return 0
        rows = self.cfg["labels"] or [OUTSIDE]
        self.cfg["labels"] = rows + [f"B-{label}", f"I-{label}"]
        self._resize_classifier()
        return 1

    def _rows_from_checkpoint(self, config: BertConfig, directory) -> List[str]:
        rows = super()._rows_from_checkpoint(config, directory)
        try:
            entity_types(rows)
        except ValueError as err:
            raise ValueError(Errors.E359.format(path=directory, head=self.hf_class.__name__, labels=err)) from None
        return rows

    # -- running -------------------------------------------------------------------------
    def _check_ready(self) -> None:
        super()._check_ready()
        if not self.labels:
            # A head with the single row "O" (e.g. saved after an initialize without labels by
            # an older version) would predict no entity at all, silently.
            raise ValueError(Errors.E358.format(name=self.name, head=self.hf_class.__name__))

    def predict(self, docs: Iterable[Doc]) -> List[List[Tuple[int, int, str, float]]]:
        """Entities of each Doc as (start token, end token, label, score); Docs are not changed."""
        docs = list(docs)
        if not docs:
            return []
        self._check_ready()
        outputs: List[PieceLogits] = self.model.predict(docs)
        rows = self.cfg["labels"]
        strategy = self.cfg["aggregation_strategy"]
        results = []
        for out in outputs:
            logits = self.model.ops.to_numpy(out.logits)
            tp = token_pieces(out.alignment)
            probs = token_probabilities(softmax(logits), tp, strategy)
            results.append([(e.start, e.end, e.label, e.score) for e in decode_entities(probs, tp, rows)])
        return results

    def set_annotations(self, docs: Sequence[Doc], predictions: Sequence[List[Tuple[int, int, str, float]]]) -> None:
        """Set `doc.ents` (other tokens outside) and `doc.spans[spans_key]` with `attrs["scores"]`.

        Without `overwrite_ents`, entities already on the Doc stay, and predictions that overlap
        them are left out of `doc.ents` (they remain in `doc.spans[spans_key]`).
        """
        key = self.cfg["spans_key"]
        overwrite = self.cfg.get("overwrite_ents", False)
        for doc, entities in zip(docs, predictions):
            spans = [Span(doc, start, end, label=label) for start, end, label, _ in entities]
            doc.set_ents(spans if overwrite else keep_preset_entities(doc, spans), default="outside")
            group = SpanGroup(doc, name=key, spans=spans)
            group.attrs["scores"] = [score for *_, score in entities]
            doc.spans[key] = group

    # -- training ------------------------------------------------------------------------
    def _gold(self, example: Example, out: PieceLogits, row_of: Dict[str, int]):
        reference = example.reference
        entities = [(e.start_char, e.end_char, e.label_) for e in reference.ents]
        if reference.has_annotation("ENT_IOB"):
            missing = [(t.idx, t.idx + len(t)) for t in reference if t.ent_iob == 0]
        else:
            missing = [(0, len(reference.text))]
        return gold_targets(token_offsets(example.predicted), token_pieces(out.alignment), out.alignment.n_pieces, entities, missing, row_of)

    def get_loss(self, examples: Iterable[Example], outputs: List[PieceLogits]) -> Tuple[float, List[Floats2d]]:
        """Cross-entropy over the pieces that carry a label, averaged (Hugging Face's loss).

        Returns (loss, d_logits per Doc). Gold entities that the pieces cannot express are
        counted, ignored in the loss, and reported in one warning per batch.
        """
        examples = list(examples)
        row_of = {row: i for i, row in enumerate(self.cfg["labels"])}
        ops = self.model.ops
        targets, lost, total = [], [], 0
        for eg, out in zip(examples, outputs):
            gold = self._gold(eg, out, row_of)
            targets.append(gold.piece_rows)
            lost.extend(gold.inexpressible)
            total += len(eg.reference.ents)
        if lost:
            warnings.warn(
                Warnings.W301.format(
                    name=self.name, count=len(lost), total=total, ies="y" if len(lost) == 1 else "ies", examples=lost[:5]
                )
            )
        n_labelled = max(1, sum(int((t != IGNORE).sum()) for t in targets))
        loss = 0.0
        d_logits = []
        for out, target in zip(outputs, targets):
            probs = softmax(ops.to_numpy(out.logits).astype(np.float64))
            d = np.zeros_like(probs)
            rows = np.flatnonzero(target != IGNORE)
            if len(rows):
                loss -= float(np.log(np.maximum(probs[rows, target[rows]], 1e-30)).sum())
                d[rows] = probs[rows]
                d[rows, target[rows]] -= 1.0
            d_logits.append(ops.asarray2f(cast(Floats2d, (d / n_labelled).astype("float32"))))
        return loss / n_labelled, d_logits

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        """Read the checkpoint (if not yet), take labels from `labels` or the examples, and
        create (or extend) the head.

        A fine-tuned checkpoint keeps its head and rows; data labels it lacks are added as new
        rows (warning W302).
        """
        validate_get_examples(get_examples, "BertNER.initialize")
        self._ensure_loaded()
        if labels is None:
            found: Set[str] = set()
            for eg in get_examples():
                found.update(e.label_ for e in eg.reference.ents)
            labels = sorted(found)
        had_head = self.classifier.has_param("W")
        new = [label for label in labels if label not in self.labels]
        if had_head and new:
            warnings.warn(Warnings.W302.format(name=self.name, labels=new))
        if not set(labels) | set(self.labels):
            # A head with only "O" would predict no entity, with no sign that anything is wrong.
            raise ValueError(Errors.E404.format(name=self.name, factory=self.factory_name, what="entities (doc.ents)", head=self.hf_class.__name__))
        if not had_head:
            self.cfg["labels"] = tag_rows(sorted(set(labels) | set(self.labels)))
        else:
            for label in new:
                self.add_label(label)
        self._resize_classifier()
        self.model.initialize(X=[eg.predicted for eg in islice(get_examples(), 2)])


def keep_preset_entities(doc: Doc, predicted: Sequence[Span]) -> List[Span]:
    """The entities already on `doc` plus the predicted ones that overlap none of them.

    Preset spans keep their label, `kb_id` and `id` (an `entity_ruler` pattern's id).
    """
    preset = list(doc.ents)
    taken = np.zeros(len(doc) + 1, dtype=bool)
    for span in preset:
        taken[span.start : span.end] = True
    return preset + [span for span in predicted if not taken[span.start : span.end].any()]
