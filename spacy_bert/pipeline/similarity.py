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
from typing import Sequence, Union, cast

import numpy as np
from spacy.tokens import Doc, Span
from thinc.api import Model

from ..layers.encoder import effective_window, ensure_loaded
from ..layers.settings import EncoderSettings
from ..layers.heads.sentence_vectors import sentence_vectors
from .doc_data import user_data

_VECTOR_KEY = ("spacy_bert", "sentence_vector")


def set_sentence_vectors(docs: Sequence[Doc], encoder: Model) -> None:
    """Store each Doc's sentence embedding and install the vector / similarity hooks.

    encoder (Model): the component's `BertEncoder` (its BertModel, tokenizer, window, stride).
    """
    if not docs:
        return
    shim = ensure_loaded(encoder)
    settings = EncoderSettings.of(encoder)
    window, stride = effective_window(settings.window, settings.stride, shim.bert.config.max_position_embeddings)
    vectors = sentence_vectors(shim.bert, shim.tokenizer, [doc.text for doc in docs], window, stride)
    for doc, vector in zip(docs, vectors):
        user_data(doc)[_VECTOR_KEY] = vector
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
    return user_data(doc)[_VECTOR_KEY]


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
    return float(np.linalg.norm(cast(np.ndarray, obj.vector)))


def similarity(obj: Union[Doc, Span], other) -> float:
    """Cosine of the two vectors (for two Docs: sentence-transformers' cosine similarity)."""
    a, b = np.asarray(obj.vector, dtype="float32"), np.asarray(other.vector, dtype="float32")
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms else 0.0
