"""`BertPipe`: what every spacy-bert component shares (`bert`, `bert_ner`, `bert_textcat`,
`bert_qa`, `bert_fill_mask`).

- settings: `cfg` and the prediction `precision`. The factory arguments (what `nlp.config`
  shows) are the truth: `spacy.load(path, config={"components": {name: {...}}})` wins over the
  saved cfg, which only restores what the config cannot say (`saved_settings.py`: labels,
  settings taken over by `nlp.replace_listeners`); a setting the weights cannot honour is E760.
  `precision` is not in `cfg` at all: it lives in the pipeline's config only. A model that runs
  the encoder stages holds them as one `EncoderSettings` (`_write_encoder_settings`);
- lazy loading, one check: `_ensure_loaded` reads the checkpoint once, at `initialize()`, on
  first use, or when `component.model` is called directly (the model's `LOAD_HOOK` calls back
  here); a component without one is a coded error naming it (each factory's own code);
- training: `update` validates the examples and hands them to the subclass's `_train_step`;
  `finish_update` clips the gradients of the whole model (and `_clipped_with`) to one global
  norm with `spacy-bert.AdamW.v1` (Hugging Face's `clip_grad_norm_`) before the optimizer step;
- serialisation, one format, never pickle: `to_disk` writes the `cfg` file and the weights (a
  Hugging Face `model/` directory, or a listening head's file); `to_bytes` is the files of that
  folder in one msgpack map and `from_bytes` reads them back as a folder (`layers/shim/payload.py`;
  the bytes of an earlier spacy-bert are E850, which says how to save again). The saved cfg
  lists the weight files (`weights_files`), so a deleted one is named at load; saving reads the
  checkpoint first, loading never reads it. Loading is strict (unlike starting from a
  checkpoint, where a missing head is made fresh with a warning): weights without the saved
  head, with another head's tensors, or with an id2label that disagrees with the cfg's labels
  are coded errors (E761-E764). Nothing changes before the checks pass; an error restores the
  cfg it started with.
"""
import copy
import tempfile
import weakref
from contextlib import contextmanager
from dataclasses import replace
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
from ..layers.encoder import LOAD_HOOK
from ..layers.training.optim import clip_global_norm
from ..layers.shim.payload import CFG_FILE, bytes_to_folder, folder_to_bytes
from ..layers.precision.policy import DEFAULT_PRECISION, check_precision, precision_in_use
from ..layers.settings import DEFAULT_NAMES, SETTINGS_ATTR, EncoderSettings, SettingNames
from .contracts import names_component_on_missing_checkpoint
from .saved_settings import CONFIG_KEY, resolve_settings

MODEL_DIR = "model"
#: Key of the saved cfg file (not of `self.cfg`) listing the weight files written beside it, so
#: a deleted one is named at load instead of silently leaving the component untrained.
WEIGHTS_KEY = "weights_files"
#: Key of the saved cfg file holding `_state()`: what the weights alone do
#: not say (e.g. whether bert_qa's head is trained).
STATE_KEY = "state"


class _LoadHook:
    """`LOAD_HOOK` of a component's model: loads the component before the model's first use.

    It holds the component by a weak reference (the model must not keep it alive) and pickles
    without it (a weak reference cannot be pickled; the unpickled component installs its own).
    """

    def __init__(self, pipe: "BertPipe") -> None:
        self._ref: Optional["weakref.ReferenceType[BertPipe]"] = weakref.ref(pipe)

    def __call__(self, model: Model) -> None:
        pipe = self._ref() if self._ref is not None else None
        if pipe is not None and pipe.model is model:
            pipe._ensure_loaded()

    def __getstate__(self) -> Dict[str, Any]:
        return {}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._ref = None


class BertPipe(TrainablePipe):
    """Base of the spacy-bert components. Subclasses set `factory_name` and implement the
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
        self._own_lazy_load()

    def _own_lazy_load(self) -> None:
        """Make `self.model` call back into this component before its first use (`LOAD_HOOK`),
        so `component.model.predict(docs)` loads as the component does (a task's fine-tuned
        head too, not only the encoder). A weak reference: the model must not keep the
        component alive; a copy of the model (`nlp.replace_listeners`) loads by itself."""
        self.model.attrs[LOAD_HOOK] = _LoadHook(self)

    def __setstate__(self, state: Any) -> None:
        """Unpickling (`nlp.pipe(n_process=...)` with spawn, Ray): the copy's model calls back
        into the copy, not into the component it was pickled from."""
        super().__setstate__(state)  # TrainablePipe's (Cython) pickling
        self._own_lazy_load()

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

    # -- encoder settings ----------------------------------------------------------------
    #: The cfg keys of the window and the stride (`bert_qa`: Hugging Face's max_seq_len,
    #: doc_stride); `max_batch_items` is the batch budget's key everywhere.
    setting_names: SettingNames = DEFAULT_NAMES

    def _write_encoder_settings(self, model: Model) -> None:
        """Give `model` (one that runs the encoder stages) the cfg's `EncoderSettings` and the
        precision, keeping its thread setting (an architecture argument, not the component's)."""
        names = self.setting_names
        settings = EncoderSettings.of(model)
        model.attrs[SETTINGS_ATTR] = replace(
            settings, window=self.cfg[names.window], stride=self.cfg[names.stride],
            max_batch_items=self.cfg["max_batch_items"], batch_invariant=self.cfg["batch_invariant"],
            precision=self._precision,
        )

    def _read_encoder_settings(self, model: Model) -> None:
        """Take the window, stride, batch budget, batch invariance and precision back from `model`'s settings
        (after `nlp.replace_listeners` a task component's encoder is a copy of the shared
        `bert` component's, with that component's settings)."""
        settings = EncoderSettings.of(model)
        self.cfg.update(settings.to_cfg(*self.setting_names))
        self._precision = settings.precision

    # -- precision -----------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """The precision prediction runs in: the setting resolved for the device thinc places
        models on ("auto" -> "bfloat16" / "int8" / "float32" by the CPU, see
        `layers/precision/policy.AUTO_RULES`; "float16" on a CPU -> "float32"). A component listening
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

    def set_batch_invariant(self, batch_invariant: bool) -> None:
        """From the next batch on, pad and batch so that each text's outputs are bit for bit the
        same whatever it is batched with (True; `EncoderSettings.batch_invariant`), or for speed
        (False). E354 for a value that is not a bool. `spacy_bert.pipeline.set_batch_invariant(nlp)`
        also records it in the pipeline's config."""
        EncoderSettings(batch_invariant=batch_invariant).validate(self.name)
        self.cfg["batch_invariant"] = batch_invariant
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
        clip_global_norm(sgd, self.model, self._clipped_with())
        self.model.finish_update(sgd)

    def _clipped_with(self) -> List[Model]:
        """Models whose gradients are clipped together with this component's (default: none;
        `bert`: the components listening to it)."""
        return []

    # -- hooks: weights ------------------------------------------------------------------
    def _write_weights(self, path: Path) -> List[str]:
        """Write the weights into the folder `path`; returns the names written."""
        raise NotImplementedError

    def _read_weights(self, path: Path, written: Optional[List[str]], state: Dict[str, Any], from_bytes: bool) -> None:
        """Read `_write_weights`' files from `path` (`written`: what the save listed, None for
        a cfg without the list; `state`: the saved `_state()`; `from_bytes`: the folder was
        unpacked from `to_bytes`, for messages); a listed file that is missing (`_missing`),
        or weights that are not what the save wrote, are coded errors, raised before anything
        is installed."""
        raise NotImplementedError

    def _missing(self, path: Path, written: Optional[List[str]], from_bytes: bool) -> Optional[ValueError]:
        """The error for a weights folder `path` that is not there (None: none is needed).
        From a folder, it is E384 when the save wrote it or a checkpoint would be needed; from
        bytes, E385 when the component is configured with a checkpoint (bytes without weights
        restore a blank component)."""
        checkpoint = self.cfg["checkpoint"]
        if from_bytes:
            return ValueError(Errors.E385.format(name=self.name, checkpoint=checkpoint)) if checkpoint else None
        if (written and path.name in written) or checkpoint:
            return ValueError(Errors.E384.format(name=self.name, path=path, checkpoint=checkpoint))
        return None

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
        srsly.write_json(path / CFG_FILE, saved)

    def from_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> "BertPipe":
        """Restore from `to_disk`'s folder; never reads the original checkpoint. The factory
        arguments win over the saved settings (see the module docstring); every check runs
        before anything changes, and an error leaves the component as it was."""
        return self._from_folder(ensure_path(path), exclude, from_bytes=False)

    def _from_folder(self, path: Path, exclude: Iterable[str], from_bytes: bool) -> "BertPipe":
        """`from_disk` of a folder (`from_bytes`: one unpacked from bytes, for messages)."""
        saved = dict(srsly.read_json(path / CFG_FILE))
        written = saved.pop(WEIGHTS_KEY, None)  # None: saved before the key existed
        state = saved.pop(STATE_KEY, None) or {}
        cfg = self._resolve_cfg(saved)
        with self._restoring_on_error():
            self.cfg = cfg
            self._sync_settings()
            if "model" in exclude:
                return self
            self._read_weights(path, written, state, from_bytes)
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
        """The files of `to_disk`'s folder in one msgpack map (`layers/shim/payload.py`)."""
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(Path(tmp), exclude=exclude)
            return folder_to_bytes(Path(tmp))

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()) -> "BertPipe":
        """Restore from `to_bytes` as `from_disk` restores its folder. Bytes of an earlier
        spacy-bert are E850 (they say how to save again); anything else that is not a payload
        of plain file names (random bytes, a pickle, a weights file that is not safetensors)
        is E389, before anything is loaded."""
        with tempfile.TemporaryDirectory() as tmp:
            bytes_to_folder(bytes_data, Path(tmp), self.name)
            return self._from_folder(Path(tmp), exclude, from_bytes=True)
