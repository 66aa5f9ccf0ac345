"""`spacy-bert.BertEncoder.v1`: Docs in, BERT outputs per Doc out, as a thinc model.

For a batch of Docs the forward pass
1. encodes each Doc's whole text once with the WordPiece tokenizer (pieces with char offsets),
2. aligns pieces to spaCy tokens by char overlap (`tokenization/alignment.py`),
3. cuts texts longer than the model into overlapping windows (`windows.py`), never truncating,
4. sorts all windows of all Docs by length and packs them into padded batches under a piece
   budget (`batching.py`), runs the torch `BertModel` on each (through `BertShim`),
5. takes each piece's vector from the window where it has the most context, and pools piece
   vectors into token vectors (`pooling.py`).
Backprop reverses 5 -> 4 with one `torch.autograd.backward` over all batches.

The checkpoint is read lazily: at `initialize()` or at the first forward pass, whichever comes
first; a model restored from bytes never reads it.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import CupyOps, Model, get_current_ops, torch2xp, xp2torch
from thinc.shims.pytorch import ArgsKwargs
from thinc.shims import PyTorchGradScaler
from thinc.types import Floats1d, Floats2d

from ..errors import Errors
from ..tokenization import PieceAlignment, align_pieces_to_tokens
from .batching import pad_windows, plan_batches
from .pooling import POOLING_MODES, pool_pieces
from .shim import BertShim
from .windows import plan_windows


@dataclass
class BertDocOutput:
    """The encoder's output for one Doc.

    Attributes:
        piece_ids (np.ndarray): (n_pieces,) WordPiece ids of the whole text, no special tokens.
        piece_offsets (np.ndarray): (n_pieces, 2) char [start, end) of each piece in `doc.text`.
        alignment (PieceAlignment): pieces of each spaCy token.
        last_hidden_state (Floats2d): (n_pieces, hidden), each piece from its best window.
        pooler_output (Floats1d): (hidden,) the pooled `[CLS]` vector, averaged over the Doc's windows.
        token_vectors (Floats2d): (n_tokens, hidden) pooled over each token's pieces.
        n_windows (int): windows the text was cut into.
    """

    piece_ids: np.ndarray
    piece_offsets: np.ndarray
    alignment: PieceAlignment
    last_hidden_state: Floats2d
    pooler_output: Floats1d
    token_vectors: Floats2d
    n_windows: int


@dataclass
class BertDocGradient:
    """Gradients for one Doc's `BertDocOutput`; any field may be None (no gradient)."""

    d_token_vectors: Optional[Floats2d] = None
    d_last_hidden_state: Optional[Floats2d] = None
    d_pooler_output: Optional[Floats1d] = None

    def add(self, other: "BertDocGradient") -> None:
        """Accumulate `other` into this gradient (fields that are None count as zero)."""
        for name in ("d_token_vectors", "d_last_hidden_state", "d_pooler_output"):
            theirs = getattr(other, name)
            if theirs is None:
                continue
            ours = getattr(self, name)
            setattr(self, name, theirs.copy() if ours is None else ours + theirs)


BertEncoderModel = Model[List[Doc], List[BertDocOutput]]


def BertEncoder(
    checkpoint: Optional[str] = None,
    window: int = 512,
    stride: int = 128,
    max_batch_items: int = 2048,
    pooling: str = "mean",
    mixed_precision: bool = False,
    grad_scaler_config: Optional[dict] = None,
) -> BertEncoderModel:
    """Build the (empty) encoder model; weights arrive from `checkpoint` or from bytes.

    Args:
        checkpoint (Optional[str]): Local Hugging Face BERT directory or hub id.
        window (int): Positions per window, [CLS] and [SEP] included (capped at the model's
            max_position_embeddings).
        stride (int): Pieces shared by consecutive windows of a long text.
        max_batch_items (int): Piece budget of one padded batch (batch size x padded length).
        pooling (str): How a token's pieces become its vector: mean, first, last or max.
        mixed_precision (bool): Half-precision autocast on CUDA.
        grad_scaler_config (Optional[dict]): Arguments of thinc's `PyTorchGradScaler`.
    """
    if pooling not in POOLING_MODES:
        raise ValueError(Errors.E352.format(value=pooling, expected=", ".join(POOLING_MODES)))
    # Half precision (autocast + gradient scaling) exists on CUDA only; on the CPU the same
    # config runs in fp32, so one training config serves `--gpu-id 0` and `--gpu-id -1`.
    on_gpu = isinstance(get_current_ops(), CupyOps)
    scaler_args = dict(grad_scaler_config or {})
    scaler_args["enabled"] = bool(scaler_args.get("enabled", mixed_precision)) and on_gpu
    grad_scaler = PyTorchGradScaler(**scaler_args)
    return Model(
        "bert-encoder",
        forward,
        init=init,
        dims={"nO": None},
        attrs={
            "checkpoint": checkpoint,
            "window": window,
            "stride": stride,
            "max_batch_items": max_batch_items,
            "pooling": pooling,
        },
        shims=[BertShim(mixed_precision=mixed_precision and on_gpu, grad_scaler=grad_scaler)],
    )


def get_shim(model: Model) -> BertShim:
    return model.shims[0]


def ensure_loaded(model: Model) -> BertShim:
    """Read the checkpoint if the weights are not there yet; set `nO` to the hidden size."""
    shim = get_shim(model)
    if not shim.loaded:
        checkpoint = model.attrs.get("checkpoint")
        if not checkpoint:
            raise ValueError(Errors.E353.format(name=model.name))
        shim.load_checkpoint(checkpoint)
    hidden = shim.bert.config.hidden_size
    if model.maybe_get_dim("nO") != hidden:
        model.set_dim("nO", hidden, force=True)
    return shim


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    ensure_loaded(model)


def effective_window(window: int, stride: int, max_positions: int) -> Tuple[int, int]:
    """The window and stride used for a model with `max_positions` positions.

    A window larger than the model allows is capped at `max_positions`; if the configured
    stride then leaves a window no room to advance, it becomes a quarter of the window's
    content (so a 512/128 setting works unchanged on a model with fewer positions).
    """
    if window <= max_positions:
        return window, stride
    content = max_positions - 2
    return max_positions, stride if stride < content else content // 4


def token_offsets(doc: Doc) -> np.ndarray:
    """(n_tokens, 2) char [start, end) of each token."""
    starts = np.fromiter((t.idx for t in doc), dtype=np.int64, count=len(doc))
    ends = starts + np.fromiter((len(t) for t in doc), dtype=np.int64, count=len(doc))
    return np.stack([starts, ends], axis=1) if len(doc) else np.zeros((0, 2), dtype=np.int64)


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[BertDocOutput], Callable]:
    shim = ensure_loaded(model)
    ops = model.ops
    tokenizer = shim.tokenizer
    config = shim.bert.config
    window, stride = effective_window(int(model.attrs["window"]), int(model.attrs["stride"]), config.max_position_embeddings)
    encoded = tokenizer.encode_batch_with_offsets([doc.text for doc in docs])
    piece_ids = [np.asarray(ids, dtype=np.int64) for ids, _ in encoded]
    piece_offsets = [np.asarray(offsets, dtype=np.int64).reshape(-1, 2) for _, offsets in encoded]
    alignments = [
        align_pieces_to_tokens(offsets, token_offsets(doc), n_pieces=len(ids))
        for doc, ids, offsets in zip(docs, piece_ids, piece_offsets)
    ]
    plan = plan_windows([len(ids) for ids in piece_ids], window, stride)
    groups = plan_batches(plan.length + 2, int(model.attrs["max_batch_items"]))

    device = shim.bert.device
    window_row = np.zeros(len(plan.length), dtype=np.int64)  # flat row of each window's [CLS]
    hidden_parts: List[Floats2d] = []
    pooled_rows = np.zeros(len(plan.length), dtype=np.int64)
    pooled_parts: List[Floats2d] = []
    torch_outputs: List[torch.Tensor] = []
    torch_backprop = None
    row = 0
    for group in groups:
        input_ids, attention_mask = pad_windows(
            piece_ids, plan, group, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
        )
        batch_size, length = input_ids.shape
        inputs = ArgsKwargs(
            args=(),
            kwargs={
                "input_ids": torch.from_numpy(input_ids).to(device),
                "attention_mask": torch.from_numpy(attention_mask).to(device),
            },
        )
        if is_train:
            out, torch_backprop = shim.begin_update(inputs)
        else:
            out = shim.predict(inputs)
        hidden = out.last_hidden_state.float()  # (batch, length, hidden); fp32 even under autocast
        pooled = out.pooler_output.float()  # (batch, hidden)
        if is_train:
            torch_outputs.extend([hidden, pooled])
        window_row[group] = row + np.arange(batch_size) * length
        pooled_rows[group] = sum(p.shape[0] for p in pooled_parts) + np.arange(batch_size)
        hidden_parts.append(torch2xp(hidden.detach()).reshape(batch_size * length, -1))
        pooled_parts.append(torch2xp(pooled.detach()))
        row += batch_size * length
    flat_hidden = ops.xp.concatenate(hidden_parts) if len(hidden_parts) > 1 else hidden_parts[0]
    flat_pooled = ops.xp.concatenate(pooled_parts) if len(pooled_parts) > 1 else pooled_parts[0]

    pooling = model.attrs["pooling"]
    outputs: List[BertDocOutput] = []
    gathers: List[np.ndarray] = []
    doc_windows: List[np.ndarray] = []
    token_backprops = []
    for i, doc in enumerate(docs):
        gather = window_row[plan.source_window[i]] + plan.source_position[i]  # (n_pieces,)
        windows = pooled_rows[np.flatnonzero(plan.text_index == i)]
        piece_states = flat_hidden[ops.asarray(gather)] if len(gather) else ops.alloc2f(0, flat_hidden.shape[1])
        alignment = alignments[i]
        token_vectors, bp_tokens = pool_pieces(
            ops, piece_states, ops.asarray1i(alignment.lengths), ops.asarray1i(alignment.piece_indices), pooling
        )
        outputs.append(
            BertDocOutput(
                piece_ids=piece_ids[i],
                piece_offsets=piece_offsets[i],
                alignment=alignment,
                last_hidden_state=piece_states,
                pooler_output=flat_pooled[ops.asarray(windows)].mean(axis=0),
                token_vectors=token_vectors,
                n_windows=len(windows),
            )
        )
        gathers.append(gather)
        doc_windows.append(windows)
        token_backprops.append(bp_tokens)

    def backprop(gradients: Sequence[BertDocGradient]) -> List[Doc]:
        d_flat = ops.alloc2f(*flat_hidden.shape)
        d_pooled = ops.alloc2f(*flat_pooled.shape)
        for i, grad in enumerate(gradients):
            if grad.d_token_vectors is not None:
                d_pieces = token_backprops[i](grad.d_token_vectors)
                if grad.d_last_hidden_state is not None:
                    d_pieces += grad.d_last_hidden_state
            else:
                d_pieces = grad.d_last_hidden_state
            if d_pieces is not None and len(gathers[i]):
                d_flat[ops.asarray(gathers[i])] += d_pieces  # each piece comes from one position
            if grad.d_pooler_output is not None:
                d_pooled[ops.asarray(doc_windows[i])] += grad.d_pooler_output / len(doc_windows[i])
        grad_tensors = []
        row = 0
        pooled_row = 0
        for hidden, pooled in zip(torch_outputs[::2], torch_outputs[1::2]):
            batch_size, length, width = hidden.shape
            grad_tensors.append(xp2torch(d_flat[row : row + batch_size * length].reshape(batch_size, length, width), device=hidden.device))
            grad_tensors.append(xp2torch(d_pooled[pooled_row : pooled_row + batch_size], device=pooled.device))
            row += batch_size * length
            pooled_row += batch_size
        # One backward pass over every batch: the grad scaler unscales once per update.
        torch_backprop(ArgsKwargs(args=(torch_outputs,), kwargs={"grad_tensors": grad_tensors}))
        return []

    return outputs, backprop


@registry.architectures("spacy-bert.BertEncoder.v1")
def bert_encoder_v1(mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None) -> BertEncoderModel:
    """The encoder of the `bert` component (checkpoint, windows, batching and pooling are the
    component's settings, written into the model by the component)."""
    return BertEncoder(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config)
