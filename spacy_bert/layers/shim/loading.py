"""Reading an encoder and its tokenizer: the one function for it (`BertShim.load_checkpoint`
and `BertShim.from_disk` install what it returns).

`load_encoder(source)` reads a Hugging Face directory (or hub id, or a saved
component's `model/` folder): its tokenizer, and its weights as `model_class` (any
`BertPreTrainedModel`; `BertModel` by default).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Type, Union

import torch

from ...checkpoint import load_pretrained, resolve_checkpoint_dir
from ...modeling import BertModel, BertPreTrainedModel
from ...tokenization import BertTokenizer

__all__ = ["load_encoder"]


def load_encoder(
    source: Union[str, Path], model_class: Type[BertPreTrainedModel] = BertModel, dtype: Optional[torch.dtype] = None
) -> Tuple[BertPreTrainedModel, BertTokenizer]:
    """(model, tokenizer) from `source` (str | Path: local directory or hub id), the weights
    loaded strictly as `model_class` (type), built in `dtype` (default float32)."""
    directory = resolve_checkpoint_dir(str(source))
    return load_pretrained(model_class, directory, dtype=dtype), BertTokenizer.from_pretrained(directory)
