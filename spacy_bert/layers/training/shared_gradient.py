"""One training batch's gradient into the shared `bert` encoder, collected from its listeners.

spaCy's `Tok2Vec` hands every listener but the last an "accumulate" callback and the last one
the real backprop. That breaks as soon as a listener does not send: a listener with
`grad_factor = 0`, or one whose component is frozen, would hold the backprop, and the others'
gradients never reach the encoder. Here every listener sends into one `SharedGradient`, and the
encoder's backward pass runs exactly once per batch:

- as soon as every listener that is *expected* to send (grad_factor > 0, component not frozen)
  has sent, or
- when the `bert` component starts its next batch (`flush`): a listener that was expected but
  never sent (its component skipped the batch) does not lose the others' gradients.

After the backward pass the batch's autograd graph and gradients are released, so nothing of
the batch is kept alive through evaluation.
"""
from typing import Callable, Collection, Dict, List, Optional

from ...errors import Errors
from ..encoder import BertDocGradient

BackpropEncoder = Callable[[List[BertDocGradient]], object]


class SharedGradient:
    """Gradients of one batch's `BertDocOutput`s, summed over the listeners that send them.

    Args:
        n_docs (int): Docs in the batch (one `BertDocGradient` each).
        backprop (Optional[Callable]): The encoder's backprop for the batch; None when the batch
            was encoded without a graph (then `expected` is empty).
        expected (Collection[int]): `id()` of each listener whose gradient completes the batch;
            a send from any other listener is an error, never a silently dropped gradient.
        on_loss (Callable[[float], None]): Receives the squared norm of each sent gradient
            (the `bert` component's reported loss).
        on_done (Optional[Callable[[], None]]): Called after the backward pass (e.g. the
            optimizer step when `Bert.update` was given `sgd`).
        name (str): The `bert` component's name, for error messages.
    """

    def __init__(
        self,
        n_docs: int,
        backprop: Optional[BackpropEncoder],
        expected: Collection[int],
        on_loss: Callable[[float], None],
        on_done: Optional[Callable[[], None]] = None,
        name: str = "bert",
    ) -> None:
        self.name = name
        self._gradients: Optional[List[BertDocGradient]] = [BertDocGradient() for _ in range(n_docs)]
        self._backprop = backprop
        self._expected = frozenset(expected)
        self._waiting = set(expected)
        self._senders: Dict[int, str] = {}
        self._on_loss: Optional[Callable[[float], None]] = on_loss
        self._on_done = on_done
        self.done = False
        if backprop is not None and not self._waiting:
            # Encoded with a graph but nobody will send: release it now.
            self._release()

    def send(self, listener_id: int, listener_name: str, gradients: List[BertDocGradient]) -> None:
        """Add one listener's (already grad_factor-scaled) gradients; run the encoder's
        backward pass when the last expected listener has sent."""
        if listener_id not in self._expected:
            # grad_factor 0 listeners never send, so this one's component is frozen in the
            # config (training.frozen_components) and yet was updated.
            raise ValueError(Errors.E391.format(name=self.name, listener=listener_name))
        if listener_id in self._senders:
            raise ValueError(Errors.E393.format(name=self.name, listener=listener_name))
        if self.done:
            raise ValueError(Errors.E392.format(name=self.name, listener=listener_name))
        totals, on_loss = self._gradients, self._on_loss
        assert totals is not None and on_loss is not None  # released only when done (E392 above)
        if len(gradients) != len(totals):
            raise ValueError(Errors.E394.format(listener=listener_name, got=len(gradients), expected=len(totals)))
        for total, one in zip(totals, gradients):
            total.add(one)
            for value in vars(one).values():
                if value is not None:
                    on_loss(float((value**2).sum()))
        self._senders[listener_id] = listener_name
        self._waiting.discard(listener_id)
        if not self._waiting:
            self._run()

    def flush(self) -> None:
        """End the batch: run the backward pass with what was sent (if anything), then release."""
        if self.done:
            return
        if self._senders and self._backprop is not None:
            self._run()
        else:
            self._release()

    def _run(self) -> None:
        backprop, gradients, on_done = self._backprop, self._gradients, self._on_done
        self._release()
        assert backprop is not None and gradients is not None  # callers run a batch with a graph, once
        backprop(gradients)
        if on_done is not None:
            on_done()

    def _release(self) -> None:
        # Drop the encoder's backprop (it holds the torch graph), the summed gradients and the
        # callbacks: an ended batch keeps nothing alive (and pickles).
        self._backprop = None
        self._gradients = None
        self._on_loss = None
        self._on_done = None
        self.done = True
