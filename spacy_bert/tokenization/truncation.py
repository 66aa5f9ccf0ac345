"""Padding and truncation policy of `BertTokenizer.__call__`.

- `resolve_strategies`: transformers' rules for turning `padding`, `truncation` and
  `max_length` into strategies (e.g. `max_length` alone truncates; no `max_length` falls back
  to `model_max_length`).
- `check_window` / `check_pair_stride`: a `max_length` that cannot hold the special tokens,
  or a `stride` that does not leave windows room to advance, is an error here rather than
  a silent no-op or a panic inside `tokenizers`.
- `describe_dropped`: what truncation dropped, for the warning that makes truncation loud.

Strategies are plain strings as `tokenizers` names them ("longest_first", "only_first",
"only_second"; "longest", "max_length" for padding), None meaning off.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, List, Optional, Sequence, Tuple

from tokenizers import Encoding

from ..errors import Errors, Warnings
from .checks import EncodeInput, check_int

# transformers: a model_max_length above this means "no limit" (no default max_length).
LARGE_INTEGER = int(1e20)

PADDING_VALUES = "False, True, 'longest', 'max_length', 'do_not_pad'"
TRUNCATION_VALUES = "False, True, 'longest_first', 'only_first', 'only_second', 'do_not_truncate'"


def resolve_strategies(
    padding: Any, truncation: Any, max_length: Optional[int], model_max_length: int
) -> Tuple[Optional[str], Optional[str], Optional[int]]:
    """transformers' `_get_padding_truncation_strategies`.

    Args:
        padding (bool | str | None): As passed to `__call__`.
        truncation (bool | str | None): As passed to `__call__`.
        max_length (Optional[int]): As passed to `__call__`.
        model_max_length (int): The tokenizer's default limit.

    Returns:
        (padding strategy, truncation strategy, max_length), strategies None when off.
    """
    if max_length is not None:
        check_int("max_length", max_length, minimum=1)
    if max_length is not None and padding is False and truncation is None:
        truncation = "longest_first"  # transformers' backward-compatible rule
    if padding is True:
        padding_strategy: Optional[str] = "longest"
        if max_length is not None and truncation in (None, False, "do_not_truncate"):
            warnings.warn(Warnings.W204.format(max_length=max_length), UserWarning, stacklevel=3)
    elif padding is False or padding is None or padding == "do_not_pad":
        padding_strategy = None
    elif padding in ("longest", "max_length"):
        padding_strategy = padding
    else:
        raise ValueError(Errors.E209.format(name="padding", value=padding, expected=PADDING_VALUES))
    if truncation is True:
        truncation_strategy: Optional[str] = "longest_first"
    elif truncation is False or truncation is None or truncation == "do_not_truncate":
        truncation_strategy = None
    elif truncation in ("longest_first", "only_first", "only_second"):
        truncation_strategy = truncation
    else:
        raise ValueError(Errors.E209.format(name="truncation", value=truncation, expected=TRUNCATION_VALUES))
    if max_length is None:
        # As transformers: with no known limit (model_max_length "infinite") these are off.
        if padding_strategy == "max_length":
            if model_max_length > LARGE_INTEGER:
                padding_strategy = None
            else:
                max_length = model_max_length
        if truncation_strategy is not None:
            if model_max_length > LARGE_INTEGER:
                truncation_strategy = None
            else:
                max_length = model_max_length
    return padding_strategy, truncation_strategy, max_length


def check_window(strategy: str, max_length: int, stride: int, n_special: int, has_pair: bool) -> None:
    """Refuse truncation settings that cannot make windows.

    Args:
        strategy (str): The truncation strategy.
        max_length (int): Window length, special tokens included.
        stride (int): Pieces shared by consecutive windows.
        n_special (int): Special tokens per window (0 without special tokens).
        has_pair (bool): Whether the inputs are pairs.
    """
    if strategy == "only_second" and not has_pair:
        raise ValueError(Errors.E219)
    if max_length <= n_special:
        # tokenizers would return the input untruncated, or only [CLS] [SEP].
        what = "a pair of texts needs" if has_pair else "one text needs"
        raise ValueError(Errors.E210.format(max_length=max_length, what=what, n_special=n_special,
                                            minimum=n_special + 1))
    if stride >= max_length - n_special:
        # tokenizers would panic deep in Rust: say it here instead.
        raise ValueError(Errors.E211.format(stride=stride, max_length=max_length, n_special=n_special,
                                            window=max_length - n_special, maximum=max_length - n_special - 1))


def check_pair_stride(
    inputs: Sequence[EncodeInput],
    strategy: str,
    max_length: int,
    stride: int,
    n_special: int,
    piece_lengths: Callable[[List[str]], List[int]],
) -> None:
    """Refuse a stride that is not smaller than what a truncated sequence of a pair keeps.

    tokenizers asserts this deep in Rust (a panic with a backtrace); the kept lengths follow
    its `truncate_encodings` (`kept_when_truncated`), so we can say which input and why first.

    Args:
        inputs (Sequence[Tuple[str, str]]): The pairs.
        strategy, max_length, stride, n_special: As for `check_window`.
        piece_lengths (Callable[[List[str]], List[int]]): Pieces of each text, no special tokens.
    """
    budget = max_length - n_special
    if strategy == "longest_first" and stride < budget // 2:
        return  # longest_first keeps at least budget // 2 pieces of any sequence it cuts
    firsts = [item[0] for item in inputs]
    seconds = [item[1] for item in inputs]
    # Count only the lengths that decide the window: for only_second (question answering)
    # just the short first texts.
    lengths_1 = piece_lengths(firsts) if strategy != "only_first" else None
    lengths_2 = piece_lengths(seconds) if strategy != "only_second" else None
    suspects = []
    for index in range(len(inputs)):
        l1 = lengths_1[index] if lengths_1 is not None else None
        l2 = lengths_2[index] if lengths_2 is not None else None
        for name, kept in kept_when_truncated(strategy, l1, l2, budget):
            # kept <= 0: tokenizers raises an ordinary error (the other text is too long).
            if 0 < kept <= stride:
                suspects.append((index, name, kept))
    if suspects and strategy != "longest_first":
        # Rare: count the long texts too, only of these inputs, to see whether the pair is
        # long enough to be cut at all.
        known = lengths_1 if strategy == "only_second" else lengths_2
        other = seconds if strategy == "only_second" else firsts
        assert known is not None
        more = piece_lengths([other[index] for index, _, _ in suspects])
        suspects = [suspect for suspect, length in zip(suspects, more) if known[suspect[0]] + length > budget]
    if suspects:
        index, name, kept = suspects[0]
        raise ValueError(Errors.E222.format(stride=stride, index=index, name=name, kept=kept,
                                            max_length=max_length, strategy=strategy))


def kept_when_truncated(strategy: str, l1: Optional[int], l2: Optional[int], budget: int) -> List[Tuple[str, int]]:
    """(name, pieces kept per window) of each sequence of a pair that `tokenizers` cuts.

    Follows `truncate_encodings` of tokenizers. `budget` (int) is max_length minus the special
    tokens; `l1`, `l2` (Optional[int]) are the piece counts of text and text_pair. For
    only_first / only_second only the other sequence's length is needed (l2 / l1): the result
    says what a window keeps if the pair is too long.
    """
    if strategy == "only_second":
        assert l1 is not None
        return [("text_pair", budget - l1)]
    if strategy == "only_first":
        assert l2 is not None
        return [("text", budget - l2)]
    assert l1 is not None and l2 is not None
    if l1 + l2 <= budget:
        return []
    n1, n2 = sorted((l1, l2))
    n2 = n1 if n1 > budget else max(n1, budget - n1)
    if n1 + n2 > budget:
        n1, n2 = budget // 2, budget // 2 + budget % 2
    if l1 > l2:
        n1, n2 = n2, n1
    return [(name, kept) for name, kept, total in (("text", n1, l1), ("text_pair", n2, l2)) if kept < total]


def describe_dropped(
    truncated: Sequence[int], kept: Sequence[Encoding], whole: Sequence[Encoding], is_batched: bool
) -> str:
    """How many pieces truncation dropped, per input, for the W201 warning.

    Args:
        truncated (Sequence[int]): Indices of the inputs that lost pieces.
        kept (Sequence[Encoding]): Their truncated encodings.
        whole (Sequence[Encoding]): Their untruncated encodings without special tokens.
        is_batched (bool): Name inputs by index ("input 3: ...").
    """
    reports = []
    for index, short, full in zip(truncated, kept, whole):
        losses = []
        for sequence, name in ((0, "text"), (1, "text_pair")):
            total = full.sequence_ids.count(sequence)
            dropped = total - short.sequence_ids.count(sequence)
            if dropped > 0:
                losses.append(f"{dropped} of {total} pieces of {name}")
        where = f"input {index}: " if is_batched else ""
        reports.append(where + " and ".join(losses))
    shown = "; ".join(reports[:5])
    if len(reports) > 5:
        shown += f"; and {len(reports) - 5} more inputs"
    return shown
