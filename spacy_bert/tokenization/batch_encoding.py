"""`BatchEncoding`: what `BertTokenizer.__call__` returns.

A `dict` of model inputs (`input_ids`, `token_type_ids`, `attention_mask`, and on request
`special_tokens_mask`, `offset_mapping`, `overflow_to_sample_mapping`) that also allows
attribute access (`enc.input_ids`) and keeps the `tokenizers.Encoding` objects it was built
from in `.encodings`, as Hugging Face's `BatchEncoding` does.

torch is imported only when tensors of type "pt" are asked for.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import Errors

TENSOR_TYPES = ("pt", "np")


class BatchEncoding(dict):
    """Model inputs for one text, or a batch of texts, with the encodings behind them.

    Values are Python lists, or `torch.Tensor` / `numpy.ndarray` (int64) when the
    tokenizer was called with `return_tensors="pt"` / `"np"`.

    Args:
        data (Optional[Dict[str, Any]]): The model inputs, by name.
        encodings (Optional[Sequence[tokenizers.Encoding]]): One encoding per row of the
            inputs (windows of long texts included), or None.
        tensor_type (Optional[str]): "pt", "np" or None (keep lists).
    """

    def __init__(
        self,
        data: Optional[Dict[str, Any]] = None,
        encodings: Optional[Sequence[Any]] = None,
        tensor_type: Optional[str] = None,
    ) -> None:
        super().__init__(data or {})
        self._encodings = list(encodings) if encodings is not None else None
        if tensor_type is not None:
            self.convert_to_tensors(tensor_type)

    @property
    def encodings(self) -> Optional[List[Any]]:
        """List[tokenizers.Encoding]: the encodings, one per row (window), or None."""
        return self._encodings

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: expose the keys as attributes. Dunder and
        # private names are never keys, and must fail fast for copy/pickle to work.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(Errors.E237.format(name=name, keys=sorted(self.keys()))) from None

    def __getitem__(self, key: Any) -> Any:
        # As in Hugging Face: an int indexes the encodings, a str the inputs.
        if isinstance(key, int) and not isinstance(key, bool):
            if self._encodings is None:
                raise KeyError(key)
            return self._encodings[key]
        return super().__getitem__(key)

    def tokens(self, batch_index: int = 0) -> List[str]:
        """The piece strings of row `batch_index` (int), special tokens included."""
        return self._encoding(batch_index).tokens

    def word_ids(self, batch_index: int = 0) -> List[Optional[int]]:
        """For each piece of row `batch_index` (int), the index of its word (None for special tokens)."""
        return self._encoding(batch_index).word_ids

    def sequence_ids(self, batch_index: int = 0) -> List[Optional[int]]:
        """For each piece of row `batch_index` (int): 0 (text), 1 (text_pair) or None (special/padding)."""
        return self._encoding(batch_index).sequence_ids

    def _encoding(self, batch_index: int) -> Any:
        if self._encodings is None:
            raise ValueError(Errors.E236.format(what=f"encoding {batch_index}"))
        return self._encodings[batch_index]

    def convert_to_tensors(self, tensor_type: str) -> "BatchEncoding":
        """Turn every value into a tensor in place: `tensor_type` (str) is "pt" or "np".

        Rows must all have the same length (pad them), otherwise a ValueError says so.
        """
        if tensor_type not in TENSOR_TYPES:
            raise ValueError(
                Errors.E209.format(name="return_tensors", value=tensor_type, expected="None, 'pt', 'np'")
            )
        for key, value in list(self.items()):
            array = _to_int64_array(key, value)
            if tensor_type == "pt":
                import torch  # lazily: the tokenizer must not need torch unless asked

                self[key] = torch.from_numpy(array)
            else:
                self[key] = array
        return self

    def to(self, device: Any) -> "BatchEncoding":
        """Move torch tensors to `device` (str or torch.device); other values are kept. Returns self."""
        for key, value in list(self.items()):
            if hasattr(value, "to") and callable(value.to):
                self[key] = value.to(device)
        return self


def _to_int64_array(key: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value.astype(np.int64, copy=False)
    if hasattr(value, "numpy"):  # already a torch tensor
        return value.cpu().numpy().astype(np.int64, copy=False)
    if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
        lengths = sorted({len(row) for row in value})
        if len(lengths) > 1:
            raise ValueError(Errors.E213.format(key=key, lengths=lengths))
    if isinstance(value, list) and not value:
        # An empty batch: keep the (batch, seq) shape the model expects.
        shape = (0,) if key == "overflow_to_sample_mapping" else (0, 0)
        return np.zeros(shape, dtype=np.int64)
    return np.asarray(value, dtype=np.int64)
