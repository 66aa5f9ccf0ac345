"""`EncoderSettings`: the one place the encoder's window, stride, batch budget, threads and
prediction precision are defaulted and validated (the `bert` component, the task components and
the registered encoder architectures all take their defaults from `DEFAULT_SETTINGS`). Every
model that runs the encoder stages holds one in `attrs[SETTINGS_ATTR]`, written by its component
(`pipeline/base.py`: `BertPipe.encoder_settings`).

Threads: torch's intra-op thread count is process-wide, so it is one setting for the process,
not per component: `n_threads` (None = take the environment variable `SPACY_BERT_NUM_THREADS`,
and when that is unset leave torch's default) is applied whenever a model is installed in a
shim (`BertShim.set_model`), i.e. at `initialize()`, at load, and on first use.
"""
from __future__ import annotations

import numbers
import os
import warnings
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterator, NamedTuple, Optional, Tuple

from ..errors import Errors, Warnings

__all__ = [
    "DEFAULT_NAMES", "DEFAULT_PRECISION", "DEFAULT_SETTINGS", "EncoderSettings", "SETTINGS_ATTR", "SettingNames",
    "THREADS_ENV", "resolve_threads",
]

#: Environment variable read for the torch thread count when `n_threads` is None.
THREADS_ENV = "SPACY_BERT_NUM_THREADS"
#: Key of a model's `attrs` holding its `EncoderSettings`.
SETTINGS_ATTR = "settings"
#: Prediction precision by default: fp32, identical to Hugging Face (`layers/precision/policy.py`).
DEFAULT_PRECISION = "float32"
#: The default batch budget (named in E354's advice before the class is defined).
DEFAULT_BATCH_ITEMS = 2048


class SettingNames(NamedTuple):
    """The names the user gave the window and stride settings, for the messages (E354, E371,
    E372): `bert_qa` calls them max_seq_len and doc_stride, as Hugging Face does."""

    window: str = "window"
    stride: str = "stride"


DEFAULT_NAMES = SettingNames()


def _is_int(value: Any) -> bool:
    """An int (numpy ints included), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class EncoderSettings:
    """How the encoder cuts texts into windows and windows into batches.

    Attributes:
        window (int): Positions per window, [CLS]/[SEP] (and a second segment) included; capped
            at the model's `max_position_embeddings` when larger (see `fit_to`).
        stride (int): Pieces shared by consecutive windows (Hugging Face's stride: the overlap).
        max_batch_items (int): Padded positions of one encoder call (rows x padded length).
        n_threads (Optional[int]): torch threads for the process; None: `SPACY_BERT_NUM_THREADS`
            or torch's default.
        precision (str): Prediction arithmetic ("float32", "int8", "bfloat16", "float16",
            "auto"; `layers/precision/policy.py`); training always runs fp32.
        batch_invariant (bool): Pad each window to a length of its own and batch only windows of
            one length, so that a text's outputs are bit for bit the same whatever it is batched
            with (`stages/batching.invariant_batches`); costs some speed, off by default.
    """

    window: int = 512
    stride: int = 128
    max_batch_items: int = DEFAULT_BATCH_ITEMS
    n_threads: Optional[int] = None
    precision: str = DEFAULT_PRECISION
    batch_invariant: bool = False

    @classmethod
    def of(cls, model: Any) -> "EncoderSettings":
        """The settings a thinc model holds (`attrs[SETTINGS_ATTR]`; the defaults if none)."""
        return model.attrs.get(SETTINGS_ATTR) or DEFAULT_SETTINGS

    def to_cfg(self, window: str = "window", stride: str = "stride") -> Dict[str, Any]:
        """The window, stride, batch budget and batch invariance as a component's cfg keys
        (`window`/`stride`: the names it uses, e.g. bert_qa's Hugging Face names
        max_seq_len/doc_stride)."""
        return {window: self.window, stride: self.stride, "max_batch_items": self.max_batch_items,
                "batch_invariant": self.batch_invariant}

    def validate(self, name: Optional[str] = None, names: SettingNames = DEFAULT_NAMES, specials: int = 2) -> "EncoderSettings":
        """Raise E354 for the first value that cannot work; return self.

        The one check of window, stride, batch budget and threads: the components (at
        construction and load), the window planner and the batch planner all call it.

        Args:
            name (Optional[str]): The component named in the message (None: no component).
            names (SettingNames): What the user calls window and stride (bert_qa: max_seq_len,
                doc_stride).
            specials (int): Special tokens around a window's content: 2 ([CLS] ... [SEP]); 3 for
                bert_qa's pairs ([CLS] question [SEP] context [SEP]).
        """
        first = next(self._problems(names, specials), None)
        if first is not None:
            field, value, problem, reason = first
            where = "" if name is None else f" (the {name!r} component)"
            raise ValueError(Errors.E354.format(field=field, value=value, problem=problem, where=where, reason=reason))
        return self

    def _problems(self, names: SettingNames, specials: int) -> Iterator[Tuple[str, Any, str, str]]:
        """(setting name, value, problem, reason) of each value that cannot work, in order."""
        window, stride = self.window, self.stride
        if not _is_int(window) or window < specials + 1:
            yield names.window, window, "is too small" if _is_int(window) else "is not an int", (
                f"a window holds {specials} special tokens and at least one piece, so {names.window} "
                f"must be an int of at least {specials + 1}. Use the model's max_position_embeddings "
                "(usually 512)"
            )
            return  # the stride's bound needs a valid window
        content = window - specials
        if not _is_int(stride) or not 0 <= stride < content:
            yield names.stride, stride, f"does not fit {names.window}={window}", (
                f"a window holds {content} pieces ({names.window} - {specials} special tokens) and "
                f"{names.stride} is the overlap of consecutive windows, so 0 <= {names.stride} <= "
                f"{content - 1} is expected. Lower {names.stride} or raise {names.window}"
            )
        if not _is_int(self.max_batch_items) or self.max_batch_items < 1:
            yield "max_batch_items", self.max_batch_items, "is not a piece budget", (
                "the padded positions of one encoder call (rows x padded length) must be an int >= 1. "
                f"Use at least one window's worth, e.g. {DEFAULT_BATCH_ITEMS}"
            )
        if not isinstance(self.batch_invariant, bool):
            yield "batch_invariant", self.batch_invariant, "is not a bool", (
                "batch_invariant is true (a text's outputs do not depend on the texts batched with it) or false"
            )
        if self.n_threads is not None and (not _is_int(self.n_threads) or self.n_threads < 1):
            yield "n_threads", self.n_threads, "is not a thread count", (
                "torch's intra-op threads must be None (the environment variable "
                f"{THREADS_ENV} or torch's default) or an int >= 1"
            )

    def fit_to(self, max_positions: int, name: str = "bert") -> "EncoderSettings":
        """These settings for a model with `max_positions` (int) positions.

        A window larger than the model is capped at `max_positions` (a config written for 512
        positions runs on a smaller model). If the stride then leaves a window no room to
        advance, it cannot be kept: it becomes a quarter of the window's content and W370 says
        so, with the values to configure to silence it.
        """
        if self.window <= max_positions:
            return self
        content = max_positions - 2
        if self.stride < content:
            return replace(self, window=max_positions)
        stride = content // 4
        warnings.warn(
            Warnings.W370.format(name=name, window=self.window, stride=self.stride, positions=max_positions, used=stride, maximum=content - 1),
            UserWarning,
            stacklevel=3,
        )
        return replace(self, window=max_positions, stride=stride)


#: The defaults, written once (components' default configs and architectures read them here).
DEFAULT_SETTINGS = EncoderSettings()


def resolve_threads(n_threads: Optional[int]) -> Optional[int]:
    """The torch thread count to apply: `n_threads`, else `SPACY_BERT_NUM_THREADS`, else None
    (leave torch's choice). Raises E370 for an environment value that is not a positive int."""
    if n_threads is not None:
        return int(n_threads)
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(Errors.E370.format(env=THREADS_ENV, value=value))
    return threads
