"""Additive attention masks for `scaled_dot_product_attention`.

A mask is a float tensor that broadcasts to (batch, heads, query_len, key_len): 0 where a
query may attend, the dtype's minimum where it may not. Using the finite minimum (not -inf)
keeps rows with no allowed key finite instead of NaN.
"""
from typing import Optional

import torch

from ..errors import Errors


def _to_additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min
    )


def _allowed_from_user_mask(mask: torch.Tensor, batch_size: int, key_length: int) -> torch.Tensor:
    """(batch, key) / (batch, query, key) / (batch, 1|heads, query, key) 0-1 mask -> bool (batch, 1|h, q|1, key)."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(Errors.E036.format(type_name=type(mask).__name__, expected=(batch_size, key_length)))
    if mask.dim() == 2 and mask.shape == (batch_size, key_length):
        return mask.bool()[:, None, None, :]
    if mask.dim() == 3 and mask.shape[0] == batch_size and mask.shape[-1] == key_length:
        return mask.bool()[:, None, :, :]
    if mask.dim() == 4 and mask.shape[0] in (1, batch_size) and mask.shape[-1] == key_length:
        return mask.bool()
    raise ValueError(Errors.E010.format(shape=tuple(mask.shape), expected=(batch_size, key_length)))


def self_attention_mask(
    attention_mask: Optional[torch.Tensor],
    *,
    batch_size: int,
    query_length: int,
    past_length: int,
    causal: bool,
    dtype: torch.dtype,
    device: torch.device,
    drop_full_mask: bool = True,
) -> Optional[torch.Tensor]:
    """Build the additive self-attention mask, or None when every position may attend everywhere.

    Args:
        attention_mask (Optional[Tensor]): 1 for real pieces, 0 for padding; (batch, past + query)
            or a 3D/4D 0-1 mask over keys.
        batch_size (int), query_length (int), past_length (int): Shapes of this step.
        causal (bool): Decoder mode: query i sees keys up to past_length + i.
        dtype, device: Of the attention scores.
        drop_full_mask (bool): Return None when the mask allows everything, so SDPA can use its
            unmasked kernel. Finding that out reads the mask (a device sync); False skips it.

    Returns:
        Optional[Tensor]: (batch, 1, query|1, key) additive mask, or None.
    """
    key_length = past_length + query_length
    allowed = None
    if attention_mask is not None:
        allowed = _allowed_from_user_mask(attention_mask, batch_size, key_length).to(device)
        if drop_full_mask and allowed.all():
            allowed = None  # no padding: let SDPA use its unmasked kernel
    if causal and query_length > 1:
        keys = torch.arange(key_length, device=device)
        queries = torch.arange(past_length, key_length, device=device)
        causal_allowed = keys[None, :] <= queries[:, None]  # (query, key)
        allowed = causal_allowed[None, None] if allowed is None else allowed & causal_allowed
    if allowed is None:
        return None
    return _to_additive(allowed, dtype)


def cross_attention_mask(
    encoder_attention_mask: Optional[torch.Tensor],
    *,
    batch_size: int,
    key_length: int,
    dtype: torch.dtype,
    device: torch.device,
    drop_full_mask: bool = True,
) -> Optional[torch.Tensor]:
    """Additive mask over the encoder's positions: (batch, 1, 1|query, enc_len) or None."""
    if encoder_attention_mask is None:
        return None
    allowed = _allowed_from_user_mask(encoder_attention_mask, batch_size, key_length).to(device)
    if drop_full_mask and allowed.all():
        return None
    return _to_additive(allowed, dtype)
