"""Everything about Hugging Face checkpoint directories: files, the key table, strict loading, saving."""
from .loading import LoadReport, apply_state_dict, build_model, load_pretrained, read_config
from ..resolve import resolve_checkpoint_dir
from .saving import checkpoint_tensors, save_pretrained
from .stream import Weights, bytes_weights, directory_weights, read_state_dict
from ..modeling.pretrained import register_checkpoint_io

# `BertPreTrainedModel.from_pretrained` / `.save_pretrained` run these (modeling/ must not
# import this package).
register_checkpoint_io(load_pretrained, save_pretrained)

__all__ = [
    "LoadReport",
    "Weights",
    "apply_state_dict",
    "build_model",
    "bytes_weights",
    "checkpoint_tensors",
    "directory_weights",
    "load_pretrained",
    "read_config",
    "read_state_dict",
    "resolve_checkpoint_dir",
    "save_pretrained",
]
