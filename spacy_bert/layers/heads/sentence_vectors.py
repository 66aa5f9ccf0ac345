"""Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2: the
attention-masked mean of the last hidden states over every position of the window ([CLS] and
[SEP] included), L2-normalised. A text longer than one window is embedded window by window
(overlap `stride`) and the windows' sums averaged: never truncated.

Used by the `bert` component's `set_vectors` (pipeline/similarity.py) and `spacy bert similarity`.
"""
from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ["sentence_embeddings", "sentence_vectors"]


def sentence_embeddings(model, tokenizer, sentences: Sequence[str], max_length: int = 512, stride: Optional[int] = None):
    """(n, hidden) L2-normalised mean-pooled embeddings, as a CPU float32 torch.Tensor.

    model (BertModel), tokenizer (BertTokenizer): from the same checkpoint; the inputs go to
        the model's device.
    sentences (Sequence[str]): the texts.
    max_length (int): positions per window, [CLS]/[SEP] included.
    stride (int): pieces shared by consecutive windows of a long text (default max_length // 4).
    """
    encoded = tokenizer(
        list(sentences),
        padding=True,
        truncation=True,
        max_length=max_length,
        stride=max_length // 4 if stride is None else stride,
        return_overflowing_tokens=True,
        return_tensors="pt",
    )
    owner = encoded["overflow_to_sample_mapping"]
    device = next(model.parameters()).device
    with torch.inference_mode():
        hidden = model(
            input_ids=encoded["input_ids"].to(device),
            attention_mask=encoded["attention_mask"].to(device),
            token_type_ids=encoded["token_type_ids"].to(device),
        ).last_hidden_state.float().cpu()
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (windows, seq, 1)
    sums = torch.zeros(len(sentences), hidden.shape[-1]).index_add_(0, owner, (hidden * mask).sum(1))
    counts = torch.zeros(len(sentences)).index_add_(0, owner, mask.sum((1, 2)))
    return torch.nn.functional.normalize(sums / counts.clamp(min=1).unsqueeze(-1), dim=-1)


def sentence_vectors(model, tokenizer, sentences: Sequence[str], max_length: int = 512, stride: Optional[int] = None) -> np.ndarray:
    """`sentence_embeddings` as a numpy array (n, hidden), for the components above this layer."""
    return sentence_embeddings(model, tokenizer, sentences, max_length, stride).numpy()
