"""`spacy-bert.AdamW.v1`: Hugging Face's fine-tuning optimizer as a thinc optimizer.

The recipe of the Hugging Face examples and `Trainer` is `torch.optim.AdamW` (weight decay
0.01 on every parameter except biases and LayerNorm weights), with the gradient norm over *all*
parameters clipped to 1.0 (`torch.nn.utils.clip_grad_norm_`) before each step.

thinc's `Adam.v1` differs from it in three ways, measured in `tests/pipeline/test_training_parity.py`:

1. it clips each parameter's gradient to norm `grad_clip` on its own (`ops.clip_gradient` per
   call), so every parameter's step is scaled differently, where Hugging Face scales all of
   them by one factor;
2. it decays biases and LayerNorm weights too;
3. its epsilon is added to `sqrt(v)` before the bias correction of `v` (the effective epsilon is
   `eps / sqrt(1 - beta2**t)`, 30x larger at the first step), and the decay comes after the step.

`AdamW` below does torch's AdamW arithmetic per parameter; the global clipping needs every
gradient of the step at once, which thinc's per-parameter optimizer call never sees, so the
components do it in `finish_update` (`clip_global_norm`) before handing the parameters to the
optimizer. A user's own thinc optimizer (e.g. `Adam.v1`) still works: it gets no global clipping.
"""
import math
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from spacy.util import registry
from thinc.api import Model
from thinc.backends import get_array_ops
from thinc.optimizers import FloatOrSeq, KeyT, Optimizer
from thinc.shims import PyTorchShim
from thinc.types import FloatsXd

#: Parameters that get no weight decay, as in Hugging Face's examples
#: (`no_decay = ["bias", "LayerNorm.weight"]`): torch names containing these, and thinc's
#: bias `b` and layer-norm gain `G`.
NO_DECAY_TORCH = ("bias", "LayerNorm.weight")
NO_DECAY_THINC = ("b", "G")


def decays(name: str) -> bool:
    """Whether a parameter of this name gets weight decay (not biases, not LayerNorm weights)."""
    if name in NO_DECAY_THINC:
        return False
    return not any(part in name for part in NO_DECAY_TORCH)


class AdamW(Optimizer):
    """thinc `Optimizer` with torch's `AdamW` step and Hugging Face's decay exclusions.

    Per parameter (key = (node or shim id, name); weights and gradient any shape), with step
    t counted per parameter, learning rate lr (scheduled) and decay wd:
        w <- w * (1 - lr * wd)            (not for biases and LayerNorm weights)
        m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
        w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    `max_grad_norm` is read by `clip_global_norm` (called by the components before the step).
    """

    __slots__ = ["max_grad_norm", "_clipped"]

    def __init__(
        self,
        learn_rate: FloatOrSeq,
        *,
        beta1: FloatOrSeq = 0.9,
        beta2: FloatOrSeq = 0.999,
        eps: FloatOrSeq = 1e-8,
        weight_decay: FloatOrSeq = 0.01,
        max_grad_norm: float = 1.0,
        use_averages: bool = False,
    ) -> None:
        super().__init__(
            learn_rate,
            L2=weight_decay,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            grad_clip=0.0,
            use_averages=use_averages,
            L2_is_weight_decay=True,
        )
        self.max_grad_norm = float(max_grad_norm or 0.0)
        # ids of models whose gradients a `clip_global_norm` call already scaled in this step
        # (a shared `bert` component clips its listeners' heads with its own encoder).
        self._clipped: Set[int] = set()

    def __call__(self, key: KeyT, weights: FloatsXd, gradient: FloatsXd, *, lr_scale: float = 1.0) -> Tuple[FloatsXd, FloatsXd]:
        if len(gradient) < 1:
            return weights, gradient
        ops = get_array_ops(weights)
        xp = ops.xp
        self.nr_update[key] += 1
        t = self.nr_update[key]
        lr = self.learn_rate * lr_scale
        if self.L2 and decays(key[1]):
            weights *= 1.0 - lr * self.L2
        w = ops.reshape1f(weights, weights.size)
        g = ops.reshape1f(gradient, gradient.size)
        if key not in self.mom1:
            self.mom1[key] = ops.alloc1f(weights.size)
            self.mom2[key] = ops.alloc1f(weights.size)
        m, v = self.mom1[key], self.mom2[key]
        m *= self.b1
        m += (1.0 - self.b1) * g
        v *= self.b2
        v += (1.0 - self.b2) * g * g
        denom = xp.sqrt(v) / (1.0 - self.b2**t) ** 0.5 + self.eps
        w -= (lr / (1.0 - self.b1**t)) * (m / denom)
        weights = ops.reshape_f(w, weights.shape)
        gradient *= 0
        if self.averages is not None:
            if key not in self.averages:
                self.averages[key] = ops.alloc(weights.shape, dtype="float32")
            ops.update_averages(self.averages[key], weights, t)
        return weights, gradient


#: Hugging Face's fine-tuning recipe as a registered optimizer: the class is the factory (its
#: constructor's arguments are the config's), so the settings are listed once.
adamw_v1 = registry.optimizers("spacy-bert.AdamW.v1")(AdamW)


def _gradients(models: Sequence[Model]) -> List[List[FloatsXd]]:
    """Per model of `models`, its gradients (thinc params and the torch params of its shims);
    a node or shim reached from several models counts for the first only."""
    seen_nodes: Set[int] = set()
    seen_shims: Set[int] = set()
    per_model: List[List[FloatsXd]] = []
    for model in models:
        grads: List[FloatsXd] = []
        for node in model.walk():
            if node.id in seen_nodes:
                continue
            seen_nodes.add(node.id)
            for shim in node.shims:
                if id(shim) in seen_shims or not isinstance(shim, PyTorchShim) or shim._model is None:
                    continue
                seen_shims.add(id(shim))
                grads.extend(p.grad for p in shim._model.parameters() if p.grad is not None)
            grads.extend(node.get_grad(name) for name in node.param_names if node.has_grad(name))
        per_model.append(grads)
    return per_model


def clip_global_norm(sgd: Optional[Optimizer], model: Model, others: Iterable[Model] = ()) -> Optional[float]:
    """Scale the gradients of `model` (and of `others`) in place so that their joint norm is at
    most `sgd.max_grad_norm`, as `torch.nn.utils.clip_grad_norm_` does over a whole
    Hugging Face model. Call it right before `model.finish_update(sgd)`.

    Only for `AdamW` with `max_grad_norm > 0`; any other optimizer is left to its own clipping.
    `others` are models updated later in the same step (the heads listening to a shared
    encoder): they are marked, so their own call skips the scaling already done.

    Returns the norm before clipping, or None when nothing was computed.
    """
    if not isinstance(sgd, AdamW) or sgd.max_grad_norm <= 0:
        return None
    if id(model) in sgd._clipped:
        sgd._clipped.discard(id(model))
        return None
    others = [m for m in others if m is not model]
    per_model = _gradients([model, *others])
    grads = [g for model_grads in per_model for g in model_grads]
    if not grads:
        return None
    total = sum(_squared_norm(g) for g in grads) ** 0.5
    if not math.isfinite(total):
        # An overflow under mixed precision: the shim's grad scaler skips this step (as
        # torch's GradScaler.step would); scaling by 0 would only turn inf into nan.
        return total
    coef = sgd.max_grad_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    # Mark only the listening models that had gradients now: under `nlp.update(sgd=...)` the
    # shared encoder steps before its listeners' backward pass, and those then clip their own.
    # (A node shared with `model` counts for `model`: it was scaled either way.)
    sgd._clipped.update(id(m) for m, model_grads in zip(others, per_model[1:]) if any(_squared_norm(g) > 0 for g in model_grads))
    return total


def _squared_norm(grad) -> float:
    """Sum of squares of a torch or numpy/cupy gradient, in float64."""
    if hasattr(grad, "detach"):
        return float((grad.detach().double() ** 2).sum())
    return float((grad.astype("float64") ** 2).sum())
