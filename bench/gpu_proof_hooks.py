"""Per-step records of a `spacy train` run, for `bench/gpu_proof.py` (passed as `--code`).

`spacy train` reports losses and timings only at evaluation steps. This module registers one
`before_update` callback, `spacy-bert-bench.step_recorder.v1`, that on its first call wraps the
`nlp.update` of that run (an instance attribute, nothing global), and from then on records for
every step: the wall time at its start, the losses that step added, the words of its batch and
the device's peak memory. At exit it writes them as JSON to the path in the environment variable
`GPU_PROOF_RECORD` (no file when it is unset).

It also records, at the first step, how every `BertShim` of the pipeline decided: its device,
whether autocast is on and whether the grad scaler is enabled (the lazy AMP of
`layers/shim/bert_shim.py`), so the table shows that `mixed_precision = true` took effect on CUDA.
"""
import atexit
import json
import os
import time
from typing import Any, Callable, Dict, List

from spacy.util import registry

RECORD_ENV = "GPU_PROOF_RECORD"
_RECORDERS: Dict[str, "StepRecorder"] = {}


def peak_memory_bytes() -> int:
    """torch's peak allocated CUDA memory so far (0 without CUDA or before any use)."""
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return 0
    return int(torch.cuda.max_memory_allocated())


def synchronize() -> None:
    """Wait for queued CUDA work, so a step's wall time includes its kernels."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def shim_decisions(nlp: Any) -> List[Dict[str, Any]]:
    """[{component, device, mixed_precision, grad_scaler}] for every `BertShim` in `nlp`."""
    from spacy_bert.layers.shim.bert_shim import BertShim

    found = []
    for name, pipe in nlp.components:
        model = getattr(pipe, "model", None)
        if model is None:
            continue
        for node in model.walk():
            for shim in node.shims:
                if isinstance(shim, BertShim) and shim.loaded:
                    found.append({
                        "component": name,
                        "device": str(shim.device),
                        "mixed_precision": bool(shim.mixed_precision),
                        "grad_scaler": bool(shim._grad_scaler._enabled),
                    })
    return found


class StepRecorder:
    """Collects per-step records; `write` dumps them to `path`.

    Args:
        path (str): Where the JSON goes.
        clock (Callable[[], float]): Time source (seconds).
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.perf_counter) -> None:
        self.path = path
        self.clock = clock
        self.steps: List[Dict[str, Any]] = []
        self.shims: List[Dict[str, Any]] = []
        self.wrapped = False

    def before_update(self, nlp: Any, args: Dict[str, Any]) -> None:
        """spaCy's `before_update` hook: args = {"step": int, "epoch": int}."""
        synchronize()
        self.steps.append({"step": int(args["step"]), "start": self.clock(), "loss": None,
                           "peak_memory": peak_memory_bytes()})
        if not self.wrapped:
            self._wrap(nlp)

    def _wrap(self, nlp: Any) -> None:
        update = nlp.update  # the bound method

        def recorded_update(*args: Any, **kwargs: Any) -> Any:
            losses = kwargs.get("losses")
            before = dict(losses) if losses is not None else {}
            result = update(*args, **kwargs)
            after = kwargs.get("losses") if losses is not None else result
            if self.steps and isinstance(after, dict):
                added = sum(float(after.get(k, 0.0)) - float(before.get(k, 0.0)) for k in after)
                self.steps[-1]["loss"] = (self.steps[-1]["loss"] or 0.0) + added
                examples = args[0] if args else kwargs.get("examples", [])
                self.steps[-1]["words"] = self.steps[-1].get("words", 0) + sum(len(eg.reference) for eg in examples)
            if not self.shims:
                self.shims = shim_decisions(nlp)
            return result

        nlp.update = recorded_update
        self.wrapped = True

    def write(self) -> None:
        synchronize()
        record = {"steps": self.steps, "end": self.clock(), "peak_memory": peak_memory_bytes(),
                  "shims": self.shims}
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(record, f)


@registry.callbacks("spacy-bert-bench.step_recorder.v1")
def make_step_recorder() -> Callable[[Any, Dict[str, Any]], None]:
    """The `[training.before_update]` callback; records to $GPU_PROOF_RECORD."""
    path = os.environ.get(RECORD_ENV)
    if not path:
        return lambda nlp, args: None
    # spaCy resolves the training block more than once (init, then train): one recorder per
    # process, so a second, unused one cannot overwrite the record at exit.
    if path not in _RECORDERS:
        _RECORDERS[path] = StepRecorder(path)
        atexit.register(_RECORDERS[path].write)
    return _RECORDERS[path].before_update
