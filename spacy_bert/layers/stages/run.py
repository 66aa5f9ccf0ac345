"""Stages 2-4 up to the model: *plan* windows and batches, *hook* piece ids, *run* the model.

`run_inputs` is where a component that needs per-window outputs stops (QA keeps each window's
logits; masked-LM scores hooked pieces through `MaskedLMAdapter`, `layers/heads/mlm.py`): it
returns the encodings, the window plan and, per padded batch, the model's own output object,
with the mapping window -> (batch, row).
`merge.py` continues from there for the token-level components.

Host and device: padding and hooks run on numpy; each batch is copied to the device once
(ids, mask, type ids, labels); outputs stay on the device as torch tensors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from thinc.shims.pytorch import ArgsKwargs

from ...errors import Errors
from ...tokenization import BertTokenizer
from .batching import PaddedBatch, invariant_batches, pad_inputs, plan_batches
from .encode import EncodedInputs, encode_inputs
from .hooks import PieceHook, apply_hook
from ..settings import DEFAULT_NAMES, EncoderSettings, SettingNames
from ..shim.bert_shim import Adapter, BertShim
from .timing import stage, timed_stage
from .windows import WindowPlan, plan_input_windows

__all__ = ["WindowOutputs", "loaded_tokenizer", "plan_inputs", "run_batches", "run_inputs"]


@dataclass
class WindowOutputs:
    """The model's outputs for every window of a batch of inputs.

    Attributes:
        batches (List[PaddedBatch]): the padded inputs, one per encoder call.
        outputs (List[Any]): the model's output object per batch (e.g. `last_hidden_state`
            (batch, length, hidden), `start_logits`, `logits`), torch tensors on the device.
        labels (List[Optional[torch.Tensor]]): per batch, a hook's labels (batch, length) int64
            on the model's device, or None.
        batch_of_window (np.ndarray): (n_windows,) int64 the batch of each window.
        row_of_window (np.ndarray): (n_windows,) int64 its row in that batch.
    """

    batches: Sequence[PaddedBatch]
    outputs: List[Any]
    labels: List[Optional[torch.Tensor]]
    batch_of_window: np.ndarray
    row_of_window: np.ndarray
    _torch_backprop: Optional[Callable] = field(default=None, repr=False)

    def backward(self, tensors: Sequence[torch.Tensor], grad_tensors: Sequence[torch.Tensor]) -> None:
        """One backward pass from output `tensors` of any batches with their gradients (so the
        grad scaler unscales once per update). Only after `run_batches(..., is_train=True)`."""
        assert self._torch_backprop is not None, "backward() needs outputs computed with is_train=True"
        self._torch_backprop(ArgsKwargs(args=(list(tensors),), kwargs={"grad_tensors": list(grad_tensors)}))


@timed_stage("plan")
def plan_inputs(
    encoded: EncodedInputs,
    settings: EncoderSettings,
    tokenizer,
    names: SettingNames = DEFAULT_NAMES,
    select: Optional[Callable[[WindowPlan], np.ndarray]] = None,
) -> Tuple[WindowPlan, List[PaddedBatch]]:
    """*plan*: windows (`plan_input_windows`; second segments where any input has one) and
    length-sorted padded batches under `settings.max_batch_items` (`plan_batches`; with
    `settings.batch_invariant`, `invariant_batches`).

    names (SettingNames): what the user calls window and stride (E354 / E371 / E372 speak of them).
    select (Optional[Callable[[WindowPlan], np.ndarray]]): picks the windows to batch, (n,)
        int64 (e.g. only those where a `[MASK]` is scored); None: all of them.
    """
    segments = encoded.segment_lengths
    plan = plan_input_windows(encoded.n_pieces, segments if segments.any() else None, settings.window, settings.stride, names)
    chosen = np.arange(plan.n_windows, dtype=np.int64) if select is None else np.asarray(select(plan), dtype=np.int64)
    positions = plan.positions[chosen]
    groups: List[Tuple[np.ndarray, Optional[int]]]  # (windows, padded length or None: the longest's)
    if settings.batch_invariant:
        groups = list(invariant_batches(positions, settings.max_batch_items, settings.window))
    else:
        groups = [(group, None) for group in plan_batches(positions, settings.max_batch_items)]
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    batches = [
        pad_inputs(encoded.piece_ids, encoded.segment_ids, plan, chosen[group], cls_id, sep_id, pad_id, length)
        for group, length in groups
    ]
    return plan, batches


#: Extra keyword arguments of the model for one batch (numpy arrays go to the device).
BatchKwargs = Callable[[PaddedBatch], Dict[str, Any]]


@timed_stage("run")
def run_batches(
    shim: BertShim,
    batches: Sequence[PaddedBatch],
    n_windows: int,
    is_train: bool,
    pass_labels: bool = False,
    *,
    adapter: Optional[Adapter] = None,
    extra: Optional[BatchKwargs] = None,
    fp32: bool = False,
) -> WindowOutputs:
    """*run*: each padded batch through the shim's model (any `BertPreTrainedModel`).

    Args:
        shim (BertShim): holds the model.
        batches (Sequence[PaddedBatch]): from `plan_inputs` (maybe hooked).
        n_windows (int): windows in the plan (size of the window -> batch mapping; a window
            in no batch maps to batch 0, row 0).
        is_train (bool): keep the autograd graph (`WindowOutputs.backward`) or run under
            inference mode.
        pass_labels (bool): give a batch's hook labels to the model as `labels=` (its output
            then carries the loss, e.g. `BertForMaskedLM`, `MaskedLMAdapter`).
        adapter (Optional[Adapter]): run `adapter(model)` instead of the model (`BertShim.predict`).
        extra (Optional[BatchKwargs]): more keyword arguments per batch (e.g. NSP labels).
        fp32 (bool): predict with the fp32 model whatever the precision (`BertShim.predict`).
    """
    device = shim.prepare()
    outputs: List[Any] = []
    labels: List[Optional[torch.Tensor]] = []
    batch_of_window = np.zeros(n_windows, dtype=np.int64)
    row_of_window = np.zeros(n_windows, dtype=np.int64)
    torch_backprop = None
    for b, batch in enumerate(batches):
        kwargs: Dict[str, Any] = {
            "input_ids": torch.from_numpy(batch.input_ids).to(device),
            "attention_mask": torch.from_numpy(batch.attention_mask).to(device),
        }
        if batch.token_type_ids.any():  # all zeros is the model's default: no copy needed
            kwargs["token_type_ids"] = torch.from_numpy(batch.token_type_ids).to(device)
        batch_labels = None if batch.labels is None else torch.from_numpy(batch.labels).to(device)
        if pass_labels and batch_labels is not None:
            kwargs["labels"] = batch_labels
        if extra is not None:
            for key, value in extra(batch).items():
                kwargs[key] = torch.from_numpy(value).to(device) if isinstance(value, np.ndarray) else value
        with stage("forward"):
            if is_train:
                out, torch_backprop = shim.begin_update(ArgsKwargs(args=(), kwargs=kwargs), adapter=adapter)
            else:
                out = shim.predict(ArgsKwargs(args=(), kwargs=kwargs), adapter=adapter, fp32=fp32)
        outputs.append(out)
        labels.append(batch_labels)
        batch_of_window[batch.windows] = b
        row_of_window[batch.windows] = np.arange(len(batch.windows))
    return WindowOutputs(batches, outputs, labels, batch_of_window, row_of_window, torch_backprop)


def loaded_tokenizer(shim: BertShim) -> BertTokenizer:
    """The tokenizer of the model in `shim`; E351 while no model is loaded."""
    if shim.tokenizer is None:
        raise ValueError(Errors.E351)
    return shim.tokenizer


def run_inputs(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    segments: Optional[Sequence[Optional[str]]] = None,
    *,
    hook: Optional[PieceHook] = None,
    rng: Optional[np.random.Generator] = None,
    is_train: bool = False,
    pass_labels: bool = False,
) -> Tuple[EncodedInputs, WindowPlan, WindowOutputs]:
    """encode -> plan -> hook -> run for a batch of inputs (texts and optional second segments).

    `settings` must already fit the model (`EncoderSettings.fit_to`). A `hook` (PieceHook)
    replaces piece ids of every padded batch (with `rng`, default a fresh
    `np.random.default_rng()`), and its labels come back in `WindowOutputs.labels`.
    """
    tokenizer = loaded_tokenizer(shim)
    encoded = encode_inputs(tokenizer, texts, segments)
    plan, batches = plan_inputs(encoded, settings, tokenizer)
    if hook is not None:
        rng = rng if rng is not None else np.random.default_rng()
        for batch in batches:
            apply_hook(hook, batch, rng)
    return encoded, plan, run_batches(shim, batches, plan.n_windows, is_train, pass_labels)
