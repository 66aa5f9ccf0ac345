"""Loading an encoder and its tokenizer into a shim: the one function for it.

`load_into_shim(shim, source)` reads a Hugging Face directory (or hub id, or a saved
component's `model/` folder): its tokenizer, and its weights as `model_class` (any
`BertPreTrainedModel`; `BertModel` by default), then installs both in the shim.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple, Type, Union

from ..checkpoint import load_pretrained, resolve_checkpoint_dir
from ..modeling import BertModel, BertPreTrainedModel
from ..tokenization import BertTokenizer

__all__ = ["load_encoder", "load_into_shim"]


def load_encoder(source: Union[str, Path], model_class: Type[BertPreTrainedModel] = BertModel) -> Tuple[BertPreTrainedModel, BertTokenizer]:
    """(model, tokenizer) from `source` (str | Path: local directory or hub id), the weights
    loaded strictly as `model_class` (type)."""
    directory = resolve_checkpoint_dir(str(source))
    return load_pretrained(model_class, directory), BertTokenizer.from_pretrained(directory)


def load_into_shim(shim, source: Union[str, Path], model_class: Type[BertPreTrainedModel] = BertModel):
    """Read `source` as `model_class` and install model and tokenizer in `shim` (BertShim);
    returns the shim."""
    model, tokenizer = load_encoder(source, model_class)
    shim.set_model(model, tokenizer)
    return shim
