"""One int8 product for query, key and value: `fuse_qkv` gives a self-attention block of the
int8 prediction copy one `Int8Linear` over the concatenated (3 * hidden, hidden) weights.

Why: each `Int8Linear` pays fixed passes over its input (SmoothQuant's 1/s, the per-token
row range, the division) and one kernel call; query, key and value read the same input, so
one fused product does those passes once instead of three and gives fbgemm one GEMM three
times as wide (bench/kernels.py and docs/precision.md have the numbers).

How, without a second attention implementation: `BertSelfAttention` calls
`self.query(x)`, `self.key(x)`, `self.value(x)` in that order on the same tensor `x`. Those three
become `QKVPart`s of one `FusedQKV`: the first part to see a new input runs the fused product
and keeps its output; the others slice it while the input is the same tensor object, unchanged
(`_version`, where torch keeps one). Any other call pattern (cross-attention, a cache) stays correct: a part that sees
another input runs the product itself. Numerics equal three separate `Int8Linear`s with shared
smoothing factors and outlier channels (those come from the concatenated weights).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

__all__ = ["FusedQKV", "QKVPart", "fused_linear"]


class FusedQKV:
    """The fused product and its last (input, output): not a module, so `state_dict` and
    `named_modules` see the product once, through `QKVPart.linear` of part 0.

    Args:
        linear (nn.Module): (3 * hidden, hidden) product, e.g. an `Int8Linear`.
        width (int): hidden, the width of each part's output.
    """

    def __init__(self, linear: nn.Module, width: int) -> None:
        self.linear = linear
        self.width = width
        self._last: Optional[Tuple[torch.Tensor, int, torch.Tensor]] = None

    def part(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """x (..., hidden) -> part `index` (0 query, 1 key, 2 value) of the fused output (..., hidden)."""
        last = self._last
        version = 0 if x.is_inference() else x._version  # inference tensors have no counter (and cannot change in place outside inference mode)
        if last is None or last[0] is not x or last[1] != version:
            last = (x, version, self.linear(x))
            self._last = last
        if index == 2:
            self._last = None  # value is read last: release the input and the fused output
        return last[2][..., index * self.width : (index + 1) * self.width]


class QKVPart(nn.Module):
    """Stands where `query` / `key` / `value` was: part `index` of a `FusedQKV`."""

    def __init__(self, fused: FusedQKV, index: int) -> None:
        super().__init__()
        self.fused = fused
        self.index = index
        if index == 0:
            self.linear = fused.linear  # registered once, for repr and state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., hidden) -> (..., hidden)."""
        return self.fused.part(x, self.index)

    def extra_repr(self) -> str:
        return f"part={('query', 'key', 'value')[self.index]} of a fused product"


def fused_linear(query: nn.Linear, key: nn.Linear, value: nn.Linear) -> nn.Linear:
    """One frozen fp32 `nn.Linear` (3 * out, in) whose output is [query(x), key(x), value(x)]
    (built on the meta device, so no weights are allocated and then replaced)."""
    weight = torch.cat([query.weight.detach(), key.weight.detach(), value.weight.detach()]).float()
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=query.bias is not None, device="meta")
    linear.weight = nn.Parameter(weight, requires_grad=False)
    if query.bias is not None:
        linear.bias = nn.Parameter(torch.cat([query.bias.detach(), key.bias.detach(), value.bias.detach()]).float(), requires_grad=False)
    return linear
