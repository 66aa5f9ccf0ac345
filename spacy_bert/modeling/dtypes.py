"""Parsing dtype names that come from files (a serialized pipeline's "dtype" field, config.json)."""
from typing import Any, Dict

import torch

from ..errors import Errors

#: The floating-point dtypes a model may be stored or run in, by their torch name.
FLOAT_DTYPES: Dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}


def parse_float_dtype(name: Any) -> torch.dtype:
    """The torch dtype named `name` ("float32", "torch.bfloat16", ...), which must be a float dtype.

    Unlike `getattr(torch, name)` this never returns something that is not a float dtype (an
    int dtype, a function, a module) for a name read from an untrusted file.

    Args:
        name (Any): The name as read from a file.

    Raises:
        ValueError (E040): `name` is not a str naming one of `FLOAT_DTYPES`.
    """
    key = name.removeprefix("torch.") if isinstance(name, str) else None
    if key not in FLOAT_DTYPES:
        raise ValueError(Errors.E040.format(value=name, expected=", ".join(FLOAT_DTYPES)))
    return FLOAT_DTYPES[key]
