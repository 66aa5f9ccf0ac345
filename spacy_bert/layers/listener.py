"""`spacy-bert.BertListener.v1`: feed the shared `bert` component's token vectors to any component.

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
        Model.__init__(self, name=self.name, forward=forward, dims={"nO": width}, attrs={"grad_factor": grad_factor})
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs: Optional[List[Floats2d]] = None
        self._backprop: Optional[Callable[[List[Floats2d]], List[Doc]]] = None

    @classmethod
    def get_batch_id(cls, docs: Iterable[Doc]) -> int:
        """A content hash of a batch, to check the listener gets the batch it was sent."""
        return sum(sum(token.orth for token in doc) + len(doc.text) for doc in docs)

    def receive(self, batch_id: int, outputs: List[Floats2d], backprop: Callable) -> None:
        """Store a training batch's token vectors and the callback into the shared encoder."""
        self._batch_id = batch_id
        self._outputs = outputs
        self._backprop = backprop

    def verify_inputs(self, docs: List[Doc]) -> None:
        if self._batch_id is None and self._outputs is None:
            raise ValueError(SpacyErrors.E954)
        batch_id = self.get_batch_id(docs)
        if batch_id != self._batch_id:
            raise ValueError(SpacyErrors.E953.format(id1=batch_id, id2=self._batch_id))


def forward(model: BertListener, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    if is_train and model._batch_id is not None:
        model.verify_inputs(docs)
        grad_factor = model.attrs["grad_factor"]
        upstream_backprop = model._backprop

        def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
            if grad_factor == 0.0:
                return []
            scaled = d_outputs if grad_factor == 1.0 else [d * grad_factor for d in d_outputs]
            return upstream_backprop(scaled)

        return model._outputs, backprop
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


@registry.architectures("spacy-bert.BertListener.v1")
def bert_listener_v1(grad_factor: float = 1.0, upstream: str = "*", width: Optional[int] = None) -> BertListener:
    """Listen to the `bert` component named `upstream` ("*": any) for token vectors.

    Args:
        grad_factor (float): Scale of the gradient this component sends into the shared encoder.
        upstream (str): The `bert` component's name, or "*".
        width (Optional[int]): Token vector width; leave unset, the `bert` component fills it in.
    """
    return BertListener(upstream_name=upstream, grad_factor=grad_factor, width=width)
