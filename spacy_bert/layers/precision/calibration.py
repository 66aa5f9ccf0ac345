"""Calibration for int8: the input (built-in sentences, or fixed pseudo-random ids, cut to the
model's positions), what one fp32 pass over it measures (max |x_j| per input channel of every
encoder Linear) and the SmoothQuant factors computed from that. Deterministic, no data file,
~0.1 s of the ~0.5 s an int8 copy takes to build."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, cast

import torch
from torch import nn

from ...errors import Warnings
from ...modeling import BertModel

__all__ = ["CALIBRATION_TEXTS", "calibration_batch", "encoder_of", "fit_positions", "input_ranges", "observe_inputs", "smooth_factor", "smooth_scales"]

def encoder_of(model: nn.Module) -> BertModel:
    """The `BertModel` of `model`: itself, or the `.bert` of a `BertFor*` head model."""
    return model if isinstance(model, BertModel) else cast(BertModel, model.bert)


#: Built-in calibration text for int8's input ranges (`calibration_batch`): varied English (news,
#: reviews, a tweet, numbers, names, a question, punctuation), so no data file is needed at load.
#: Kept apart from the sentences the tests and bench/int8_error.py measure accuracy on.
CALIBRATION_TEXTS = (
    "The central bank raised interest rates by half a point on Wednesday, its third rise this year.",
    "a gorgeous , witty , seductive movie that never loses its sense of wonder .",
    "@sam_k88 cant believe we lost again lol #mondays",
    "Dr. Maria Sánchez, who studied in Berlin and Tokyo, now leads the lab's protein research team.",
    "Where was the 1998 World Cup final played, and who scored the first goal?",
    "The committee approved 3 of the 12 proposals; the rest were sent back for revision in May.",
    "the script is dull , the pacing is worse , and the ending made no sense to anyone .",
    "Shares of Acme Corp. fell 4.5% after it cut its full-year forecast, citing weak demand in Europe.",
)
#: Piece ids of the data-free calibration (no tokenizer): 8 rows of 32, fixed seed.
CALIBRATION_SHAPE, CALIBRATION_SEED = (8, 32), 0


def calibration_batch(tokenizer: Optional[Any] = None, vocab_size: int = 30522) -> Dict[str, torch.Tensor]:
    """The calibration batch of `input_ranges`: `CALIBRATION_TEXTS` encoded by `tokenizer`
    (padded), or, without one, `CALIBRATION_SHAPE` pseudo-random ids below `vocab_size` from
    a fixed seed (deterministic; for a model used without its tokenizer).

    Returns: {"input_ids": (8, seq) int64, "attention_mask": (8, seq) int64}.
    """
    if tokenizer is not None:
        enc = tokenizer(list(CALIBRATION_TEXTS), padding=True, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    low = min(1000, vocab_size - 1)  # past BERT vocabularies' special and unused entries
    ids = torch.randint(low, vocab_size, CALIBRATION_SHAPE, generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def fit_positions(batch: Dict[str, torch.Tensor], limit: int, specials: bool, name: str = "bert") -> Dict[str, torch.Tensor]:
    """`batch` (`calibration_batch`'s) with rows no longer than `limit` positions (the model's
    `max_position_embeddings`); unchanged when they fit.

    A longer row is cut into consecutive windows, as long texts are run: with `specials` (rows
    encoded as `[CLS] pieces [SEP]`) each window is `[CLS]`, up to `limit - 2` of the row's
    pieces, `[SEP]`; without (random ids) plain runs of `limit` ids. Every real piece is in one
    window, so the ranges come from the same text. Warns W751 when it had to cut.

    Args:
        batch: {"input_ids": (rows, seq) int64, "attention_mask": (rows, seq) int64}.
        limit (int): positions the model has.
        specials (bool): rows begin with [CLS] and end with [SEP] (a tokenizer encoded them).
    Returns: the same keys, (windows, <= limit) each, right-padded with the rows' pad id.
    """
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if ids.shape[1] <= limit:
        return batch
    specials = specials and limit >= 3  # a window needs room for [CLS], one piece and [SEP]
    pad = ids[mask == 0][0].item() if bool((mask == 0).any()) else 0
    windows: List[List[int]] = []
    for row, keep in zip(ids.tolist(), mask.bool().tolist()):
        real = [piece for piece, kept in zip(row, keep) if kept]
        if specials:
            cls, body, sep = real[0], real[1:-1], real[-1]
            step = limit - 2
            windows += [[cls, *body[i : i + step], sep] for i in range(0, max(len(body), 1), step)]
        else:
            windows += [real[i : i + limit] for i in range(0, len(real), limit)]
    width = max(len(w) for w in windows)
    input_ids = torch.full((len(windows), width), pad, dtype=ids.dtype)
    attention_mask = torch.zeros((len(windows), width), dtype=mask.dtype)
    for r, window in enumerate(windows):
        input_ids[r, : len(window)] = torch.tensor(window, dtype=ids.dtype)
        attention_mask[r, : len(window)] = 1
    warnings.warn(Warnings.W751.format(name=name, limit=limit, length=ids.shape[1]), UserWarning, stacklevel=3)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def observe_inputs(
    model: nn.Module,
    modules: Dict[str, nn.Module],
    observe: Callable[[str, nn.Module, torch.Tensor], None],
    batches: Iterable[Dict[str, torch.Tensor]],
) -> None:
    """Run `model` (a `BertModel`) over `batches` (its keyword inputs, with "attention_mask"),
    calling `observe(path, module, x)` with the input of each of `modules` (path -> module) at
    the real pieces only: x (real pieces, in_features)."""
    keep: List[torch.Tensor] = []

    def hook(path: str):
        def record(module: nn.Module, args: tuple) -> None:
            x = args[0].detach()
            observe(path, module, x.reshape(-1, x.shape[-1])[keep[0]])

        return record

    handles = [module.register_forward_pre_hook(hook(path)) for path, module in modules.items()]
    try:
        with torch.inference_mode():
            for batch in batches:
                keep[:] = [batch["attention_mask"].bool().reshape(-1)]
                model(**batch)
    finally:
        for handle in handles:
            handle.remove()


def input_ranges(model: nn.Module, batches: Iterable[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """max |x_j| per input channel j of every `nn.Linear` under `model.encoder` (path -> (in,)),
    over the real pieces of `batches` (keyword inputs of `model`), run in fp32."""
    bert = encoder_of(model)
    ranges: Dict[str, torch.Tensor] = {}

    def record(path: str, module: nn.Module, x: torch.Tensor) -> None:
        x = x.float().abs().amax(dim=0)
        ranges[path] = x if path not in ranges else torch.maximum(ranges[path], x)

    observe_inputs(bert, {path: m for path, m in bert.encoder.named_modules() if type(m) is nn.Linear}, record, batches)
    return ranges


def smooth_scales(model: nn.Module, ranges: Dict[str, torch.Tensor], alpha: float) -> Dict[str, torch.Tensor]:
    """SmoothQuant factors per Linear of `model.encoder` (path -> (in,)): s_j = max|x_j|^alpha /
    max|W_:j|^(1 - alpha), from `input_ranges`."""
    bert = encoder_of(model)
    return {path: smooth_factor(ranges[path], m.weight, alpha) for path, m in bert.encoder.named_modules() if type(m) is nn.Linear and path in ranges}


def smooth_factor(x_max: torch.Tensor, weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """s (in,) = x_max^alpha / max_i |W_ij|^(1 - alpha) for weight (out, in)."""
    wmax = weight.detach().float().abs().amax(dim=0).clamp(min=1e-5)
    return (x_max.clamp(min=1e-5) ** alpha / wmax ** (1 - alpha)).clamp(min=1e-5)
