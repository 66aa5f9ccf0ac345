"""Listeners: layers that receive the shared `bert` component's outputs instead of running BERT.

- `spacy-bert.BertListener.v1` gives token vectors (n_tokens, hidden) to any component that
  takes a `tok2vec` (spaCy's `ner`, `textcat`, `tagger`, ...).
- `spacy-bert.BertOutputListener.v1` gives the whole `BertDocOutput` (piece states, pooled
  `[CLS]`, alignment) to the BERT task heads (`bert_ner`, `bert_textcat`).

The listener works like spaCy's `Tok2VecListener`: during `nlp.update` the upstream `bert`
component hands each listener the batch's outputs and a callback into the batch's
`SharedGradient` (`shared_gradient.py`). Every listener with `grad_factor > 0` sends its scaled
gradient there, and the encoder's backward pass runs once, when all of them have sent; a
listener with `grad_factor = 0` sends nothing and never holds up or swallows the others. A
listener forgets the batch once it has backpropagated. When predicting, the listener reads
what the `bert` component stored on the Docs (`doc.tensor`, `doc._.bert`).

Backprop returns one zero (n_tokens, width) array per Doc (Docs have no gradient), as spaCy's
listener does, so the layer composes in thinc combinators such as `concatenate`.
"""
from typing import Callable, Iterable, List, Optional, Tuple, cast

from spacy.errors import Errors as SpacyErrors
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ...errors import Errors
from ...tokenization import PieceAlignment
from ..encoder import BertDocGradient, BertDocOutput


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
        Model.__init__(
            self,
            name=self.name,
            forward=self.forward_function(),
            dims={"nO": width},
            attrs={"grad_factor": grad_factor, "needs_piece_states": False},
        )
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs: Optional[List[BertDocOutput]] = None
        self._backprop: Optional[Callable[["BertListener", List[BertDocGradient]], None]] = None

    @staticmethod
    def forward_function() -> Callable:
        return forward

    @property
    def sends_gradients(self) -> bool:
        """Whether a training batch through this listener sends a gradient into the encoder."""
        return self.attrs["grad_factor"] != 0.0

    @classmethod
    def get_batch_id(cls, docs: Iterable[Doc]) -> int:
        """A content hash of a batch, to check the listener gets the batch it was sent."""
        return sum(sum(token.orth for token in doc) + len(doc.text) for doc in docs)

    def receive(self, batch_id: int, outputs: List[BertDocOutput], backprop: Callable[["BertListener", List[BertDocGradient]], None]) -> None:
        """Store a training batch's encoder outputs and the callback into the shared encoder.

        Args:
            batch_id (int): `get_batch_id` of the batch's Docs.
            outputs (List[BertDocOutput]): The encoder's outputs, one per Doc.
            backprop (Callable): `backprop(listener, gradients)` sends this listener's
                grad_factor-scaled `BertDocGradient`s (one per Doc) into the shared gradient.
        """
        self._batch_id = batch_id
        self._outputs = outputs
        self._backprop = backprop

    def clear(self) -> None:
        """Forget the stored batch (spacy-transformers' `backprop_and_clear`), so no batch
        outlives its update."""
        self._batch_id = None
        self._outputs = None
        self._backprop = None

    def verify_inputs(self, docs: List[Doc]) -> None:
        if self._batch_id is None and self._outputs is None:
            raise ValueError(SpacyErrors.E954)
        batch_id = self.get_batch_id(docs)
        if batch_id != self._batch_id:
            raise ValueError(SpacyErrors.E953.format(id1=batch_id, id2=self._batch_id))

    def take_batch(self, docs: List[Doc]) -> Tuple[List[BertDocOutput], Callable[[List[BertDocGradient]], None]]:
        """The stored outputs for `docs` and a callback that sends their gradient upstream once
        (scaled by grad_factor; nothing is sent when it is 0). The listener clears the batch
        when the callback runs."""
        self.verify_inputs(docs)
        outputs, send, grad_factor = self._outputs, self._backprop, self.attrs["grad_factor"]
        assert outputs is not None and send is not None  # a batch is stored (verify_inputs)

        def send_upstream(gradients: List[BertDocGradient]) -> None:
            if self._outputs is outputs:
                self.clear()
            if grad_factor == 0.0:
                return
            if grad_factor != 1.0:
                gradients = [_scale(g, grad_factor) for g in gradients]
            send(self, gradients)

        return outputs, send_upstream


def _scale(gradient: BertDocGradient, factor: float) -> BertDocGradient:
    return BertDocGradient(**{k: None if v is None else v * factor for k, v in vars(gradient).items()})


def zero_gradients(model: Model, docs: List[Doc], width: Optional[int]) -> List[Floats2d]:
    """What a listener's backprop returns: one zero (n_tokens, width) array per Doc, as
    spaCy's `Tok2VecListener` does, so thinc combinators (`concatenate`, `add`) can sum it."""
    return [model.ops.alloc2f(len(doc), width or 0) for doc in docs]


def forward(model: BertListener, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    if is_train and model._batch_id is not None:
        outputs, send_upstream = model.take_batch(docs)
        width = outputs[0].token_vectors.shape[1] if outputs else model.maybe_get_dim("nO")

        def backprop(d_outputs: List[Floats2d]) -> List[Floats2d]:
            send_upstream([BertDocGradient(d_token_vectors=d) for d in d_outputs])
            return zero_gradients(model, docs, width)

        return [out.token_vectors for out in outputs], backprop
    # Predicting, or training with a frozen (annotating) `bert`: read what it stored.
    stored: List[Floats2d] = []
    width = model.maybe_get_dim("nO")
    for doc in docs:
        if doc.tensor.size == 0:
            if is_train and len(doc):
                raise ValueError(SpacyErrors.E203.format(name="bert"))
            # Empty Doc, or not annotated yet (e.g. during initialize): zeros of the right shape.
            stored.append(model.ops.alloc2f(len(doc), width or 0))
        else:
            stored.append(model.ops.asarray2f(cast(Floats2d, doc.tensor)))
    return stored, lambda d_outputs: zero_gradients(model, docs, width)


class BertOutputListener(BertListener):
    """A listener that passes on the whole `BertDocOutput` of each Doc (for task heads).

    When predicting it rebuilds the outputs from `doc._.bert` and `doc.tensor`, so the `bert`
    component must run before it. A head that reads piece states marks its listener with
    `require_piece_states`, and the `bert` component then keeps them on the Docs.
    """

    name = "bert-output-listener"

    @staticmethod
    def forward_function() -> Callable:
        return output_forward


def require_piece_states(encoder: Model) -> None:
    """Mark `encoder` as read for its piece states (`last_hidden_state`), as the token
    classification head does: a shared `bert` then keeps them on the Docs (or, with
    `store_piece_states = false`, refuses at initialize)."""
    if isinstance(encoder, BertOutputListener):
        encoder.attrs["needs_piece_states"] = True


def output_forward(model: BertOutputListener, docs: List[Doc], is_train: bool) -> Tuple[List[BertDocOutput], Callable]:
    width = model.maybe_get_dim("nO")
    if is_train and model._batch_id is not None:
        outputs, send_upstream = model.take_batch(docs)

        def backprop(gradients: List[BertDocGradient]) -> List[Floats2d]:
            send_upstream(gradients)
            return zero_gradients(model, docs, width)

        return outputs, backprop
    return [_stored_output(model, doc) for doc in docs], lambda gradients: zero_gradients(model, docs, width)


def _stored_output(model: BertOutputListener, doc: Doc) -> BertDocOutput:
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
        token_vectors=ops.asarray2f(cast(Floats2d, doc.tensor)) if doc.tensor.size else ops.alloc2f(len(doc), hidden),
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
