"""Task heads on top of a BERT encoder, as thinc models with Hugging Face's weights and maths.

- `linear_head`: dropout -> affine, the `classifier` of `BertForTokenClassification` and
  `BertForSequenceClassification` (params `W` (nO, nI) = `classifier.weight`, `b` (nO,) =
  `classifier.bias`, initialised like Hugging Face: normal(0, initializer_range), zero bias).
- `piece_classifier`: encoder -> one logit row per WordPiece (token classification).
- `sequence_classifier`: encoder -> one logit row per Doc from the pooled `[CLS]` output
  (sequence classification). A Doc cut into several windows uses the mean of its windows'
  pooled outputs; because the classifier is affine, that equals the mean of the windows' logits.

The encoder is a `spacy-bert.BertEncoder.v1` (the component's own BERT) or a
`spacy-bert.BertOutputListener.v1` (the shared `bert` component's outputs).
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, cast

import numpy as np
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats1d, Floats2d

from ...errors import Errors
from ...tokenization import PieceAlignment
from ..encoder import LOAD_HOOK, BertDocGradient, BertDocOutput, run_load_hook
from ..training.listener import require_piece_states

DEFAULT_INITIALIZER_RANGE = 0.02


@dataclass
class PieceLogits:
    """Token-classification logits of one Doc.

    Attributes:
        logits (Floats2d): (n_pieces, n_tags) one row per WordPiece of the Doc's text.
        alignment (PieceAlignment): the pieces of each spaCy token.
        piece_offsets (np.ndarray): (n_pieces, 2) char [start, end) of each piece.
    """

    logits: Floats2d
    alignment: PieceAlignment
    piece_offsets: np.ndarray


# -- the classifier ----------------------------------------------------------------
def linear_head(nO: Optional[int] = None, nI: Optional[int] = None) -> Model[Floats2d, Floats2d]:
    """Dropout, then `X @ W.T + b`: (n, nI) -> (n, nO). The dropout rate is the training
    `dropout` (spaCy's `set_dropout_rate`); Hugging Face uses hidden_dropout_prob = 0.1."""
    return Model(
        "bert-classifier",
        _linear_forward,
        init=_linear_init,
        dims={"nO": nO, "nI": nI},
        params={"W": None, "b": None},
        attrs={"dropout_rate": 0.0, "initializer_range": DEFAULT_INITIALIZER_RANGE},
    )


def _normal(shape: Tuple[int, int], std: float) -> Floats2d:
    """A (nO, nI) float32 matrix drawn from normal(0, std), as Hugging Face's fresh Linear."""
    return cast(Floats2d, np.random.normal(0.0, std, size=shape).astype("float32"))


def _linear_init(model: Model, X: Optional[Floats2d] = None, Y: Optional[Floats2d] = None) -> None:
    if X is not None and model.maybe_get_dim("nI") is None:
        model.set_dim("nI", X.shape[1])
    nO, nI = model.get_dim("nO"), model.get_dim("nI")
    if model.has_param("W") and model.get_param("W").shape == (nO, nI):
        return  # already set (e.g. from a fine-tuned checkpoint)
    model.set_param("W", model.ops.asarray2f(_normal((nO, nI), model.attrs["initializer_range"])))
    model.set_param("b", model.ops.alloc1f(nO))


def linear_head_like(model: Model, W: Floats2d, b: Floats1d) -> Model[Floats2d, Floats2d]:
    """A new head with `model`'s settings and the weights W (nO, nI), b (nO,).

    (thinc fixes a layer's dims once it has parameters, so a head of another size is a new
    layer, swapped in with `Model.replace_node`, as spaCy resizes its output layers.)
    """
    head = linear_head(nO=W.shape[0], nI=W.shape[1])
    head.attrs.update(model.attrs)
    head.set_param("W", head.ops.asarray2f(W))
    head.set_param("b", head.ops.asarray1f(b))
    return head


def resized_linear_head(model: Model, new_nO: int) -> Model[Floats2d, Floats2d]:
    """`model` grown to `new_nO` outputs (a new layer if it has weights), keeping the trained
    rows; new rows start like Hugging Face's fresh ones."""
    if not model.has_param("W"):
        model.set_dim("nO", new_nO, force=True)
        return model
    W, b = _weights(model)
    old_nO, nI = W.shape
    if new_nO == old_nO:
        return model
    if new_nO < old_nO:
        raise ValueError(Errors.E406.format(old=old_nO, new=new_nO))
    new_W = model.ops.asarray2f(_normal((new_nO, nI), model.attrs["initializer_range"]))
    new_b = model.ops.alloc1f(new_nO)
    new_W[:old_nO] = W
    new_b[:old_nO] = b
    return linear_head_like(model, new_W, new_b)


def _weights(model: Model) -> Tuple[Floats2d, Floats1d]:
    """A linear head's W (nO, nI) and b (nO,)."""
    return cast(Floats2d, model.get_param("W")), cast(Floats1d, model.get_param("b"))


def _linear_forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    W, b = _weights(model)
    if X.shape[1] != W.shape[1]:
        raise ValueError(Errors.E356.format(got=X.shape[1], expected=W.shape[1]))
    rate = model.attrs["dropout_rate"] if is_train else 0.0
    mask = model.ops.get_dropout_mask(X.shape, rate) if rate > 0 else None
    Xd = X * mask if mask is not None else X
    Y = model.ops.gemm(Xd, W, trans2=True) + b

    def backprop(dY: Floats2d) -> Floats2d:
        model.inc_grad("W", model.ops.gemm(dY, Xd, trans1=True))
        model.inc_grad("b", dY.sum(axis=0))
        dX = model.ops.gemm(dY, W)
        return dX * mask if mask is not None else dX

    return Y, backprop


# -- token classification ------------------------------------------------------------
def _encoder_with_classifier(name: str, forward: Callable, encoder: Model, nO: Optional[int]) -> Model:
    """`encoder` followed by a `linear_head`, both reachable as refs ("encoder", "classifier")."""
    head = linear_head(nO=nO)
    return Model(
        name,
        forward,
        init=_classifier_init,
        layers=[encoder, head],
        refs={"encoder": encoder, "classifier": head},
        dims={"nO": nO},
        attrs={LOAD_HOOK: None},
    )


def piece_classifier(encoder: Model[List[Doc], List[BertDocOutput]], nO: Optional[int] = None) -> Model[List[Doc], List[PieceLogits]]:
    """Encoder outputs -> `PieceLogits` per Doc (the `BertForTokenClassification` head)."""
    require_piece_states(encoder)  # a shared `bert` keeps piece states on the Docs for it
    return _encoder_with_classifier("bert-piece-classifier", _piece_forward, encoder, nO)


def _piece_states(out: BertDocOutput) -> Floats2d:
    if out.last_hidden_state is None:
        raise ValueError(Errors.E357)
    return out.last_hidden_state


def _piece_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[PieceLogits], Callable]:
    run_load_hook(model)
    encoder, head = model.get_ref("encoder"), model.get_ref("classifier")
    outputs, bp_encoder = encoder(docs, is_train)
    states = [_piece_states(out) for out in outputs]
    sizes = [len(s) for s in states]
    flat = model.ops.xp.concatenate(states) if states else model.ops.alloc2f(0, head.get_dim("nI"))
    logits, bp_head = head(flat, is_train)
    splits = np.cumsum(sizes)[:-1]
    per_doc = model.ops.xp.split(logits, splits) if len(sizes) > 1 else [logits]
    result = [PieceLogits(l, out.alignment, out.piece_offsets) for l, out in zip(per_doc, outputs)]

    def backprop(d_logits: List[Floats2d]) -> List[Doc]:
        d_flat = bp_head(model.ops.xp.concatenate(d_logits) if len(d_logits) > 1 else d_logits[0])
        d_states = model.ops.xp.split(d_flat, splits) if len(sizes) > 1 else [d_flat]
        return bp_encoder([BertDocGradient(d_last_hidden_state=d) for d in d_states])

    return result, backprop


# -- sequence classification ---------------------------------------------------------
#: How a Doc becomes one vector for the sequence classifier.
#: "cls": the pooled `[CLS]` (`BertForSequenceClassification`: pooler dense + tanh);
#: "mean": the mean of the last hidden states of the text's pieces (as sentence-transformers
#: pools, but without the [CLS] and [SEP] positions, and each piece once across windows).
SEQUENCE_POOLINGS = ("cls", "mean")


def sequence_classifier(encoder: Model[List[Doc], List[BertDocOutput]], nO: Optional[int] = None, pooling: str = "cls") -> Model[List[Doc], Floats2d]:
    """Encoder outputs -> logits (n_docs, nO) from the pooled `[CLS]` (the
    `BertForSequenceClassification` head) or, with `pooling="mean"`, from the mean of the
    pieces' last hidden states."""
    if pooling not in SEQUENCE_POOLINGS:
        raise ValueError(Errors.E680.format(value=pooling, expected=", ".join(SEQUENCE_POOLINGS)))
    model = _encoder_with_classifier("bert-sequence-classifier", _sequence_forward, encoder, nO)
    model.attrs["pooling"] = pooling
    return model


def _mean_pieces(model: Model, outputs: List[BertDocOutput]) -> Tuple[Floats2d, List[int]]:
    """(n_docs, hidden) mean of each Doc's piece states, and each Doc's piece count (a Doc
    without pieces gives a zero vector)."""
    xp = model.ops.xp
    states = [_piece_states(out) for out in outputs]
    counts = [len(s) for s in states]
    rows = [s.mean(axis=0) if len(s) else xp.zeros((s.shape[1],), dtype=s.dtype) for s in states]
    return xp.stack(rows), counts


def _sequence_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Floats2d, Callable]:
    run_load_hook(model)
    encoder, head = model.get_ref("encoder"), model.get_ref("classifier")
    outputs, bp_encoder = encoder(docs, is_train)
    mean = model.attrs.get("pooling", "cls") == "mean"
    if mean:
        pooled, counts = _mean_pieces(model, outputs)
    else:
        pooled = model.ops.xp.stack([out.pooler_output for out in outputs])  # (n_docs, hidden)
    logits, bp_head = head(pooled, is_train)

    def backprop(d_logits: Floats2d) -> List[Doc]:
        d_pooled = bp_head(d_logits)
        if mean:
            xp = model.ops.xp
            grads = [
                BertDocGradient(d_last_hidden_state=xp.broadcast_to(d / max(n, 1), (n, d.shape[0])).astype(d.dtype))
                for d, n in zip(d_pooled, counts)
            ]
            return bp_encoder(grads)
        return bp_encoder([BertDocGradient(d_pooler_output=d) for d in d_pooled])

    return logits, backprop


def _classifier_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    run_load_hook(model)
    encoder, head = model.get_ref("encoder"), model.get_ref("classifier")
    encoder.initialize(X=X)
    if model.maybe_get_dim("nO") is not None:
        head.set_dim("nO", model.get_dim("nO"), force=True)
    if head.maybe_get_dim("nI") is None and encoder.maybe_get_dim("nO") is not None:
        head.set_dim("nI", encoder.get_dim("nO"))
    head.initialize()


@registry.architectures("spacy-bert.BertTokenClassifier.v1")
def bert_token_classifier_v1(tok2vec: Model[List[Doc], List[BertDocOutput]], nO: Optional[int] = None) -> Model[List[Doc], List[PieceLogits]]:
    """`BertForTokenClassification` as a thinc model: logits for every WordPiece.

    Args:
        tok2vec (Model): The encoder: `spacy-bert.BertEncoder.v1` (own BERT) or
            `spacy-bert.BertOutputListener.v1` (the shared `bert` component's outputs). Named
            `tok2vec` as in spaCy's components, so `nlp.replace_listeners` finds it.
        nO (Optional[int]): Number of tags; the component sets it from its labels.
    """
    return piece_classifier(tok2vec, nO)


@registry.architectures("spacy-bert.BertSequenceClassifier.v1")
def bert_sequence_classifier_v1(tok2vec: Model[List[Doc], List[BertDocOutput]], nO: Optional[int] = None, pooling: str = "cls") -> Model[List[Doc], Floats2d]:
    """`BertForSequenceClassification` as a thinc model: logits (n_docs, nO) per batch.

    Args:
        tok2vec (Model): The encoder: `spacy-bert.BertEncoder.v1` or
            `spacy-bert.BertOutputListener.v1` (named as in spaCy's components).
        nO (Optional[int]): Number of labels; the component sets it from its labels.
        pooling (str): "cls" (default): Hugging Face's pooled `[CLS]`; "mean": the mean of
            the last hidden states of the text's pieces, for checkpoints whose pooler was never
            trained (sentence-transformers models such as all-MiniLM-L6-v2). A mean-pooled
            head exported as `BertForSequenceClassification` is NOT what `transformers` runs
            (it pools `[CLS]`): export warns (W680).
    """
    return sequence_classifier(tok2vec, nO, pooling)
