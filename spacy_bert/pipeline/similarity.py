"""Sentence vectors and similarity the spaCy way: `doc.vector`, `span.vector`, `doc.similarity`.

With `set_vectors = true` the `bert` component stores each Doc's sentence embedding and
installs user hooks, so `doc1.similarity(doc2)` works (no W007 "no word vectors" warning) and
equals sentence-transformers' cosine for all-MiniLM-L6-v2 and the `similarity` command's numbers.

The embedding is sentence-transformers' mean pooling: the attention-masked mean of the last
hidden states over every position of the window, [CLS] and [SEP] included, L2-normalised.
Because the component's per-piece outputs leave the special positions out, the embedding is
computed by one more forward pass of the same encoder (only when `set_vectors` is on). A text
longer than one window is embedded window by window (overlap `stride`) and the windows' sums
averaged: never truncated.

The hooks are module-level functions that read numpy arrays from `doc.user_data`, so Docs with
vectors still pickle (and go through `nlp.pipe(n_process=...)`) without the model.
"""
from typing import Sequence, Union

import numpy as np
from spacy.tokens import Doc, Span
from thinc.api import Model

from ..layers.encoder import effective_window, ensure_loaded

_VECTOR_KEY = ("spacy_bert", "sentence_vector")


def sentence_embeddings(model, tokenizer, sentences: Sequence[str], max_length: int = 512, stride: int = None):
    """(n, hidden) L2-normalised mean-pooled embeddings, as a CPU float32 torch.Tensor.

    model (BertModel), tokenizer (BertTokenizer): from the same checkpoint; the inputs go to
        the model's device.
    sentences (Sequence[str]): the texts.
    max_length (int): positions per window, [CLS]/[SEP] included.
    stride (int): pieces shared by consecutive windows of a long text (default max_length // 4).
    """
    import torch

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


def set_sentence_vectors(docs: Sequence[Doc], encoder: Model) -> None:
    """Store each Doc's sentence embedding and install the vector / similarity hooks.

    encoder (Model): the component's `BertEncoder` (its BertModel, tokenizer, window, stride).
    """
    if not docs:
        return
    shim = ensure_loaded(encoder)
    window, stride = effective_window(
        int(encoder.attrs["window"]), int(encoder.attrs["stride"]), shim.bert.config.max_position_embeddings
    )
    vectors = sentence_embeddings(shim.bert, shim.tokenizer, [doc.text for doc in docs], window, stride).numpy()
    for doc, vector in zip(docs, vectors):
        doc.user_data[_VECTOR_KEY] = vector
        doc.user_hooks["vector"] = doc_vector
        doc.user_hooks["has_vector"] = has_vector
        doc.user_hooks["vector_norm"] = vector_norm
        doc.user_hooks["similarity"] = similarity
        doc.user_span_hooks["vector"] = span_vector
        doc.user_span_hooks["has_vector"] = has_vector
        doc.user_span_hooks["vector_norm"] = vector_norm
        doc.user_span_hooks["similarity"] = similarity


def doc_vector(doc: Doc) -> np.ndarray:
    """(hidden,) the Doc's sentence embedding (unit length)."""
    return doc.user_data[_VECTOR_KEY]


def span_vector(span: Span) -> np.ndarray:
    """(hidden,) mean of the span's token vectors (`doc.tensor`, each the mean of its pieces);
    the whole Doc as a span gets the Doc's sentence embedding."""
    if span.start == 0 and span.end == len(span.doc):
        return doc_vector(span.doc)
    rows = span.doc.tensor[span.start : span.end]
    return rows.mean(axis=0) if len(rows) else np.zeros(span.doc.tensor.shape[1], dtype="float32")


def has_vector(obj: Union[Doc, Span]) -> bool:
    return True


def vector_norm(obj: Union[Doc, Span]) -> float:
    return float(np.linalg.norm(obj.vector))


def similarity(obj: Union[Doc, Span], other) -> float:
    """Cosine of the two vectors (for two Docs: sentence-transformers' cosine similarity)."""
    a, b = np.asarray(obj.vector, dtype="float32"), np.asarray(other.vector, dtype="float32")
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms else 0.0
