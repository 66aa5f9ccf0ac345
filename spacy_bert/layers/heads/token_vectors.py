"""`spacy-bert.BertTokenVectors.v1`: a standalone BERT tok2vec (Docs -> one vector per token).

This is what `nlp.replace_listeners("bert", ...)` puts in place of a `BertListener`: a copy of
the shared encoder owned by the downstream component.
"""
from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..encoder import BertDocGradient, BertEncoder, BertEncoderModel, ensure_loaded
from ..training.listener import zero_gradients
from ..precision.training import DEFAULT_TRAIN_PRECISION
from ..settings import DEFAULT_SETTINGS


def token_vectors(encoder: BertEncoderModel, grad_factor: float = 1.0) -> Model[List[Doc], List[Floats2d]]:
    """Wrap an encoder so it outputs `doc.tensor`-style token vectors (n_tokens, hidden) per Doc."""
    return Model(
        "bert-token-vectors",
        _forward,
        init=_init,
        layers=[encoder],
        dims={"nO": encoder.maybe_get_dim("nO")},
        attrs={"grad_factor": grad_factor},
    )


def _init(model: Model, X=None, Y=None) -> None:
    encoder = model.layers[0]
    ensure_loaded(encoder)
    model.set_dim("nO", encoder.get_dim("nO"), force=True)


def _forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    encoder = model.layers[0]
    outputs, backprop_encoder = encoder(docs, is_train)
    if model.maybe_get_dim("nO") is None:
        model.set_dim("nO", encoder.get_dim("nO"))
    grad_factor = model.attrs["grad_factor"]

    def backprop(d_vectors: List[Floats2d]) -> List[Floats2d]:
        """d_vectors: per Doc (n_tokens, hidden). Returns per Doc a zero (n_tokens, hidden)
        array (Docs have no gradient), as a listener's backprop does, so thinc combinators
        (`concatenate`, `add`) can sum it; with grad_factor 0 the encoder is not touched."""
        if grad_factor != 0.0:
            backprop_encoder([BertDocGradient(d_token_vectors=d * grad_factor) for d in d_vectors])
        return zero_gradients(model, docs, model.maybe_get_dim("nO"))

    return [o.token_vectors for o in outputs], backprop


@registry.architectures("spacy-bert.BertTokenVectors.v1")
def bert_token_vectors_v1(
    checkpoint: Optional[str] = None,
    window: int = DEFAULT_SETTINGS.window,
    stride: int = DEFAULT_SETTINGS.stride,
    max_batch_items: int = DEFAULT_SETTINGS.max_batch_items,
    batch_invariant: bool = DEFAULT_SETTINGS.batch_invariant,
    pooling: str = "mean",
    grad_factor: float = 1.0,
    mixed_precision: bool = False,
    grad_scaler_config: Optional[dict] = None,
    train_precision: str = DEFAULT_TRAIN_PRECISION,
) -> Model[List[Doc], List[Floats2d]]:
    """A BERT encoder owned by one component, giving one vector per token (see `BertEncoder`)."""
    encoder = BertEncoder(
        checkpoint=checkpoint,
        window=window,
        stride=stride,
        max_batch_items=max_batch_items,
        batch_invariant=batch_invariant,
        pooling=pooling,
        mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
        train_precision=train_precision,
    )
    return token_vectors(encoder, grad_factor)
