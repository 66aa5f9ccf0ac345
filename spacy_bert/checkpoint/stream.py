"""A checkpoint's tensors, read one bounded group at a time (so loading holds one model, not two).

`Weights` is what the one model builder (`loading.build_model`) reads: the layout of every
tensor (name, shape, dtype: from the safetensors headers, or from `torch.load(weights_only=True, mmap=True)` for
`.bin`, which reads no data) and `stream(names)`, which yields the tensors one by one.

Why groups: both readers map the file into memory (`safe_open`, `torch.load(weights_only=True, mmap=True)`), and
every page a copy touches stays resident, and counted in the process's RSS, until the mapping is
closed. Reopening the file after every `GROUP_BYTES` of tensors closes the mapping, so the peak is
the model plus one group (plus the largest tensor), not the model plus the file.

`.bin` files are only ever opened with `torch.load(..., weights_only=True)`.
"""
import pickle
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Dict, Iterator, List, Mapping, Optional, Tuple

import torch
from safetensors import SafetensorError, safe_open

from ..errors import Errors
from .files import weight_files
from .layout import Layout, TensorInfo, bytes_header, file_header, safetensors_layout

#: Bytes of tensors copied out of one opening of a file before it is closed and reopened.
GROUP_BYTES = 64 * 2**20

#: Safetensors dtype names -> torch dtypes (`.bin` layouts already name torch dtypes).
SAFETENSORS_DTYPES: Dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}

Stream = Iterator[Tuple[str, torch.Tensor]]


def torch_dtype(info: TensorInfo) -> Optional[torch.dtype]:
    """The torch dtype of a layout entry ("F32" from safetensors, "float32" from torch); None if unknown."""
    if info.dtype in SAFETENSORS_DTYPES:
        return SAFETENSORS_DTYPES[info.dtype]
    value = getattr(torch, info.dtype, None)
    return value if isinstance(value, torch.dtype) else None


@dataclass
class Weights:
    """The tensors of one checkpoint, not yet read.

    Attributes:
        source (str): The directory (or "the serialized 'bert' component"), for messages.
        layout (Layout): Every tensor's shape and dtype, by its name in the file(s).
        _stream (Callable[[Collection[str]], Stream]): Yields (name, tensor) for the names
            asked for, each tensor valid until the next one is yielded.
    """

    source: str
    layout: Layout
    _stream: Callable[[Collection[str]], Stream]
    _fill: Optional[Callable[[Mapping[str, torch.Tensor]], Stream]] = None

    def stream(self, names: Collection[str]) -> Stream:
        """(name, tensor) for each of `names` (names of `layout`), in file order."""
        return self._stream(set(names))

    def fill(self, targets: Mapping[str, torch.Tensor]) -> Stream:
        """Copy each tensor into `targets[name]` (same shape; cast to its dtype), one by one.

        Yields (name, the values as read): the target itself when no cast was needed.
        """
        if self._fill is not None:
            yield from self._fill(targets)
            return
        for name, tensor in self.stream(targets):
            targets[name].copy_(tensor)
            yield name, tensor


def _grouped(names: List[str], layout: Layout) -> Iterator[List[str]]:
    """`names` cut into runs of about `GROUP_BYTES` (a tensor bigger than that is a run alone)."""
    group: List[str] = []
    size = 0
    for name in names:
        group.append(name)
        info = layout[name]
        dtype = torch_dtype(info)
        size += info.numel * (dtype.itemsize if dtype is not None else 4)
        if size >= GROUP_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _safetensors_stream(files: Dict[Path, List[str]], layout: Layout) -> Callable[[Collection[str]], Stream]:
    def stream(wanted: Collection[str]) -> Stream:
        for path, names in files.items():
            for group in _grouped([n for n in names if n in wanted], layout):
                try:
                    with safe_open(str(path), framework="pt") as f:
                        for name in group:
                            yield name, f.get_tensor(name)
                except (SafetensorError, OSError, ValueError) as error:
                    raise ValueError(Errors.E103.format(path=path, error=error, kind="safetensors")) from error

    return stream


def _safetensors_fill(files: Dict[Path, List[str]], layout: Layout) -> Callable[[Mapping[str, torch.Tensor]], Stream]:
    """Read each tensor with plain file reads straight into its target's memory: no mapping
    (whose pages would count in the RSS) and no temporary copy unless a cast is needed."""
    headers = {path: file_header(path) for path in files}

    def fill(targets: Mapping[str, torch.Tensor]) -> Stream:
        for path, names in files.items():
            entries, start = headers[path]
            with open(path, "rb") as f:
                for name in names:
                    if name not in targets:
                        continue
                    info, begin, end = entries[name]
                    dtype, target = torch_dtype(info), targets[name]
                    direct = dtype == target.dtype and target.is_contiguous() and target.device.type == "cpu"
                    values = target if direct else torch.empty(info.shape, dtype=dtype)
                    if end > begin:
                        f.seek(start + begin)
                        read = f.readinto(values.detach().reshape(-1).view(torch.uint8).numpy().data)
                        if read != end - begin:
                            error = f"tensor {name!r}: {read} of its {end - begin} bytes are in the file"
                            raise ValueError(Errors.E103.format(path=path, error=error, kind="safetensors"))
                    if not direct:
                        target.copy_(values)
                    yield name, values

    return fill


def _load_bin(path: Path) -> Mapping[str, torch.Tensor]:
    """A `.bin` file's tensors, mapped (not read) from the file, by `torch.load(weights_only=True)`."""
    try:
        # Only the zip format (every torch.save since torch 1.6) can be mapped; the legacy
        # format is read whole.
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as error:
        # weights_only=True refuses any global that is not a tensor type: the file wants to
        # run code on load. Never fall back to full unpickling.
        raise ValueError(Errors.E104.format(path=path, error=str(error).splitlines()[0])) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise ValueError(Errors.E103.format(path=path, error=error, kind="PyTorch")) from error
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(Errors.E104.format(path=path, error="the file is not a mapping of names to tensors"))
    return data


def _bin_stream(files: Dict[Path, List[str]], layout: Layout) -> Callable[[Collection[str]], Stream]:
    def stream(wanted: Collection[str]) -> Stream:
        for path, names in files.items():
            for group in _grouped([n for n in names if n in wanted], layout):
                # A fresh mapping per group: the previous one (and its resident pages) is
                # released once its tensors are dropped.
                data = _load_bin(path)
                for name in group:
                    yield name, data[name]
                del data

    return stream


def directory_weights(directory: Path) -> Weights:
    """The weights of a checkpoint directory (safetensors first; see `files.weight_files`).

    Raises:
        FileNotFoundError (E102, E105), ValueError (E103, E104, E107, E130, E131): as the
        files are found and their headers read; no tensor data is read here.
    """
    kind, paths = weight_files(directory)
    layout: Layout = {}
    files: Dict[Path, List[str]] = {}
    for path in paths:
        if kind == "safetensors":
            part = safetensors_layout(path)
        else:
            part = {
                name: TensorInfo(tuple(t.shape), str(t.dtype).removeprefix("torch."))
                for name, t in _load_bin(path).items()
            }
        files[path] = list(part)
        layout.update(part)
    if kind == "bin":
        return Weights(str(directory), layout, _bin_stream(files, layout))
    # Direct reads need the file's byte order (little-endian) to be the machine's.
    fill = _safetensors_fill(files, layout) if sys.byteorder == "little" else None
    return Weights(str(directory), layout, _safetensors_stream(files, layout), fill)


def bytes_weights(data: bytes, source: str) -> Weights:
    """The weights in safetensors bytes (a serialized component), read in place: each tensor is
    a view of `data` (no second copy of the weights).

    Raises:
        ValueError (E103): the header is not a valid safetensors header for these bytes.
    """
    header, start = bytes_header(data, source)
    layout = {name: info for name, (info, _, _) in header.items()}
    view = memoryview(data)
    for name, (info, begin, end) in header.items():
        dtype = torch_dtype(info)
        if dtype is None or info.numel * dtype.itemsize != end - begin:
            error = f"tensor {name!r}: dtype {info.dtype} and shape {info.shape} do not match its {end - begin} bytes"
            raise ValueError(Errors.E103.format(path=source, error=error, kind="safetensors"))

    def stream(wanted: Collection[str]) -> Stream:
        for name, (info, begin, end) in header.items():
            if name not in wanted:
                continue
            dtype = torch_dtype(info)
            assert dtype is not None  # every entry's dtype was checked above (E103)
            if begin == end:
                yield name, torch.empty(info.shape, dtype=dtype)
                continue
            with warnings.catch_warnings():
                # The bytes are read-only; the tensor is only ever read (copied into a parameter).
                warnings.simplefilter("ignore", UserWarning)
                flat = torch.frombuffer(view[start + begin : start + end], dtype=dtype)
            yield name, flat.view(info.shape)

    return Weights(source, layout, stream)


def read_state_dict(directory: Path) -> Dict[str, torch.Tensor]:
    """Every tensor of the checkpoint in `directory`, by its name in the file(s)."""
    weights = directory_weights(Path(directory))
    return dict(weights.stream(weights.layout))


def tensor_weights(tensors: Mapping[str, torch.Tensor], source: str) -> Weights:
    """Tensors already in memory (by checkpoint name), as `Weights`."""
    layout = {name: TensorInfo(tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in tensors.items()}
    return Weights(source, layout, lambda wanted: ((n, t) for n, t in tensors.items() if n in wanted))
