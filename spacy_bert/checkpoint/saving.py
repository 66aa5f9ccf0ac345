"""Writing Hugging Face checkpoint directories: `config.json` + `model.safetensors` (+ tokenizer files)."""
import os
from pathlib import Path
from typing import Any, Dict, Union

import torch

from ..errors import Errors
from ..modeling import BertPreTrainedModel
from . import keys
from ..json_files import write_json
from .files import CONFIG_NAME, SAFETENSORS_NAME, write_safetensors


def checkpoint_tensors(model: BertPreTrainedModel) -> Dict[str, torch.Tensor]:
    """The model's parameters under their checkpoint names, each stored once.

    A tied parameter (the MLM decoder and its bias) is written under its canonical name only,
    as Hugging Face does; safetensors refuses tensors that share storage anyway.
    """
    tensors: Dict[str, torch.Tensor] = {keys.to_checkpoint_name(name): param for name, param in model.named_parameters()}
    if not model.config.tie_word_embeddings:
        # An untied Hugging Face LM head has its own `decoder.bias` parameter; ours is one
        # parameter under two names, so write a copy under the second name too.
        for alias, canonical in keys.ALIASES.items():
            for prefix in ("", keys.BASE_PREFIX):
                if prefix + canonical in tensors:
                    tensors[prefix + alias] = tensors[prefix + canonical].detach().clone()
    return tensors


def save_pretrained(model: BertPreTrainedModel, save_directory: Union[str, os.PathLike], tokenizer: Any = None) -> None:
    """Write `model` (and `tokenizer`, if given) as a Hugging Face checkpoint directory.

    `config.json` gets `architectures = [<class name>]` so `transformers.AutoModel*` and our
    loaders pick the right head; the weights go to `model.safetensors`.
    """
    directory = Path(save_directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(Errors.E112.format(path=directory))
    directory.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config["architectures"] = [type(model).__name__]
    config["dtype"] = str(model.dtype).removeprefix("torch.")
    write_safetensors(checkpoint_tensors(model), directory / SAFETENSORS_NAME)
    write_json(config, directory / CONFIG_NAME, sort_keys=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
