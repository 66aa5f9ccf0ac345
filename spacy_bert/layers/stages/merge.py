"""Stage 5, *merge* (optional): one row per piece and one vector per token, per Doc.

Each piece takes its `last_hidden_state` row from the window where it has the most context
(`WindowPlan.source_window` / `source_position`); the pooled `[CLS]` vector is averaged over a
Doc's windows; piece vectors are pooled into token vectors (`pooling.py`). All of it is done
for the whole batch at once — one gather of the pieces of all Docs, one pooling over all
tokens, one mean over all windows — and then cut into per-Doc views, so the work per Doc stays
a few slices (short texts come in thousands). `to_host` copies a batch's outputs to numpy
with one device-to-host copy per field, not several per Doc.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple, cast

import numpy as np
from spacy.tokens import Doc
from thinc.api import NumpyOps, Ops, torch2xp, xp2torch
from thinc.types import Floats2d, Floats3d, Ints1d

from ...tokenization import align_pieces_to_tokens
from .encode import EncodedInputs
from .outputs import BertDocGradient, BertDocOutput
from .pooling import pool_pieces
from .run import WindowOutputs
from .timing import stage, timed_stage
from .windows import WindowPlan

if TYPE_CHECKING:
    import torch

__all__ = ["merge_windows", "to_host", "token_offsets"]


def token_offsets(doc: Doc) -> np.ndarray:
    """(n_tokens, 2) char [start, end) of each token."""
    starts = np.fromiter((t.idx for t in doc), dtype=np.int64, count=len(doc))
    ends = starts + np.fromiter((len(t) for t in doc), dtype=np.int64, count=len(doc))
    return np.stack([starts, ends], axis=1) if len(doc) else np.zeros((0, 2), dtype=np.int64)


def _edges(counts: Sequence[int]) -> List[int]:
    edges = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=edges[1:])
    return edges.tolist()


@timed_stage("merge")
def merge_windows(
    ops: Ops, docs: Sequence[Doc], encoded: EncodedInputs, plan: WindowPlan, run: WindowOutputs, pooling: str, is_train: bool
) -> Tuple[List[BertDocOutput], Callable[[Sequence[BertDocGradient]], List[Doc]]]:
    """Per-Doc outputs from a `BertModel`'s per-window outputs, and their backprop.

    Args:
        ops (Ops): The array backend (outputs are its arrays).
        docs (Sequence[Doc]): The Docs of the inputs, in order.
        encoded (EncodedInputs), plan (WindowPlan), run (WindowOutputs): from `run_inputs`.
        pooling (str): One of `pooling.POOLING_MODES`.
        is_train (bool): keep what backprop needs.
    Returns:
        (outputs: one `BertDocOutput` per Doc, backprop: per-Doc `BertDocGradient`s -> []).
    """
    hidden_tensors: List[torch.Tensor] = []
    pooled_tensors: List[torch.Tensor] = []
    hidden_parts: List[Floats2d] = []  # (batch * length, hidden) per batch
    pooled_parts: List[Floats2d] = []  # (batch, hidden) per batch
    batch_rows = np.zeros(len(run.outputs) + 1, dtype=np.int64)  # first flat row of each batch
    batch_first = np.zeros(len(run.outputs) + 1, dtype=np.int64)  # first pooled row of each batch
    batch_length = np.zeros(len(run.outputs), dtype=np.int64)  # padded length of each batch
    for b, out in enumerate(run.outputs):
        hidden = out.last_hidden_state.float()  # (batch, length, hidden); fp32 even under autocast
        pooled = out.pooler_output.float()  # (batch, hidden)
        if is_train:
            hidden_tensors.append(hidden)
            pooled_tensors.append(pooled)
        batch_size, length, width = hidden.shape
        hidden_parts.append(ops.reshape2f(cast(Floats3d, torch2xp(hidden.detach())), batch_size * length, width))
        pooled_parts.append(cast(Floats2d, torch2xp(pooled.detach())))
        batch_rows[b + 1] = batch_rows[b] + batch_size * length
        batch_length[b] = length
        batch_first[b + 1] = batch_first[b] + batch_size
    flat_hidden: Floats2d = ops.xp.concatenate(hidden_parts) if len(hidden_parts) > 1 else hidden_parts[0]
    flat_pooled: Floats2d = ops.xp.concatenate(pooled_parts) if len(pooled_parts) > 1 else pooled_parts[0]
    width = flat_hidden.shape[1]
    # Flat row of each window's position 0, and its pooled row.
    window_row = batch_rows[run.batch_of_window] + run.row_of_window * batch_length[run.batch_of_window]
    pooled_row = batch_first[run.batch_of_window] + run.row_of_window

    # All Docs' pieces in one gather (each piece from exactly one position).
    n_docs = len(docs)
    piece_counts = [len(ids) for ids in encoded.piece_ids]
    piece_edges = _edges(piece_counts)
    if piece_edges[-1]:
        gather = window_row[np.concatenate(plan.source_window)] + np.concatenate(plan.source_position)
        piece_states = flat_hidden[ops.asarray(gather)]  # (total_pieces, hidden)
    else:
        gather = np.zeros(0, dtype=np.int64)
        piece_states = ops.alloc2f(0, width)
    # All tokens pooled at once: alignments shifted into the flat piece numbering.
    with stage("align"):
        alignments = [
            align_pieces_to_tokens(offsets, token_offsets(doc), n_pieces=n)
            for doc, offsets, n in zip(docs, encoded.piece_offsets, piece_counts)
        ]
    token_counts = [len(a.lengths) for a in alignments]
    token_edges = _edges(token_counts)
    lengths = np.concatenate([a.lengths for a in alignments]) if n_docs else np.zeros(0, dtype=np.int32)
    piece_indices = (
        np.concatenate([a.piece_indices.astype(np.int64) + start for a, start in zip(alignments, piece_edges)])
        if n_docs
        else np.zeros(0, dtype=np.int64)
    )
    with stage("pool"):
        token_vectors, bp_tokens = pool_pieces(ops, piece_states, ops.asarray1i(cast(Ints1d, lengths)), ops.asarray1i(cast(Ints1d, piece_indices)), pooling)
    # Pooled [CLS] vector: mean over each Doc's windows (contiguous in the plan's order).
    windows_per_doc = cast(Ints1d, np.bincount(plan.text_index, minlength=n_docs).astype(np.int32))
    by_window = flat_pooled[ops.asarray(pooled_row)]  # (n_windows, hidden)
    doc_pooled = ops.reduce_mean(by_window, ops.asarray1i(windows_per_doc))  # (n_docs, hidden)

    outputs = [
        BertDocOutput(
            piece_ids=encoded.piece_ids[i],
            piece_offsets=encoded.piece_offsets[i],
            alignment=alignments[i],
            last_hidden_state=piece_states[piece_edges[i] : piece_edges[i + 1]],
            pooler_output=doc_pooled[i],
            token_vectors=token_vectors[token_edges[i] : token_edges[i + 1]],
            n_windows=int(windows_per_doc[i]),
        )
        for i in range(n_docs)
    ]

    def backprop(gradients: Sequence[BertDocGradient]) -> List[Doc]:
        d_pieces = ops.alloc2f(piece_edges[-1], width)
        if any(g.d_token_vectors is not None for g in gradients):
            d_tokens = ops.alloc2f(token_edges[-1], width)
            for i, grad in enumerate(gradients):
                if grad.d_token_vectors is not None:
                    d_tokens[token_edges[i] : token_edges[i + 1]] = grad.d_token_vectors
            d_pieces += bp_tokens(d_tokens)
        d_doc_pooled = ops.alloc2f(n_docs, width)
        for i, grad in enumerate(gradients):
            if grad.d_last_hidden_state is not None:
                d_pieces[piece_edges[i] : piece_edges[i + 1]] += grad.d_last_hidden_state
            if grad.d_pooler_output is not None:
                d_doc_pooled[i] = grad.d_pooler_output
        d_flat = ops.alloc2f(*flat_hidden.shape)
        if len(gather):
            d_flat[ops.asarray(gather)] = d_pieces  # each piece comes from one position
        d_flat_pooled = ops.alloc2f(*flat_pooled.shape)
        d_flat_pooled[ops.asarray(pooled_row)] = ops.backprop_reduce_mean(d_doc_pooled, ops.asarray1i(windows_per_doc))
        tensors, grad_tensors = [], []
        for b, (hidden, pooled) in enumerate(zip(hidden_tensors, pooled_tensors)):
            batch_size, length, _ = hidden.shape
            tensors.extend([hidden, pooled])
            grad_tensors.append(xp2torch(ops.reshape3f(d_flat[batch_rows[b] : batch_rows[b + 1]], batch_size, length, width), device=hidden.device))
            grad_tensors.append(xp2torch(d_flat_pooled[batch_first[b] : batch_first[b + 1]], device=pooled.device))
        run.backward(tensors, grad_tensors)
        return []

    return outputs, backprop


def to_host(ops: Ops, outputs: Sequence[BertDocOutput], with_pieces: bool = True) -> List[Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]]:
    """(token_vectors, last_hidden_state or None without `with_pieces`, pooler_output) per
    Doc as numpy arrays, with one
    device-to-host copy per field for the whole batch. Each Doc gets its own arrays (host
    copies), not views of the batch's: a Doc kept alive must not keep the whole batch alive."""
    if isinstance(ops, NumpyOps) or not outputs:
        return [(np.array(o.token_vectors), np.array(o.last_hidden_state) if with_pieces else None, np.array(o.pooler_output)) for o in outputs]
    xp = ops.xp
    tokens = ops.to_numpy(xp.concatenate([o.token_vectors for o in outputs]))
    pooled = ops.to_numpy(xp.stack([o.pooler_output for o in outputs]))
    token_edges = _edges([len(o.token_vectors) for o in outputs])
    pieces: List[Optional[np.ndarray]] = [None] * len(outputs)
    if with_pieces:
        states = [cast(Floats2d, o.last_hidden_state) for o in outputs]  # the encoder's outputs: never None
        flat = ops.to_numpy(xp.concatenate(states))
        piece_edges = _edges([len(s) for s in states])
        pieces = [flat[piece_edges[i] : piece_edges[i + 1]].copy() for i in range(len(outputs))]
    return [(tokens[token_edges[i] : token_edges[i + 1]].copy(), pieces[i], pooled[i].copy()) for i in range(len(outputs))]
