"""Reading and writing the weight and config files of a Hugging Face checkpoint directory.

Order of preference when reading: `model.safetensors`, `model.safetensors.index.json` (shards),
`pytorch_model.bin`, `pytorch_model.bin.index.json`. `.bin` files are only ever opened with
`torch.load(..., weights_only=True)`: a file holding any other pickled object is refused.
We always write safetensors.
"""
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import Errors
from ..json_files import read_json

CONFIG_NAME = "config.json"
#: Largest config.json read. Real ones are a few kB (a few MB with 100,000 labels).
MAX_CONFIG_BYTES = 64 * 2**20
SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
BIN_NAME = "pytorch_model.bin"
BIN_INDEX_NAME = "pytorch_model.bin.index.json"
WEIGHT_NAMES = (SAFETENSORS_NAME, SAFETENSORS_INDEX_NAME, BIN_NAME, BIN_INDEX_NAME)

StateDict = Dict[str, torch.Tensor]


def read_config_dict(directory: Path) -> Dict[str, Any]:
    """The `config.json` of a checkpoint directory as a dictionary."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(Errors.E106.format(path=directory))
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:  # parsing it would cost many times its size in memory
        raise ValueError(Errors.E136.format(path=path, size=size, limit=MAX_CONFIG_BYTES))
    return read_json(path)


def _read_safetensors(path: Path) -> StateDict:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(Errors.E103.format(path=path, error=error, kind="safetensors")) from error


def _read_bin(path: Path) -> StateDict:
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only=True refuses any global that is not a tensor type: the file wants to
        # run code on load. Never fall back to full unpickling.
        raise ValueError(Errors.E104.format(path=path, error=str(error).splitlines()[0])) from error
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(Errors.E103.format(path=path, error=error, kind="PyTorch")) from error
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(Errors.E104.format(path=path, error="the file is not a mapping of names to tensors"))
    return dict(data)


def _read_sharded(directory: Path, index_name: str, read_one) -> StateDict:
    from .shards import shard_paths  # (shards.py reads JSON through this module)

    tensors: StateDict = {}
    for shard_path in shard_paths(directory, index_name):
        tensors.update(read_one(shard_path))
    return tensors


def read_state_dict(directory: Path) -> StateDict:
    """Every tensor of the checkpoint in `directory`, by its name in the file(s)."""
    directory = Path(directory)
    if (directory / SAFETENSORS_NAME).is_file():
        return _read_safetensors(directory / SAFETENSORS_NAME)
    if (directory / SAFETENSORS_INDEX_NAME).is_file():
        return _read_sharded(directory, SAFETENSORS_INDEX_NAME, _read_safetensors)
    if (directory / BIN_NAME).is_file():
        return _read_bin(directory / BIN_NAME)
    if (directory / BIN_INDEX_NAME).is_file():
        return _read_sharded(directory, BIN_INDEX_NAME, _read_bin)
    found = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    raise FileNotFoundError(
        Errors.E102.format(path=directory, expected=", ".join(WEIGHT_NAMES), found=", ".join(found) or "nothing")
    )


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same directory, so a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_safetensors(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """Write tensors (no two sharing storage) to a safetensors file."""
    contiguous = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    _atomic_write(Path(path), lambda tmp: save_file(contiguous, tmp, metadata={"format": "pt"}))


def write_json(data: Mapping[str, Any], path: Path) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=True)
            f.write("\n")

    _atomic_write(Path(path), write)


def vocab_file_sizes(directory: Path) -> List[int]:
    """Sizes of the tokenizer vocabularies stored in `directory` (vocab.txt and/or tokenizer.json)."""
    sizes = []
    vocab_txt = directory / "vocab.txt"
    if vocab_txt.is_file():
        try:
            with open(vocab_txt, encoding="utf-8") as f:
                sizes.append(sum(1 for _ in f))
        except UnicodeDecodeError as error:
            raise ValueError(Errors.E240.format(path=vocab_txt, error=error)) from error
    tokenizer_json = directory / "tokenizer.json"
    if tokenizer_json.is_file():
        data = read_json(tokenizer_json)
        model = data.get("model")
        vocab = model.get("vocab") if isinstance(model, dict) else None
        if isinstance(vocab, dict):
            added = data.get("added_tokens")
            ids = list(vocab.values()) + [t.get("id") for t in added if isinstance(t, dict)] if isinstance(added, list) else list(vocab.values())
            # Ids that are not ints are the tokenizer's to report (E241, E242); count the others.
            ids = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
            sizes.append(max(ids) + 1 if ids else 0)
    return sizes
