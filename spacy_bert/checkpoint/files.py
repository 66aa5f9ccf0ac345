"""The files of a Hugging Face checkpoint directory: which weight files, config.json, vocab sizes.

Order of preference when reading: `model.safetensors`, `model.safetensors.index.json` (shards),
`pytorch_model.bin`, `pytorch_model.bin.index.json` (`weight_files`). Reading the tensors is
`stream.py`'s job. We always write safetensors.
"""
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import torch
from safetensors.torch import save_file

from ..errors import Errors
from ..json_files import atomic_write, read_json
from .shards import shard_paths

CONFIG_NAME = "config.json"
#: Largest config.json read. Real ones are a few kB (a few MB with 100,000 labels).
MAX_CONFIG_BYTES = 64 * 2**20
SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
BIN_NAME = "pytorch_model.bin"
BIN_INDEX_NAME = "pytorch_model.bin.index.json"
WEIGHT_NAMES = (SAFETENSORS_NAME, SAFETENSORS_INDEX_NAME, BIN_NAME, BIN_INDEX_NAME)



def read_config_dict(directory: Path) -> Dict[str, Any]:
    """The `config.json` of a checkpoint directory as a dictionary."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(Errors.E106.format(path=directory))
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:  # parsing it would cost many times its size in memory
        raise ValueError(Errors.E136.format(path=path, size=size, limit=MAX_CONFIG_BYTES))
    return read_json(path)


def weight_files(directory: Path) -> Tuple[str, List[Path]]:
    """The weight files of a checkpoint directory: ("safetensors" or "bin", the files in order).

    Preference: `model.safetensors`, its shard index, `pytorch_model.bin`, its shard index.

    Raises:
        FileNotFoundError (E102): none of them is there; (E105) a shard is missing.
        ValueError (E107, E130, E131): a shard index is unreadable or names a bad file.
    """
    directory = Path(directory)
    if (directory / SAFETENSORS_NAME).is_file():
        return "safetensors", [directory / SAFETENSORS_NAME]
    if (directory / SAFETENSORS_INDEX_NAME).is_file():
        return "safetensors", shard_paths(directory, SAFETENSORS_INDEX_NAME)
    if (directory / BIN_NAME).is_file():
        return "bin", [directory / BIN_NAME]
    if (directory / BIN_INDEX_NAME).is_file():
        return "bin", shard_paths(directory, BIN_INDEX_NAME)
    found = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    raise FileNotFoundError(
        Errors.E102.format(path=directory, expected=", ".join(WEIGHT_NAMES), found=", ".join(found) or "nothing")
    )


def write_safetensors(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """Write tensors (no two sharing storage) to a safetensors file, atomically."""
    contiguous = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    atomic_write(path, lambda tmp: save_file(contiguous, tmp, metadata={"format": "pt"}))


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
