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

`AdamW` below does torch's AdamW arithmetic. The torch parameters of a component's shim (the
encoder, and the whole `BertFor*` model of `bert_qa` / `bert_fill_mask`) are stepped in torch,
all at once, by torch's own fused AdamW (`step_torch`, called by the shim through
`layers/shim/torch_step.py` instead of thinc's numpy round trip per parameter); the thinc
parameters (the linear heads of `bert_ner` / `bert_textcat`, spaCy's own components) take
thinc's per-parameter call (`__call__`, the same arithmetic in numpy). `fused = false` sends
the torch parameters that way too (what earlier versions did; for comparisons).

The global clipping needs every gradient of the step at once, which thinc's per-parameter
optimizer call never sees, so the components do it in `finish_update` (`clip_global_norm`)
before handing the parameters to the optimizer: the norm in the gradients' own dtype (as
`clip_grad_norm_`), one pass over each gradient. A user's own thinc optimizer (e.g.
`Adam.v1`) still works: it gets no global clipping and thinc's path.
"""
import math
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, cast

import numpy
import torch
from spacy.util import registry
from thinc.api import Model, torch2xp
from thinc.backends import get_array_ops
from thinc.optimizers import FloatOrSeq, KeyT, Optimizer
from thinc.shims import PyTorchShim
from thinc.types import FloatsXd
from torch.optim.adamw import adamw as torch_adamw

from ..shim.torch_step import NamedParameters

#: Parameters that get no weight decay, as in Hugging Face's examples
#: (`no_decay = ["bias", "LayerNorm.weight"]`): torch names containing these, and thinc's
#: bias `b` and layer-norm gain `G`.
NO_DECAY_TORCH = ("bias", "LayerNorm.weight")
NO_DECAY_THINC = ("b", "G")
#: Devices with torch's fused AdamW kernel (one pass over each parameter); elsewhere the
#: `foreach` form (the same arithmetic, a few passes).
FUSED_DEVICES = ("cpu", "cuda")


def decays(name: str) -> bool:
    """Whether a parameter of this name gets weight decay (not biases, not LayerNorm weights)."""
    if name in NO_DECAY_THINC:
        return False
    return not any(part in name for part in NO_DECAY_TORCH)


class _TorchGroup:
    """The lists torch's functional AdamW takes, for the parameters of one decay setting."""

    def __init__(self) -> None:
        self.params: List[torch.Tensor] = []
        self.grads: List[torch.Tensor] = []
        self.exp_avgs: List[torch.Tensor] = []
        self.exp_avg_sqs: List[torch.Tensor] = []
        self.steps: List[torch.Tensor] = []


class AdamW(Optimizer):
    """thinc `Optimizer` with torch's `AdamW` step and Hugging Face's decay exclusions.

    Per parameter (key = (node or shim id, name); weights and gradient any shape), with step
    t counted per parameter, learning rate lr (scheduled) and decay wd:
        w <- w * (1 - lr * wd)            (not for biases and LayerNorm weights)
        m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
        w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    `max_grad_norm` is read by `clip_global_norm` (called by the components before the step).
    `fused` (default true): a shim's torch parameters are stepped in torch by `step_torch`
    (torch's fused AdamW); false: per parameter in numpy through thinc's shim, as `__call__`.
    """

    __slots__ = ["max_grad_norm", "fused", "_clipped", "_torch_state"]

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
        fused: bool = True,
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
        self.fused = bool(fused)
        # ids of models whose gradients a `clip_global_norm` call already scaled in this step
        # (a shared `bert` component clips its listeners' heads with its own encoder).
        self._clipped: Set[int] = set()
        # torch parameters' state, key -> (exp_avg, exp_avg_sq, step), as torch.optim.AdamW's
        self._torch_state: Dict[KeyT, Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

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

    def step_torch(self, shim_id: int, named: NamedParameters) -> None:
        """One AdamW step of the torch parameters `named` ((name, parameter) pairs, each with a
        `.grad`), in place, by `torch.optim.adamw`'s functional form: fused where torch has the
        kernel (`FUSED_DEVICES`), `foreach` elsewhere; one call per decay setting. The state is
        torch's (exp_avg, exp_avg_sq, a step count per parameter), keyed (shim_id, name). The
        gradients are left as they are (the shim zeroes them)."""
        groups = {True: _TorchGroup(), False: _TorchGroup()}
        for name, param in named:
            key = (shim_id, name)
            state = self._torch_state.get(key)
            if state is None:
                fused = param.device.type in FUSED_DEVICES
                step = torch.zeros((), dtype=torch.float32, device=param.device if fused else "cpu")
                state = (torch.zeros_like(param, memory_format=torch.preserve_format), torch.zeros_like(param, memory_format=torch.preserve_format), step)
                self._torch_state[key] = state
            group = groups[bool(self.L2) and decays(name)]
            group.params.append(param.detach())
            group.grads.append(param.grad)  # type: ignore[arg-type]  # `named` holds parameters with gradients
            group.exp_avgs.append(state[0])
            group.exp_avg_sqs.append(state[1])
            group.steps.append(state[2])
        lr = float(self.learn_rate)
        for decayed, group in groups.items():
            if not group.params:
                continue
            fused = all(p.device.type in FUSED_DEVICES for p in group.params)
            torch_adamw(
                group.params, group.grads, group.exp_avgs, group.exp_avg_sqs, [], group.steps,
                foreach=not fused, fused=fused or None, amsgrad=False, beta1=float(self.b1), beta2=float(self.b2),
                lr=lr, weight_decay=float(self.L2) if decayed else 0.0, eps=float(self.eps), maximize=False,
            )
        if self.averages is not None:
            self._average_torch(shim_id, named)

    def _average_torch(self, shim_id: int, named: NamedParameters) -> None:
        """thinc's moving averages of the weights (`ops.update_averages`), kept as thinc keeps
        them: an array per (shim_id, name), updated in place through a torch view."""
        averages = self.averages
        assert averages is not None  # only called with use_averages
        for name, param in named:
            key = (shim_id, name)
            t = int(self._torch_state[key][2].item())
            if key not in averages:
                averages[key] = cast(FloatsXd, torch2xp(torch.zeros_like(param.detach())))
            ema = _as_torch(averages[key])
            decay = min((1.0 + t) / (10.0 + t), 0.9999)
            ema.sub_((ema - param.detach().to(ema.device)).mul_(1.0 - decay))


#: Hugging Face's fine-tuning recipe as a registered optimizer: the class is the factory (its
#: constructor's arguments are the config's), so the settings are listed once.
adamw_v1 = registry.optimizers("spacy-bert.AdamW.v1")(AdamW)


def _as_torch(array) -> torch.Tensor:
    """A torch view (shared memory, no copy) of a numpy or cupy array, or a torch tensor."""
    if isinstance(array, torch.Tensor):
        return array
    if isinstance(array, numpy.ndarray):
        return torch.from_numpy(array)
    return torch.from_dlpack(array)


def _gradients(models: Sequence[Model]) -> List[List[torch.Tensor]]:
    """Per model of `models`, its gradients as torch tensors sharing memory with them (thinc
    params and the torch params of its shims); a node or shim reached from several models
    counts for the first only."""
    seen_nodes: Set[int] = set()
    seen_shims: Set[int] = set()
    per_model: List[List[torch.Tensor]] = []
    for model in models:
        grads: List[torch.Tensor] = []
        for node in model.walk():
            if node.id in seen_nodes:
                continue
            seen_nodes.add(node.id)
            for shim in node.shims:
                if id(shim) in seen_shims or not isinstance(shim, PyTorchShim) or shim._model is None:
                    continue
                seen_shims.add(id(shim))
                grads.extend(p.grad for p in shim._model.parameters() if p.grad is not None)
            grads.extend(_as_torch(node.get_grad(name)) for name in node.param_names if node.has_grad(name))
        per_model.append(grads)
    return per_model


def clip_global_norm(sgd: Optional[Optimizer], model: Model, others: Iterable[Model] = ()) -> Optional[float]:
    """Scale the gradients of `model` (and of `others`) in place so that their joint norm is at
    most `sgd.max_grad_norm`, as `torch.nn.utils.clip_grad_norm_` does over a whole
    Hugging Face model. Call it right before `model.finish_update(sgd)`.

    Only for `AdamW` with `max_grad_norm > 0`; any other optimizer is left to its own clipping.
    `others` are models updated later in the same step (the heads listening to a shared
    encoder): they are marked, so their own call skips the scaling already done.

    The norm is computed once, in the gradients' dtype, per model (`torch.nn.utils.get_total_norm`:
    `_foreach_norm` over each device's gradients) and then over the models.
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
    device = grads[0].device
    norms = [torch.nn.utils.get_total_norm(model_grads).to(device) for model_grads in per_model]
    total = float(torch.linalg.vector_norm(torch.stack(norms)))
    if not math.isfinite(total):
        # An overflow under mixed precision: the shim's grad scaler skips this step (as
        # torch's GradScaler.step would); scaling by 0 would only turn inf into nan.
        return total
    coef = sgd.max_grad_norm / (total + 1e-6)
    if coef < 1.0:
        torch._foreach_mul_(grads, coef)
    # Mark only the listening models that had gradients now: under `nlp.update(sgd=...)` the
    # shared encoder steps before its listeners' backward pass, and those then clip their own.
    # (A node shared with `model` counts for `model`: it was scaled either way.)
    sgd._clipped.update(id(m) for m, norm in zip(others, norms[1:]) if float(norm) > 0)
    return total
