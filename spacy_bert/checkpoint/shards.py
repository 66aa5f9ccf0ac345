"""The shard index of a sharded checkpoint (`model.safetensors.index.json`, `pytorch_model.bin.index.json`).

Shard names are confined to the checkpoint directory: every name in `weight_map` must be a
plain file name (no directory part, no `..`, not absolute). Hugging Face only ever writes such
names, and a name that is only a name cannot point outside the directory however the file
system is laid out. The name itself is not resolved, so a shard that is a symlink (as in a
Hugging Face cache snapshot, whose files link to `../../blobs/<hash>`) keeps working: the
directory decides which files belong to the checkpoint, not where their bytes live.
"""
from pathlib import Path
from typing import Any, List

from ..errors import Errors
from ..json_files import read_json


def _is_plain_file_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\x00" not in name


def shard_paths(directory: Path, index_name: str) -> List[Path]:
    """The shard files the index `directory/index_name` names, each once, in sorted order.

    Raises:
        ValueError: the index is not JSON or has no `weight_map` object (E107), a shard entry is
            not a string (E131) or not a plain file name (E130).
        FileNotFoundError: a shard does not exist (E105).
    """
    index_path = directory / index_name
    index = read_json(index_path)
    weight_map: Any = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise ValueError(Errors.E107.format(path=index_path, error="no 'weight_map' object"))
    names = set()
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str):
            raise ValueError(Errors.E131.format(index=index_path, tensor=tensor, value=shard, type_name=type(shard).__name__))
        if not _is_plain_file_name(shard):
            raise ValueError(Errors.E130.format(index=index_path, tensor=tensor, shard=shard, path=directory))
        names.add(shard)
    paths = []
    for shard in sorted(names):
        path = directory / shard
        if not path.is_file():
            raise FileNotFoundError(Errors.E105.format(index=index_name, shard=shard, path=directory))
        paths.append(path)
    return paths
