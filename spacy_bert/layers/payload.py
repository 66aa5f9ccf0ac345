"""Reading serialised components safely: msgpack maps of plain values, weights as safetensors.

`srsly.msgpack_loads` runs srsly's registered object hooks (numpy arrays and whatever else a
plugin registered) over every map it decodes. A component's payload holds only maps, lists,
strings, numbers and bytes, so it is decoded with the bare msgpack unpacker (no hooks, msgpack
extension types refused), then checked key by key before anything is built from it. Weights
are safetensors bytes: a header and raw numbers, nothing executable. Nothing here unpickles.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Type, Union

import numpy as np
from safetensors.numpy import load as load_numpy_bytes
from safetensors.numpy import save as save_numpy_bytes
from srsly.msgpack import _unpackb

from ..errors import Errors

Types = Union[Type, Tuple[Type, ...]]


def _refuse_ext(code: int, data: bytes) -> Any:
    # msgpack extension types carry application objects; a component payload never has one.
    raise ValueError(f"it contains a msgpack extension object (type {code}), which a component payload never holds")


def _describe(types: Types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def read_payload(
    data: Any,
    name: str,
    required: Mapping[str, Types],
    optional: Optional[Mapping[str, Types]] = None,
) -> Dict[str, Any]:
    """Decode a component's msgpack payload and check its top-level fields.

    Args:
        data (bytes): What the component's `to_bytes` wrote.
        name (str): The component, for the message.
        required (Mapping[str, type]): Fields that must be present, with their types.
        optional (Optional[Mapping[str, type]]): Fields that may be absent or None.

    Returns:
        The decoded map. Raises E389 (ValueError) for anything else.
    """
    optional = dict(optional or {})
    expected = ", ".join([f"{k!r}: {_describe(t)}" for k, t in required.items()] + [f"optional {k!r}: {_describe(t)}" for k, t in optional.items()])

    def fail(reason: str) -> ValueError:
        return ValueError(Errors.E389.format(name=name, reason=reason, expected=expected))

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise fail(f"got a {type(data).__name__}, not bytes")
    try:
        msg = _unpackb(bytes(data), raw=False, use_list=True, strict_map_key=False, ext_hook=_refuse_ext)
    except Exception as err:  # the unpacker raises several types (ExtraData, FormatError, ValueError, ...)
        raise fail(f"the bytes are not a msgpack payload ({type(err).__name__}: {err})") from None
    if not isinstance(msg, dict):
        raise fail(f"the payload is a {type(msg).__name__}, not a map")
    for key, types in required.items():
        if key not in msg:
            raise fail(f"the field {key!r} is missing (fields: {sorted(map(str, msg))})")
        if not isinstance(msg[key], types):
            raise fail(f"the field {key!r} is a {type(msg[key]).__name__}")
    for key, types in optional.items():
        if msg.get(key) is not None and not isinstance(msg[key], types):
            raise fail(f"the field {key!r} is a {type(msg[key]).__name__}")
    return msg


def safetensors_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """numpy arrays -> safetensors bytes (C-contiguous copies where needed)."""
    return save_numpy_bytes({k: np.ascontiguousarray(v) for k, v in arrays.items()})


def _checked_arrays(data: bytes, names: Iterable[str]) -> Dict[str, np.ndarray]:
    """Decode safetensors bytes holding exactly the float arrays `names` (ValueError otherwise)."""
    try:
        arrays = load_numpy_bytes(bytes(data))
    except Exception as err:  # SafetensorError, or a header that is not JSON
        raise ValueError(f"{type(err).__name__}: {err}") from None
    names = sorted(names)
    if sorted(arrays) != names:
        raise ValueError(f"it holds the tensors {sorted(arrays)}, expected {names}")
    for key, value in arrays.items():
        if value.dtype.kind != "f":
            raise ValueError(f"the tensor {key!r} has dtype {value.dtype}, expected a float dtype")
    return arrays


def safetensors_arrays(data: bytes, name: str, names: Iterable[str]) -> Dict[str, np.ndarray]:
    """The head arrays of a serialised component (E389 if they are not exactly `names`)."""
    names = list(names)
    try:
        return _checked_arrays(data, names)
    except ValueError as err:
        raise ValueError(Errors.E389.format(name=name, reason=f"its head weights cannot be read ({err})", expected=f"'head': safetensors bytes of {names}")) from None


def read_head_file(path: Path, name: str, names: Iterable[str]) -> Dict[str, np.ndarray]:
    """The head arrays of a saved component's head file (E387, naming the path, if unreadable)."""
    try:
        return _checked_arrays(Path(path).read_bytes(), names)
    except (OSError, ValueError) as err:
        raise ValueError(Errors.E387.format(path=path, name=name, error=err)) from None
