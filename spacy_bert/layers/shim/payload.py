"""Reading serialised components safely: msgpack maps of plain values, weights as safetensors.

`srsly.msgpack_loads` runs srsly's registered object hooks (numpy arrays and whatever else a
plugin registered) over every map it decodes. A component's payload holds only maps, lists,
strings, numbers and bytes, so it is decoded with the bare msgpack unpacker (no hooks, msgpack
extension types refused), then checked key by key before anything is built from it. Weights
are safetensors bytes: a header and raw numbers, nothing executable. Nothing here unpickles.

Every component serialises in one format (`folder_to_bytes` / `bytes_to_folder`): the files of
its saved folder (`to_disk`: the `cfg` file, a Hugging Face `model/` directory, a head file),
in bytes as the msgpack map {"cfg": the cfg as a map, "files": {relative path: bytes}}.
`from_bytes` writes the checked files into a temporary folder and reads it as `from_disk` does.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Type, Union

import numpy as np
import srsly
from safetensors.numpy import load as load_numpy_bytes
from safetensors.numpy import save as save_numpy_bytes
from srsly.msgpack import _unpackb

from ...checkpoint.layout import safetensors_bytes_layout
from ...errors import Errors

#: The saved cfg's file name inside a component folder (spaCy's convention).
CFG_FILE = "cfg"
#: Fields of the component bytes of spacy-bert before one format (refused with E850).
OLD_FIELDS = ("model", "encoder", "head")

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


def read_head_file(path: Path, name: str, names: Iterable[str]) -> Dict[str, np.ndarray]:
    """The head arrays of a saved component's head file (E387, naming the path, if unreadable)."""
    try:
        return _checked_arrays(Path(path).read_bytes(), names)
    except (OSError, ValueError) as err:
        raise ValueError(Errors.E387.format(path=path, name=name, error=err)) from None


def folder_files(folder: Path, skip: Iterable[str] = ()) -> Dict[str, bytes]:
    """The files under `folder` as {relative posix path: bytes} (names in `skip` left out)."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in skip}


def write_files(files: Any, folder: Path, name: str, expected: str) -> None:
    """Check `folder_files`' map, then write it into `folder`. Raises E389 (naming component
    `name`, `expected` the payload's fields) for an entry that is not a plain relative path
    with bytes, or a `.safetensors` file without a readable header, before a file is written."""
    if not isinstance(files, dict):
        raise ValueError(Errors.E389.format(name=name, reason=f"its files are a {type(files).__name__}, not a map", expected=expected))
    for path, content in files.items():
        if not _plain_path(path) or path == CFG_FILE or not isinstance(content, bytes):
            reason = f"its file entry {path!r} is not a plain relative file name with bytes"
            raise ValueError(Errors.E389.format(name=name, reason=reason, expected=expected))
        if path.endswith(".safetensors"):
            try:
                safetensors_bytes_layout(content, path)
            except ValueError as err:
                raise ValueError(Errors.E389.format(name=name, reason=f"its file {path!r} is not safetensors ({err})", expected=expected)) from None
    for path, content in files.items():
        target = Path(folder) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def folder_to_bytes(folder: Path) -> bytes:
    """A saved component folder as bytes: {"cfg": map, "files": {relative path: bytes}}."""
    folder = Path(folder)
    return srsly.msgpack_dumps({"cfg": srsly.read_json(folder / CFG_FILE), "files": folder_files(folder, skip=(CFG_FILE,))})


def _plain_path(path: Any) -> bool:
    """A relative path of plain names (no "..", no hidden or empty parts, no backslash)."""
    if not isinstance(path, str) or not path or "\\" in path or path.startswith("/"):
        return False
    parts = path.split("/")
    return all(p and p not in ("..", ".") and not p.startswith(".") for p in parts)


def bytes_to_folder(data: Any, folder: Path, name: str) -> Dict[str, Any]:
    """Check `folder_to_bytes`' payload and write its files into `folder` (an empty folder).

    Args:
        data (bytes): What the component's `to_bytes` wrote.
        folder (Path): Where the files go.
        name (str): The component, for messages.

    Returns:
        The saved cfg (also written as `folder/cfg`). Raises E850 for the bytes of an earlier
        spacy-bert, E389 for anything else that is not a payload of plain file names with bytes
        (`write_files`), before a file is written.
    """
    expected = "'cfg': dict, 'files': {relative path: bytes}"
    msg = read_payload(data, name, {"cfg": dict}, optional={"files": dict})
    if "files" not in msg:
        old = [field for field in OLD_FIELDS if field in msg]
        if old:
            raise ValueError(Errors.E850.format(name=name, fields=", ".join(map(repr, old))))
        raise ValueError(Errors.E389.format(name=name, reason="the field 'files' is missing", expected=expected))
    write_files(msg["files"], folder, name, expected)
    srsly.write_json(Path(folder) / CFG_FILE, msg["cfg"])
    return msg["cfg"]
