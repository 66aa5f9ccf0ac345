"""The layout of a checkpoint's weights (tensor names, shapes, dtypes) before anything is loaded.

A safetensors file starts with a JSON header that lists every tensor's dtype and shape, so the
layout of a safetensors checkpoint (sharded or not) costs a few milliseconds and no memory for
the weights. A `.bin` file has no such header: its tensors are loaded (with `weights_only=True`,
as always) and the layout is read from them; that costs the file's size, which is bounded by
what the user downloaded, unlike the model a config.json can ask for.
"""
import json
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Callable, Dict, Tuple

from safetensors import SafetensorError, safe_open

from ..errors import Errors
from .files import (
    SAFETENSORS_INDEX_NAME,
    SAFETENSORS_NAME,
    StateDict,
    read_state_dict,
)
from .shards import shard_paths

@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a checkpoint as its file describes it."""

    shape: Tuple[int, ...]
    dtype: str  # the file's dtype name ("F32" in safetensors, "float32" from torch)

    @property
    def numel(self) -> int:
        return prod(self.shape)


Layout = Dict[str, TensorInfo]


def _safetensors_layout(path: Path) -> Layout:
    layout: Layout = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                tensor = f.get_slice(name)
                layout[name] = TensorInfo(tuple(tensor.get_shape()), tensor.get_dtype())
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(Errors.E103.format(path=path, error=error, kind="safetensors")) from error
    return layout


def safetensors_bytes_layout(data: bytes, source: str) -> Layout:
    """The layout of safetensors bytes (e.g. a serialized pipeline's weights) from the header alone.

    For checking a config against in-memory weights before building a model
    (`preflight.check_config_fits_weights`). The weights themselves are not validated here.

    Raises:
        ValueError (E103): the bytes do not start with a readable safetensors header.
    """
    try:
        if len(data) < 8:
            raise ValueError("shorter than the 8-byte header length")
        (size,) = struct.unpack("<Q", data[:8])
        if size > len(data) - 8:
            raise ValueError(f"header length {size} exceeds the {len(data) - 8} bytes that follow")
        header = json.loads(data[8 : 8 + size])
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        layout: Layout = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
                raise ValueError(f"tensor {name!r} has no valid shape")
            layout[name] = TensorInfo(tuple(shape), str(entry.get("dtype")))
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise ValueError(Errors.E103.format(path=source, error=error, kind="safetensors")) from error
    return layout


def _tensor_layout(tensors: StateDict) -> Layout:
    return {name: TensorInfo(tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in tensors.items()}


def read_layout(directory: Path) -> Tuple[Layout, Callable[[], StateDict]]:
    """The layout of the weights in `directory`, and a function that loads them.

    Same file preference as `read_state_dict`. For safetensors only the headers are read now;
    for `.bin` the tensors are loaded now and the function returns them.

    Returns:
        (layout by tensor name, load() -> the state dict).
    """
    directory = Path(directory)
    if (directory / SAFETENSORS_NAME).is_file():
        return _safetensors_layout(directory / SAFETENSORS_NAME), lambda: read_state_dict(directory)
    if (directory / SAFETENSORS_INDEX_NAME).is_file():
        layout: Layout = {}
        for shard in shard_paths(directory, SAFETENSORS_INDEX_NAME):
            layout.update(_safetensors_layout(shard))
        return layout, lambda: read_state_dict(directory)
    # .bin (single or sharded), or nothing: read_state_dict loads it or says what is missing.
    tensors = read_state_dict(directory)
    return _tensor_layout(tensors), lambda: tensors
