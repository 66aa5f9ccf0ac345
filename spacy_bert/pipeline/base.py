"""`BertPipe`: what every spacy-bert task component shares (`bert_ner`, `bert_textcat`,
`bert_qa`, `bert_fill_mask`).

- settings: `cfg` and the prediction `precision`. The factory arguments (what `nlp.config`
  shows) are the truth: `spacy.load(path, config={"components": {name: {...}}})` wins over the
  saved cfg, which only restores what the config cannot say (`saved_settings.py`: labels,
  settings taken over by `nlp.replace_listeners`); a setting the weights cannot honour is E760.
  `precision` is not in `cfg` at all: it lives in the pipeline's config only;
- lazy loading: the checkpoint is read once, at `initialize()` or on first use; a component
  without one is a coded error naming it (each factory's own code);
- training: `update` validates the examples and hands them to the subclass's `_train_step`;
  `finish_update` clips the gradients of the whole model to one global norm with
  `spacy-bert.AdamW.v1` (Hugging Face's `clip_grad_norm_`) before the optimizer step;
- serialisation, never pickle: the saved cfg lists the weight files written beside it
  (`weights_files`), so a deleted one is named at load; saving reads the checkpoint first,
  loading never reads it. Subclasses say which weights are written and how they are read.
  Loading a saved component is strict (unlike starting from a checkpoint, where a missing head
  is made fresh with a warning): weights without the saved head, with another head's tensors,
  or with an id2label that disagrees with the cfg's labels are coded errors (E761-E764). Nothing
  changes before the checks pass; an error restores the cfg it started with.
"""
import copy
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

import srsly
from spacy.pipeline import TrainablePipe
from spacy.training import Example, validate_examples
from spacy.util import SimpleFrozenList, ensure_path
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer

from ..checkpoint import resolve_checkpoint_dir
from ..errors import Errors
from ..layers.optim import clip_global_norm
from ..layers.payload import read_payload
from ..layers.precision import DEFAULT_PRECISION, check_precision, precision_in_use
from .contracts import names_component_on_missing_checkpoint
from .saved_settings import CONFIG_KEY, resolve_settings

MODEL_DIR = "model"
#: Key of the saved cfg file (not of `self.cfg`) listing the weight files written beside it, so
#: a deleted one is named at load instead of silently leaving the component untrained.
WEIGHTS_KEY = "weights_files"
#: Key of the saved cfg file (and of the bytes) holding `_state()`: what the weights alone do
#: not say (e.g. whether bert_qa's head is trained).
STATE_KEY = "state"


class BertPipe(TrainablePipe):
    """Base of the spacy-bert task components. Subclasses set `factory_name` and implement the
    hooks below the "hooks" comments."""

    factory_name: str  # the factory users add (error messages name it and the config block)
    #: cfg keys that are state, not factory arguments (restored from the save as they are).
    state_keys: tuple = ()
    #: Settings a load may not change (the saved weights cannot honour them) -> why (E760).
    fixed_settings: Mapping[str, str] = {}

    def __init__(self, vocab: Vocab, model: Model, name: str, *, checkpoint: Optional[str], precision: str = DEFAULT_PRECISION, **cfg: Any) -> None:
        """vocab (Vocab), model (Model), name (str): as every spaCy component.
        checkpoint (Optional[str]): Hugging Face directory or hub id, read lazily.
        precision (str): prediction precision ("float32", "int8", "bfloat16", "float16",
            "auto"; E660 otherwise). cfg: the component's other settings (kept in `self.cfg`)."""
        self.vocab = vocab
        self.model = model
        self.name = name
        self._precision = check_precision(precision, name)
        self.cfg: Dict[str, Any] = {"checkpoint": None if checkpoint is None else str(checkpoint), **cfg}
        # The factory arguments (nlp.config's view): what a load compares the save with.
        self._built_settings = copy.deepcopy({k: v for k, v in self.cfg.items() if k not in self.state_keys})
        self._sync_settings()

    # -- hooks: settings and loading ----------------------------------------------------
    def _sync_settings(self) -> None:
        """Write `cfg`'s settings and the precision into the model (after every change)."""
        raise NotImplementedError

    def _read_settings(self) -> None:
        """Take settings back from the model before saving (default: nothing to take)."""

    def _is_loaded(self) -> bool:
        """Whether the weights are in place (or come from elsewhere: a shared encoder)."""
        raise NotImplementedError

    def _no_checkpoint_error(self) -> str:
        """The coded message for a component that must load but has no checkpoint."""
        raise NotImplementedError

    def _load(self, directory: Path) -> None:
        """Read the checkpoint directory `directory` into the model."""
        raise NotImplementedError

    def _after_load(self) -> None:
        """Called once the weights are in place (checkpoint, disk or bytes)."""

    # -- precision -----------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """The precision prediction runs in: the setting resolved for the device thinc places
        models on ("auto" -> "bfloat16" / "int8" / "float32" by the CPU, see
        `layers/precision.AUTO_RULES`; "float16" on a CPU -> "float32"). A component listening
        to a shared `bert` component predicts in that component's precision."""
        return precision_in_use(self._precision, self.name)

    @property
    def precision_setting(self) -> str:
        """The precision setting as configured ("float32", "int8", "bfloat16", "float16",
        "auto"): what `nlp.config` and a saved pipeline hold."""
        return self._precision

    def set_precision(self, precision: str) -> None:
        """Predict in `precision` from the next batch on ("float32", "int8", "bfloat16",
        "float16", "auto"; E660 otherwise). Weights and heads stay fp32;
        `spacy_bert.pipeline.set_precision(nlp, ...)` also records it in the pipeline's config."""
        self._precision = check_precision(precision, self.name)
        self._sync_settings()

    # -- loading -------------------------------------------------------------------------
    @names_component_on_missing_checkpoint
    def _ensure_loaded(self) -> None:
        """Read the checkpoint once; no checkpoint to read is the factory's coded error."""
        if self._is_loaded():
            return
        checkpoint = self.cfg["checkpoint"]
        if not checkpoint:
            raise ValueError(self._no_checkpoint_error())
        self._load(resolve_checkpoint_dir(checkpoint))
        self._after_load()

    def _read_before_saving(self) -> None:
        """Read the checkpoint before writing: a saved component must carry its weights, never
        only the path of the checkpoint they would come from (E383)."""
        if self._is_loaded() or not self.cfg["checkpoint"]:
            return
        try:
            self._ensure_loaded()
        except (OSError, ValueError) as err:
            raise ValueError(Errors.E383.format(name=self.name, checkpoint=self.cfg["checkpoint"], error=err)) from err

    # -- training ------------------------------------------------------------------------
    def _train_step(self, examples: List[Example], drop: float) -> Optional[float]:
        """Forward and backward on `examples` (non-empty); the loss, or None when the batch
        had nothing to learn from (then no optimizer step is taken)."""
        raise NotImplementedError

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One training step (Hugging Face's loss, see the component); with `sgd`, the weights
        are updated at once (`finish_update`)."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        if not examples:
            return losses
        loss = self._train_step(examples, drop)
        if loss is None:
            return losses
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """Update the weights from the gradients of the last step(s). With
        `spacy-bert.AdamW.v1`, the gradients of the whole model (own encoder and head) are first
        clipped to one global norm, as Hugging Face's `clip_grad_norm_` does (a listening head
        was already clipped together with the shared encoder by the `bert` component)."""
        clip_global_norm(sgd, self.model)
        self.model.finish_update(sgd)

    # -- hooks: weights ------------------------------------------------------------------
    def _write_weights(self, path: Path) -> List[str]:
        """Write the weights into the folder `path`; returns the names written."""
        raise NotImplementedError

    def _read_weights(self, path: Path, written: Optional[List[str]], state: Dict[str, Any]) -> None:
        """Read `_write_weights`' files from `path` (`written`: what the save listed, None for
        a cfg without the list; `state`: the saved `_state()`); a listed file that is missing,
        or weights that are not what the save wrote, are coded errors, raised before anything
        is installed."""
        raise NotImplementedError

    def _weights_payload(self) -> Dict[str, Any]:
        """The weights as msgpack-able fields of `to_bytes`' map."""
        raise NotImplementedError

    #: `read_payload` schemas of `_weights_payload`'s fields: required and optional.
    payload_fields: Dict[str, Any] = {}
    optional_payload_fields: Dict[str, Any] = {}

    def _weights_from_payload(self, msg: Dict[str, Any], state: Dict[str, Any]) -> None:
        """Install the weights of a checked `to_bytes` map (`state`: the saved `_state()`),
        checking them first as `_read_weights` does."""
        raise NotImplementedError

    def _state(self) -> Dict[str, Any]:
        """What is saved beside cfg and the weights (JSON values); default nothing."""
        return {}

    def _set_state(self, state: Dict[str, Any]) -> None:
        """Restore `_state()` (called after the weights are read)."""

    # -- serialisation -------------------------------------------------------------------
    def to_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> None:
        """Write the cfg file and the weights (read from the checkpoint first if needed)."""
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._read_settings()
        written: List[str] = []
        if "model" not in exclude:
            self._read_before_saving()
            written = self._write_weights(path)
        state = self._state()
        saved = {**self.cfg, CONFIG_KEY: self._built_settings, WEIGHTS_KEY: written, **({STATE_KEY: state} if state else {})}
        srsly.write_json(path / "cfg", saved)

    def from_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> "BertPipe":
        """Restore from `to_disk`'s folder; never reads the original checkpoint. The factory
        arguments win over the saved settings (see the module docstring); every check runs
        before anything changes, and an error leaves the component as it was."""
        path = ensure_path(path)
        saved = dict(srsly.read_json(path / "cfg"))
        written = saved.pop(WEIGHTS_KEY, None)  # None: saved before the key existed
        state = saved.pop(STATE_KEY, None) or {}
        cfg = self._resolve_cfg(saved)
        with self._restoring_on_error():
            self.cfg = cfg
            self._sync_settings()
            if "model" in exclude:
                return self
            self._read_weights(path, written, state)
            self._set_state(state)
            self._after_load()
        return self

    def _resolve_cfg(self, saved: Dict[str, Any]) -> Dict[str, Any]:
        """The cfg after a load of `saved` (E760 for a fixed setting the load would change)."""
        cfg = resolve_settings(self.name, self.factory_name, self._built_settings, saved, self.fixed_settings)
        for key, value in self.cfg.items():  # state a save without it does not restore (older saves)
            cfg.setdefault(key, copy.deepcopy(value))
        return cfg

    @contextmanager
    def _restoring_on_error(self) -> Iterator[None]:
        """Put the cfg (and the settings it wrote into the model) back when a load fails. The
        weights need no undo: each load checks everything before it installs anything."""
        before = copy.deepcopy(self.cfg)
        try:
            yield
        except BaseException:
            self.cfg = before
            self._sync_settings()
            raise

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        """msgpack of cfg, state and the weights (the checkpoint is read first if needed)."""
        self._read_settings()
        self._read_before_saving()
        state = self._state()
        cfg = {**self.cfg, CONFIG_KEY: self._built_settings}
        return srsly.msgpack_dumps({"cfg": cfg, **({STATE_KEY: state} if state else {}), **self._weights_payload()})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()) -> "BertPipe":
        """Restore from `to_bytes`; anything else (random bytes, other objects) is E389 before
        anything is loaded."""
        optional = {STATE_KEY: dict, **self.optional_payload_fields}
        msg = read_payload(bytes_data, self.name, {"cfg": dict, **self.payload_fields}, optional=optional)
        state = msg.get(STATE_KEY) or {}
        cfg = self._resolve_cfg(msg["cfg"])
        with self._restoring_on_error():
            self.cfg = cfg
            self._sync_settings()
            self._weights_from_payload(msg, state)
            self._set_state(state)
            self._after_load()
        return self
