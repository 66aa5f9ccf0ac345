"""`TorchStep`: an optimizer that updates a shim's torch parameters in torch, all at once.

thinc's `PyTorchShim.finish_update` hands the optimizer one parameter at a time as a numpy
(cupy) view, and the optimizer's arithmetic then runs in numpy with a handful of full-size
temporaries per tensor. An optimizer implementing `TorchStep` (`spacy-bert.AdamW.v1`,
`layers/training/optim.py`) instead gets the shim's parameters as torch tensors and steps them
in one fused torch call; any other thinc optimizer (e.g. `Adam.v1`) takes thinc's path.

The shim side (`finish_update_in_torch`) keeps what thinc's `finish_update` does around the
step: no step when the grad scaler found an overflow, gradients zeroed, the scaler updated.
"""
from typing import List, Optional, Protocol, Sequence, Tuple, cast, runtime_checkable

import torch
from thinc.shims import PyTorchShim

#: (parameter name in the torch module, parameter): what `TorchStep.step_torch` receives.
NamedParameters = Sequence[Tuple[str, torch.nn.Parameter]]


@runtime_checkable
class TorchStep(Protocol):
    """An optimizer that steps torch parameters itself.

    fused (bool): whether it wants to (False: thinc's per-parameter path, e.g. to compare).
    step_torch(shim_id, named): update every parameter of `named` (each has a `.grad`) in
        place; its state is keyed by (shim_id, name), as thinc keys a shim's parameters.
    """

    fused: bool

    def step_torch(self, shim_id: int, named: NamedParameters) -> None: ...


def torch_step_of(optimizer: object) -> Optional[TorchStep]:
    """`optimizer` when it steps torch parameters itself (and is set to), else None."""
    if isinstance(optimizer, TorchStep) and optimizer.fused:
        return optimizer
    return None


def finish_update_in_torch(shim: PyTorchShim, optimizer: TorchStep) -> None:
    """thinc's `PyTorchShim.finish_update` with the step in torch: the parameters that have a
    gradient are stepped together (skipped when the grad scaler found inf/nan in this step's
    gradients, as torch's `GradScaler.step` does), then their gradients are zeroed and the
    scaler updated."""
    named: List[Tuple[str, torch.nn.Parameter]] = [(n, p) for n, p in shim._model.named_parameters() if p.grad is not None]
    if named:
        if not shim._grad_scaler.found_inf:
            optimizer.step_torch(shim.id, named)
        # zeroed, not set to None: as thinc does, so every later step finds the same buffers
        torch._foreach_zero_([cast(torch.Tensor, p.grad) for _, p in named])
    shim._grad_scaler.update()
