"""Everything about Hugging Face checkpoint directories: files, the key table, strict loading, saving."""
from .files import read_state_dict
from .loading import LoadReport, apply_state_dict, load_pretrained, read_config
from ..resolve import resolve_checkpoint_dir
from .saving import checkpoint_tensors, save_pretrained

__all__ = [
    "LoadReport",
    "apply_state_dict",
    "checkpoint_tensors",
    "load_pretrained",
    "read_config",
    "read_state_dict",
    "resolve_checkpoint_dir",
    "save_pretrained",
]
