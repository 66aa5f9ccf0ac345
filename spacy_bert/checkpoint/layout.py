"""The layout of a checkpoint's weights (tensor names, shapes, dtypes) before anything is loaded.

A safetensors file starts with a JSON header that lists every tensor's dtype and shape, so the
layout of a safetensors checkpoint (sharded or not) costs a few milliseconds and no memory for
the weights. (A `.bin` file has no such header: `stream.directory_weights` maps it with
`torch.load(weights_only=True, mmap=True)`, which reads the names and shapes but no tensor data.)
"""
import json
import os
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any, Dict, Tuple

from safetensors import SafetensorError, safe_open

from ..errors import Errors

@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a checkpoint as its file describes it."""

    shape: Tuple[int, ...]
    dtype: str  # the file's dtype name ("F32" in safetensors, "float32" from torch)

    @property
    def numel(self) -> int:
        return prod(self.shape)


Layout = Dict[str, TensorInfo]


def safetensors_layout(path: Path) -> Layout:
    """The layout of one safetensors file, from its header (validated by `safe_open`)."""
    layout: Layout = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                tensor = f.get_slice(name)
                layout[name] = TensorInfo(tuple(tensor.get_shape()), tensor.get_dtype())
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(Errors.E103.format(path=path, error=error, kind="safetensors")) from error
    return layout


#: (layout entry, begin, end): a tensor of safetensors bytes and its byte range after the header.
HeaderEntry = Tuple[TensorInfo, int, int]


def _offsets(name: str, entry: Any, available: int) -> Tuple[int, int]:
    offsets = entry.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= available
    ):
        raise ValueError(f"tensor {name!r} has no valid data_offsets within the {available} data bytes")
    return offsets[0], offsets[1]


def _parse_header(raw: bytes, available: int) -> Dict[str, HeaderEntry]:
    """The tensors of a safetensors JSON header (`raw`), whose data is `available` bytes long."""
    header = json.loads(raw)
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    entries: Dict[str, HeaderEntry] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ValueError(f"tensor {name!r} has no valid shape")
        entries[name] = (TensorInfo(tuple(shape), str(entry.get("dtype"))), *_offsets(name, entry, available))
    return entries


def _header_size(prefix: bytes, total: int) -> int:
    """The JSON header's length, from the first 8 bytes of `total` bytes of safetensors."""
    if len(prefix) < 8:
        raise ValueError("shorter than the 8-byte header length")
    (size,) = struct.unpack("<Q", prefix)
    if size > total - 8:
        raise ValueError(f"header length {size} exceeds the {total - 8} bytes that follow")
    return size


def bytes_header(data: bytes, source: str) -> Tuple[Dict[str, HeaderEntry], int]:
    """The header of safetensors bytes: each tensor's layout entry and byte range, and where
    the data starts (ranges count from there).

    Raises:
        ValueError (E103): the bytes do not start with a readable safetensors header.
    """
    try:
        size = _header_size(data[:8], len(data))
        return _parse_header(data[8 : 8 + size], len(data) - 8 - size), 8 + size
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise ValueError(Errors.E103.format(path=source, error=error, kind="safetensors")) from error


def file_header(path: Path) -> Tuple[Dict[str, HeaderEntry], int]:
    """`bytes_header` of a safetensors file, reading only its header (call `safetensors_layout`
    first: the safetensors library validates the whole header)."""
    try:
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            size = _header_size(f.read(8), total)
            return _parse_header(f.read(size), total - 8 - size), 8 + size
    except (OSError, ValueError, RecursionError, UnicodeDecodeError) as error:
        raise ValueError(Errors.E103.format(path=path, error=error, kind="safetensors")) from error


def safetensors_bytes_layout(data: bytes, source: str) -> Layout:
    """The layout of safetensors bytes (e.g. a serialized pipeline's weights) from the header alone.

    For checking a config against in-memory weights before building a model
    (`preflight.check_config_fits_weights`).

    Raises:
        ValueError (E103): the bytes do not start with a readable safetensors header.
    """
    return {name: info for name, (info, _, _) in bytes_header(data, source)[0].items()}
