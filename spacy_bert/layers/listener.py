"""Listeners: layers that receive the shared `bert` component's outputs instead of running BERT.

- `spacy-bert.BertListener.v1` gives token vectors (n_tokens, hidden) to any component that
  takes a `tok2vec` (spaCy's `ner`, `textcat`, `tagger`, ...).
- `spacy-bert.BertOutputListener.v1` gives the whole `BertDocOutput` (piece states, pooled
  `[CLS]`, alignment) to the BERT task heads (`bert_ner`, `bert_textcat`).

The listener works like spaCy's `Tok2VecListener`: during `nlp.update` the upstream `bert`
component hands each listener the batch's token vectors and a callback that backpropagates
into the shared encoder (scaled by `grad_factor`); when predicting, the listener reads the
token vectors the `bert` component stored in `doc.tensor`.
"""
from typing import Callable, Iterable, List, Optional, Tuple

from spacy.errors import Errors as SpacyErrors
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..errors import Errors
from ..tokenization import PieceAlignment
from .encoder import BertDocGradient, BertDocOutput


class BertListener(Model):
    """A layer that receives its outputs from an upstream `bert` component.

    Args:
        upstream_name (str): Name of the `bert` component to listen to, or "*" for any.
        grad_factor (float): Multiplier of the gradient sent upstream (0 freezes the encoder
            for this component).
        width (Optional[int]): Width of the token vectors; set by the upstream component once
            its checkpoint is read, so it can stay None in configs.
    """

    name = "bert-listener"

    def __init__(self, upstream_name: str = "*", grad_factor: float = 1.0, width: Optional[int] = None) -> None:
        Model.__init__(self, name=self.name, forward=self.forward_function(), dims={"nO": width}, attrs={"grad_factor": grad_factor})
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs: Optional[List[BertDocOutput]] = None
        self._backprop: Optional[Callable[[List[BertDocGradient]], List[Doc]]] = None

    @staticmethod
    def forward_function() -> Callable:
        return forward

    @classmethod
    def get_batch_id(cls, docs: Iterable[Doc]) -> int:
        """A content hash of a batch, to check the listener gets the batch it was sent."""
        return sum(sum(token.orth for token in doc) + len(doc.text) for doc in docs)

    def receive(self, batch_id: int, outputs: List[BertDocOutput], backprop: Callable) -> None:
        """Store a training batch's encoder outputs and the callback into the shared encoder."""
        self._batch_id = batch_id
        self._outputs = outputs
        self._backprop = backprop

    def verify_inputs(self, docs: List[Doc]) -> None:
        if self._batch_id is None and self._outputs is None:
            raise ValueError(SpacyErrors.E954)
        batch_id = self.get_batch_id(docs)
        if batch_id != self._batch_id:
            raise ValueError(SpacyErrors.E953.format(id1=batch_id, id2=self._batch_id))


def _scaled(upstream_backprop: Callable, grad_factor: float) -> Callable[[List[BertDocGradient]], List[Doc]]:
    def backprop(gradients: List[BertDocGradient]) -> List[Doc]:
        if grad_factor == 0.0:
            return []
        if grad_factor != 1.0:
            gradients = [
                BertDocGradient(
                    **{k: None if v is None else v * grad_factor for k, v in vars(g).items()}
                )
                for g in gradients
            ]
        return upstream_backprop(gradients)

    return backprop


def forward(model: BertListener, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    if is_train and model._batch_id is not None:
        model.verify_inputs(docs)
        upstream_backprop = _scaled(model._backprop, model.attrs["grad_factor"])

        def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
            return upstream_backprop([BertDocGradient(d_token_vectors=d) for d in d_outputs])

        return [out.token_vectors for out in model._outputs], backprop
    # Predicting, or training with a frozen (annotating) `bert`: read what it stored.
    outputs = []
    width = model.maybe_get_dim("nO")
    for doc in docs:
        if doc.tensor.size == 0:
            if is_train and len(doc):
                raise ValueError(SpacyErrors.E203.format(name="bert"))
            # Empty Doc, or not annotated yet (e.g. during initialize): zeros of the right shape.
            outputs.append(model.ops.alloc2f(len(doc), width or 0))
        else:
            outputs.append(model.ops.asarray2f(doc.tensor))
    return outputs, lambda d_outputs: []


class BertOutputListener(BertListener):
    """A listener that passes on the whole `BertDocOutput` of each Doc (for task heads).

    When predicting it rebuilds the outputs from `doc._.bert` and `doc.tensor`, so the `bert`
    component must run before it (with `store_piece_states = true` for heads that read
    piece states).
    """

    name = "bert-output-listener"

    @staticmethod
    def forward_function() -> Callable:
        return output_forward


def output_forward(model: BertOutputListener, docs: List[Doc], is_train: bool) -> Tuple[List[BertDocOutput], Callable]:
    if is_train and model._batch_id is not None:
        model.verify_inputs(docs)
        return model._outputs, _scaled(model._backprop, model.attrs["grad_factor"])
    return [_stored_output(model, doc) for doc in docs], lambda gradients: []


def _stored_output(model: Model, doc: Doc) -> BertDocOutput:
    """The `BertDocOutput` that the upstream `bert` component left on `doc`."""
    data = doc._.bert if Doc.has_extension("bert") else None
    if data is None:
        raise ValueError(Errors.E355.format(name=model.upstream_name))
    ops = model.ops
    hidden = data.pooler_output.shape[-1]
    if data.last_hidden_state is None:
        piece_states = None
    else:
        piece_states = ops.asarray2f(data.last_hidden_state)
    return BertDocOutput(
        piece_ids=data.piece_ids,
        piece_offsets=data.piece_offsets,
        alignment=PieceAlignment(lengths=data.lengths, piece_indices=data.piece_indices, n_pieces=len(data.piece_ids)),
        last_hidden_state=piece_states,
        pooler_output=ops.asarray1f(data.pooler_output),
        token_vectors=ops.asarray2f(doc.tensor) if doc.tensor.size else ops.alloc2f(len(doc), hidden),
        n_windows=data.n_windows,
    )


@registry.architectures("spacy-bert.BertListener.v1")
def bert_listener_v1(grad_factor: float = 1.0, upstream: str = "*", width: Optional[int] = None) -> BertListener:
    """Listen to the `bert` component named `upstream` ("*": any) for token vectors.

    Args:
        grad_factor (float): Scale of the gradient this component sends into the shared encoder.
        upstream (str): The `bert` component's name, or "*".
        width (Optional[int]): Token vector width; leave unset, the `bert` component fills it in.
    """
    return BertListener(upstream_name=upstream, grad_factor=grad_factor, width=width)


@registry.architectures("spacy-bert.BertOutputListener.v1")
def bert_output_listener_v1(grad_factor: float = 1.0, upstream: str = "*", width: Optional[int] = None) -> BertOutputListener:
    """Listen to the `bert` component named `upstream` ("*": any) for its whole outputs (piece
    states, pooled `[CLS]`, alignment): the encoder input of `bert_ner` and `bert_textcat`.

    Args:
        grad_factor (float): Scale of the gradient this component sends into the shared encoder.
        upstream (str): The `bert` component's name, or "*".
        width (Optional[int]): Hidden size; leave unset, the `bert` component fills it in.
    """
    return BertOutputListener(upstream_name=upstream, grad_factor=grad_factor, width=width)
