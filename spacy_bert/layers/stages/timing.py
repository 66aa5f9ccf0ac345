"""Stage timing: an opt-in callback told how long each encoder stage took.

The stages (`encode.py`, `run.py`, `merge.py`) wrap their work in `stage(name)` or
`@timed_stage(name)`. With no callback registered
that is one truthiness check and a shared no-op context manager per call (a few hundred ns per
batch of Docs), so the stages carry it always. A profiler registers a callback for a block:

    from spacy_bert.layers.stages.timing import record_stages

    seconds = collections.Counter()
    with record_stages(lambda name, s: seconds.update({name: s})):
        list(nlp.pipe(texts))

The stage names (`STAGES`), each reported once per call of the function that runs it:

    encode   WordPiece encoding of the texts and second segments (`encode.encode_inputs`)
    plan     windows, length-sorted batches and padding (`run.plan_inputs`)
    run      every padded batch through the model, host-to-device copies included (`run.run_batches`)
    forward  one batch's model call (`BertShim.predict` / `begin_update`), inside `run`
    merge    per-Doc outputs from per-window outputs (`merge.merge_windows`), forward pass only
    align    pieces to spaCy tokens (`token_offsets`, `align_pieces_to_tokens`), inside `merge`
    pool     piece vectors pooled into token vectors (`pooling.pool_pieces`), inside `merge`

Nested stages (`forward` in `run`; `align`, `pool` in `merge`) are reported as well as their
parent, so a callback that sums everything counts them twice. Times are wall-clock
(`time.perf_counter`) on the host: on a GPU, `forward` ends when the kernels are queued, not
when they finish, unless the callback synchronises. The registry is process-wide (not per
thread): register around a block, not in library code.
"""
from __future__ import annotations

import functools
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, ContextManager, Iterator, Tuple, TypeVar, cast

__all__ = ["STAGES", "StageCallback", "record_stages", "stage", "timed_stage"]

STAGES: Tuple[str, ...] = ("encode", "plan", "run", "forward", "merge", "align", "pool")

#: callback(stage: str, seconds: float) -> None
StageCallback = Callable[[str, float], None]

_callbacks: Tuple[StageCallback, ...] = ()
_NOTHING: ContextManager[None] = nullcontext()  # reusable and reentrant


@contextmanager
def _timed(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        for callback in _callbacks:
            callback(name, seconds)


def stage(name: str) -> ContextManager[None]:
    """A context manager that reports its block's wall time as stage `name` (one of `STAGES`)
    to every registered callback; a no-op when none is registered."""
    return _timed(name) if _callbacks else _NOTHING


F = TypeVar("F", bound=Callable[..., Any])


def timed_stage(name: str) -> Callable[[F], F]:
    """Decorator: each call of the function is stage `name` (see `stage`)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not _callbacks:
                return func(*args, **kwargs)
            with _timed(name):
                return func(*args, **kwargs)

        return cast(F, timed)

    return decorate


@contextmanager
def record_stages(callback: StageCallback) -> Iterator[StageCallback]:
    """Register `callback(stage, seconds)` for the block; it is removed on exit (also on an
    exception). Several callbacks may be registered at once; each sees every stage."""
    global _callbacks
    _callbacks = _callbacks + (callback,)
    try:
        yield callback
    finally:
        remaining = list(_callbacks)
        remaining.remove(callback)
        _callbacks = tuple(remaining)
