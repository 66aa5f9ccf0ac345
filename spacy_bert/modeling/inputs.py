"""Checks of the tensors a caller passes to a model's `forward`, so bad input is a coded error.

Two kinds of check live here:

- *shape and type* checks read only tensor metadata: they never wait for the device and always run;
- *value* checks (`check_id_range`, `check_class_labels`) read the tensor's contents, which on a
  GPU waits for every queued kernel (a device sync). `BertModel` runs its value checks only while
  `validate_inputs` is True; callers whose ids are valid by construction (the spaCy shim) turn it off.

Without these checks a wrong input surfaces as an `AttributeError`, an `IndexError` deep inside
`nn.Embedding`, or on CUDA a device-side assert that poisons the whole CUDA context.
"""
from typing import Any, Optional, Sequence, Tuple

import torch

from ..errors import Errors

#: Index dtypes `nn.Embedding` accepts. bool and uint8 are refused: they are masks, not ids.
ID_DTYPES = (torch.long, torch.int)
#: Label value every loss ignores (as in Hugging Face).
IGNORE_INDEX = -100


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a torch.Tensor of dtype {value.dtype} and shape {tuple(value.shape)}"
    shape = getattr(value, "shape", None)
    suffix = f" of shape {tuple(shape)}" if shape is not None else ""
    return f"a {type(value).__module__}.{type(value).__name__}{suffix}"


def check_id_tensor(name: str, ids: Any) -> torch.Tensor:
    """Require `ids` to be an integer tensor (torch.long or torch.int) and return it.

    Args:
        name (str): The argument name, for the message (e.g. "input_ids").
        ids (Any): What the caller passed.
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype not in ID_DTYPES:
        raise TypeError(Errors.E030.format(name=name, got=_describe(ids)))
    return ids


def check_input_shape(name: str, shape: Sequence[int], dims: int) -> Tuple[int, int]:
    """Require `dims` dimensions and at least one position; return (batch, seq).

    Args:
        name (str): "input_ids" (dims=2: (batch, seq)) or "inputs_embeds" (dims=3: (batch, seq, hidden)).
        shape (Sequence[int]): The tensor's shape.
        dims (int): The number of dimensions expected.
    """
    if len(shape) != dims or shape[1] == 0:
        expected = "(batch, seq)" if dims == 2 else "(batch, seq, hidden_size)"
        raise ValueError(Errors.E031.format(name=name, shape=tuple(shape), expected=expected))
    return int(shape[0]), int(shape[1])


def check_inputs_embeds(inputs_embeds: Any, hidden_size: int) -> None:
    """`inputs_embeds` must be a float tensor (batch, seq >= 1, hidden_size)."""
    if not isinstance(inputs_embeds, torch.Tensor) or not inputs_embeds.is_floating_point():
        raise TypeError(Errors.E032.format(got=_describe(inputs_embeds), hidden_size=hidden_size))
    check_input_shape("inputs_embeds", inputs_embeds.shape, 3)
    if inputs_embeds.shape[2] != hidden_size:
        raise ValueError(Errors.E032.format(got=_describe(inputs_embeds), hidden_size=hidden_size))


def check_per_position(name: str, tensor: Optional[torch.Tensor], batch_size: int, seq_length: int) -> None:
    """`token_type_ids` / `position_ids`: integer tensors of shape (batch, seq) or (1, seq)."""
    if tensor is None:
        return
    check_id_tensor(name, tensor)
    if tensor.dim() != 2 or tensor.shape[1] != seq_length or tensor.shape[0] not in (1, batch_size):
        raise ValueError(
            Errors.E008.format(
                name=name,
                shape=tuple(tensor.shape),
                expected=f"(batch, seq) = {(batch_size, seq_length)} or (1, {seq_length})",
                input_shape=(batch_size, seq_length),
            )
        )


def check_id_range(ids: torch.Tensor, size: int, message: str, size_name: str) -> None:
    """Every id in [0, size) (a device sync: reads the tensor)."""
    if ids.numel() == 0:
        return
    high, low = int(ids.max()), int(ids.min())
    if high >= size or low < 0:
        bad = high if high >= size else low
        raise ValueError(message.format(value=bad, max_id=size - 1, **{size_name: size}))


def check_class_labels(logits: torch.Tensor, labels: Any) -> torch.Tensor:
    """Labels of a cross-entropy: integer class ids in [0, classes) or -100, one per row of logits.

    Args:
        logits (Tensor): (..., classes).
        labels (Any): (...) class ids, as the caller passed them.

    Returns:
        Tensor: the labels on the logits' device.
    """
    classes = logits.shape[-1]
    if not isinstance(labels, torch.Tensor) or labels.dtype not in ID_DTYPES:
        raise TypeError(Errors.E033.format(got=_describe(labels), classes=classes, max_id=classes - 1))
    rows = logits.numel() // classes if classes else 0
    if labels.numel() != rows:
        raise ValueError(Errors.E034.format(shape=tuple(labels.shape), logits=tuple(logits.shape), rows=rows))
    labels = labels.to(logits.device, torch.long)  # F.cross_entropy wants int64 targets
    if labels.numel():
        valid = ((labels >= 0) & (labels < classes)) | (labels == IGNORE_INDEX)
        if not bool(valid.all()):
            bad = int(labels[~valid].flatten()[0])
            raise ValueError(Errors.E035.format(value=bad, classes=classes, max_id=classes - 1))
    return labels
