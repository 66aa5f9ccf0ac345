"""`BertShim`: thinc's PyTorch shim around our `BertModel`, loaded lazily, serialised as safetensors.

The shim owns everything needed to rebuild the encoder without the original checkpoint: the
`BertConfig`, the tokenizer and the weights. It starts empty; `load_checkpoint` (at
`initialize()` or on first use) or `from_disk` (a saved `model/` folder) fills it. Its bytes
are that folder's files (`layers/shim/payload.py`, the one format): never a pickle.
"""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Union, cast

import srsly
import torch
from torch import nn
from thinc.api import get_torch_default_device
from thinc.shims import PyTorchGradScaler, PyTorchShim
from thinc.shims.pytorch import ArgsKwargs

from ...checkpoint import save_pretrained
from ...errors import Errors
from ...modeling import BertModel, BertPreTrainedModel
from ...tokenization import BertTokenizer
from .head_weights import saved_dtype
from .loading import load_encoder
from .payload import folder_files, read_payload, write_files
from .torch_step import finish_update_in_torch, torch_step_of
from ..precision.policy import DEFAULT_PRECISION, check_precision, log_choice, prediction_model, precision_in_use, resolve_precision
from ..precision.training import DEFAULT_TRAIN_PRECISION, check_train_precision, train_autocast_dtype
from ..settings import resolve_threads


def _single_threaded_after_fork() -> None:
    # A forked child (nlp.pipe(n_process=N) on Linux) inherits torch's OpenMP state but not
    # its worker threads: the first parallel op would wait for them forever. Running the
    # child's ops on one thread avoids the deadlock, and N processes use N cores anyway.
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_single_threaded_after_fork)

#: Wraps the shim's model for one forward pass (`BertShim.predict` / `begin_update`).
Adapter = Callable[[nn.Module], nn.Module]


def check_not_forked_on_cuda(device: torch.device) -> None:
    """Raise E373 when a model on CUDA is used in a forked child process (`nlp.pipe(n_process>1)`
    after the parent used the GPU): CUDA cannot run there, and torch's own error does not say why."""
    if device.type == "cuda" and torch.cuda._is_in_bad_fork():
        raise RuntimeError(Errors.E373.format(device=device, n_process="N > 1"))


class WeightsVersion:
    """A counter bumped wherever the shim's fp32 weights can change, so that `predict` knows
    whether its precision copy is stale by comparing one int (instead of fingerprinting every
    tensor on every call). Also a `load_state_dict` post-hook (see `BertShim.set_model`): it
    holds no reference to the shim, so copying the model copies the counter, never the shim."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1

    def __call__(self, module: Any, incompatible_keys: Any) -> None:
        """`nn.Module.register_load_state_dict_post_hook` signature: weights were just loaded."""
        self.bump()


class _PredictionCache:
    """The shim's prediction model in its precision, with what it was built from. Never copied
    or pickled with the shim (a copy rebuilds its own at first use)."""

    def __init__(self) -> None:
        self.key: Optional[tuple] = None
        self.model: Optional[BertPreTrainedModel] = None

    def clear(self) -> None:
        self.key, self.model = None, None

    def __deepcopy__(self, memo: dict) -> "_PredictionCache":
        return _PredictionCache()

    def __getstate__(self) -> dict:
        return {"key": None, "model": None}


class BertShim(PyTorchShim):
    """A `PyTorchShim` whose torch module (any `BertPreTrainedModel`) and tokenizer arrive
    after construction.

    Mixed precision, the grad scaler and the CPU's training autocast are decided from the
    model's device at its first use (not at construction), so `spacy.load()` followed by
    `require_gpu()` still gets autocast when configured, and the CPU runs fp32 (or bf16 autocast
    with `train_precision`) with the scaler off.

    Args:
        mixed_precision (bool): Autocast the forward pass to half precision on CUDA.
        grad_scaler (Optional[PyTorchGradScaler]): A scaler built by the caller, used as given;
            None: one is made at first use from `grad_scaler_config`.
        grad_scaler_config (Optional[dict]): Arguments of thinc's `PyTorchGradScaler`; its
            `enabled` defaults to `mixed_precision` and is off on the CPU.
        n_threads (Optional[int]): torch threads, applied when a model is set (see
            `layers/settings.py`: None reads `SPACY_BERT_NUM_THREADS`).
        precision (str): Prediction precision (`layers/precision/policy.py`): "float32", "int8",
            "bfloat16", "float16" or "auto". Training (`begin_update`) always runs the fp32 model.
        train_precision (str): Training arithmetic on the CPU (`layers/precision/training.py`):
            "float32" (default), "bfloat16" (the training forward under bf16 autocast, fp32
            weights, gradients and optimizer state) or "auto" (bf16 where the CPU has AMX).
            On CUDA `mixed_precision` decides, as in thinc. where (str): its architecture (E663).
    """

    def __init__(
        self,
        mixed_precision: bool = False,
        grad_scaler: Optional[PyTorchGradScaler] = None,
        grad_scaler_config: Optional[dict] = None,
        n_threads: Optional[int] = None,
        precision: str = DEFAULT_PRECISION,
        train_precision: str = DEFAULT_TRAIN_PRECISION,
        where: str = "spacy-bert.BertEncoder.v1",
    ) -> None:
        super().__init__(None, mixed_precision=False, grad_scaler=grad_scaler or PyTorchGradScaler(enabled=False))
        self.tokenizer: Optional[BertTokenizer] = None
        self.n_threads = n_threads
        self._wants_mixed_precision = bool(mixed_precision)
        self._train_precision = check_train_precision(train_precision, where)
        self._train_autocast: Optional[torch.dtype] = None  # decided with the device
        self._grad_scaler_config = dict(grad_scaler_config or {})
        self._precision_device: Optional[str] = None  # device type the precision was decided for
        self._own_scaler = grad_scaler is None
        self.name = "bert"  # the component, for messages (set by the encoder)
        self._precision = check_precision(precision, self.name)
        self._prediction = _PredictionCache()
        self.weights_version = WeightsVersion()

    # -- state ------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> BertPreTrainedModel:
        """The torch module the shim runs (a `BertModel` or a `BertFor*` head model)."""
        if self._model is None:
            raise ValueError(Errors.E351)
        return self._model

    @property
    def bert(self) -> BertModel:
        """The `BertModel` encoder inside the model (the model itself for a `BertModel`)."""
        model = self.model
        return model if isinstance(model, BertModel) else cast(BertModel, model.bert)

    @property
    def mixed_precision(self) -> bool:
        """Whether forward passes autocast (decided at first use from the model's device)."""
        self._decide_precision()
        return self._mixed_precision

    @property
    def train_autocast(self) -> Optional[torch.dtype]:
        """The dtype training forward passes autocast to on the CPU (torch.bfloat16), or None
        (fp32; on CUDA `mixed_precision` decides). Decided at first use from the device."""
        self._decide_precision()
        return self._train_autocast

    @property
    def precision(self) -> str:
        """The prediction precision setting ("float32", "int8", "bfloat16", "float16", "auto")."""
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._precision = check_precision(value, self.name)

    @property
    def precision_used(self) -> str:
        """What the setting resolves to on the model's current device (see `resolve_precision`)."""
        return precision_in_use(self._precision, self.name, self.device.type)

    def prediction_model(self) -> BertPreTrainedModel:
        """The model `predict` runs: the fp32 model, or a copy in the resolved precision, built
        at first use and rebuilt when the setting, the device or the fp32 weights change.

        The weights are known to have changed through `weights_version`, bumped by every entry
        point that can change them: `set_model` (so `from_bytes`, `from_disk`, `load_checkpoint`),
        `finish_update`, `use_params` (entering and leaving), `to_device`, and `load_state_dict`
        on the model or any of its modules (a post-hook). A weight changed in place by other
        means (`param.data.mul_()` outside the shim) is not seen: call `weights_changed()`.
        """
        model = self.model
        device_type = self.device.type
        key = (self._precision, device_type, self.weights_version.value)
        if self._prediction.key != key:
            self._prediction.clear()  # release the old copy before building the next
            used = resolve_precision(self._precision, device_type, self.name)
            log_choice(self.name, self._precision, used, device_type)
            self._prediction.model = prediction_model(model, used, tokenizer=self.tokenizer, name=self.name)
            self._prediction.key = key
        assert self._prediction.model is not None  # built above for this key
        return self._prediction.model

    def weights_changed(self) -> None:
        """Mark the fp32 weights as changed: the next prediction rebuilds its precision copy."""
        self.weights_version.bump()
        self._prediction.clear()

    def set_model(self, model: BertPreTrainedModel, tokenizer: BertTokenizer) -> None:
        """Install a model and its tokenizer (moved to the current thinc device); apply the
        thread setting."""
        if tokenizer.vocab_size > model.config.vocab_size:
            raise ValueError(Errors.E111.format(path="the tokenizer", vocab=tokenizer.vocab_size, config=model.config.vocab_size, last=model.config.vocab_size - 1))
        threads = resolve_threads(self.n_threads)
        if threads is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        # Ids reaching the model through the shim come from its own tokenizer and padding, so
        # the device-syncing input checks of `BertModel.forward` are skipped (modeling honours it).
        model.validate_inputs = False
        encoder = getattr(model, "bert", None)
        if not isinstance(model, BertModel) and isinstance(encoder, BertModel):
            encoder.validate_inputs = False
        device = get_torch_default_device()
        self._model = model.to(device)
        self._grad_scaler.to_(device)
        self._precision_device = None  # decide again at the next use
        # every module: `load_state_dict` on a submodule runs that submodule's hooks only
        for module in model.modules():
            module.register_load_state_dict_post_hook(self.weights_version)
        self.tokenizer = tokenizer
        self.weights_changed()

    def load_checkpoint(self, checkpoint: str, model_class: Optional[type] = None) -> None:
        """Read a Hugging Face checkpoint directory (or hub id): config, weights and tokenizer
        (as `model_class`, default `BertModel`)."""
        model, tokenizer = load_encoder(checkpoint, model_class or BertModel)
        self.set_model(model, tokenizer)

    # -- running ----------------------------------------------------------------
    def _decide_precision(self) -> None:
        """Autocast and the grad scaler follow the device the model is on now."""
        device = self.device
        if self._precision_device == device.type:
            return
        on_cuda = device.type == "cuda"
        self._mixed_precision = self._wants_mixed_precision and on_cuda
        self._train_autocast = train_autocast_dtype(self._train_precision, device.type)
        if self._own_scaler and (self._grad_scaler_config or self._wants_mixed_precision):
            args = dict(self._grad_scaler_config)
            args["enabled"] = bool(args.get("enabled", self._wants_mixed_precision)) and on_cuda
            self._grad_scaler = PyTorchGradScaler(**args)
        self._grad_scaler.to_(device)
        self._precision_device = device.type

    def prepare(self) -> torch.device:
        """Checks and decisions before a forward pass; returns the model's device."""
        device = self.device
        check_not_forked_on_cuda(device)
        self._decide_precision()
        return device

    def predict(self, inputs: ArgsKwargs, adapter: Optional[Adapter] = None, fp32: bool = False) -> Any:
        """Forward pass in eval mode under `torch.inference_mode` (no autograd bookkeeping), by
        the model in the configured precision (`prediction_model`).

        A precision copy is always in eval mode. The fp32 model is switched to eval only when
        training left it in train mode, and left there: every training forward pass
        (`begin_update`, thinc's `PyTorchShim.begin_update`) sets train mode itself, so
        prediction does not pay a walk over every module twice per call.

        adapter (Optional[Callable[[nn.Module], nn.Module]]): runs `adapter(model)` instead of
            the model (e.g. `MaskedLMAdapter`: a head applied to chosen positions only).
        fp32 (bool): run the fp32 model whatever the precision (scores that must not depend
            on it, e.g. the masked-LM scores of `spacy train`).
        """
        self.prepare()
        model = self.model if fp32 else self.prediction_model()
        if model.training:
            model.eval()
        module = model if adapter is None else adapter(model)
        with torch.inference_mode(), self._autocast():
            return module(*inputs.args, **inputs.kwargs)

    def begin_update(self, inputs: ArgsKwargs, adapter: Optional[Adapter] = None):
        """Training forward pass: always the fp32 model (never the prediction copy), by thinc's
        `PyTorchShim.begin_update` (autocast, and a backprop that scales the output gradients
        with the grad scaler, runs backward and unscales every gradient of the model).

        adapter (Optional[Callable[[nn.Module], nn.Module]]): runs `adapter(model)` instead of
            the model. It must own no parameters beyond the model's: thinc's backprop unscales
            the gradients of the shim's model, which is in place again when it runs.

        With `train_autocast` the forward runs under CPU autocast; the backprop runs outside it
        (autograd gives each op's backward its forward's dtype) and leaves fp32 gradients.
        """
        self.prepare()
        with self._training_autocast():
            if adapter is None:
                return super().begin_update(inputs)
            model = self._model
            self._model = adapter(model)  # thinc's forward runs `self._model`; only for this call
            try:
                return super().begin_update(inputs)
            finally:
                self._model = model

    def _training_autocast(self):
        if self._train_autocast is not None:
            return torch.autocast(device_type="cpu", dtype=self._train_autocast)
        return contextlib.nullcontext()

    def rescale_gradients(self) -> None:
        """Multiply the model's gradients by the grad scaler's scale (no-op when it is off).

        For several backprops in one update (a masked-LM update runs forward and backward
        batch by batch, to hold one batch's activations): thinc's backprop unscales every
        gradient of the model, also those an earlier backprop left, so before each further
        backprop those are scaled back up. The scale is a power of two: no rounding."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads:
            self._grad_scaler.scale(grads, inplace=True)

    def finish_update(self, optimizer) -> None:
        """Step the weights: in torch, all at once, when the optimizer can (`torch_step.py`:
        `spacy-bert.AdamW.v1`), else thinc's per-parameter path. The prediction copy is dropped
        (its weights are now old: either path updates the fp32 weights in place, which torch's
        version counters do not show, and thinc's does so through numpy)."""
        step = torch_step_of(optimizer)
        if step is None:
            super().finish_update(optimizer)
        else:
            finish_update_in_torch(self, step)
        self.weights_changed()

    @contextlib.contextmanager
    def use_params(self, params):
        """thinc's `use_params` (averaged weights loaded, then restored); the precision copy is
        rebuilt from whichever weights are in place (the model's load hook bumps the version
        too; bumping here also covers a thinc that assigns the weights another way)."""
        try:
            with super().use_params(params):
                self.weights_changed()
                yield
        finally:
            self.weights_changed()

    def _autocast(self):
        if self._mixed_precision and self.device.type == "cuda":
            return torch.autocast(device_type="cuda")
        return contextlib.nullcontext()

    def to_device(self, device_type: str, device_id: int) -> None:
        if self._model is not None:
            super().to_device(device_type, device_id)
            self._precision_device = None
            self.weights_changed()

    # -- serialisation ----------------------------------------------------------
    def to_disk(self, directory: Union[str, Path]) -> None:
        """Write the encoder as a Hugging Face directory (config.json with its dtype,
        model.safetensors in that dtype, tokenizer files)."""
        save_pretrained(self.bert, directory, tokenizer=self.tokenizer)

    def from_disk(self, directory: Union[str, Path]) -> "BertShim":
        """Read `to_disk`'s directory; the encoder keeps the dtype it was saved in."""
        directory = Path(directory)
        model, tokenizer = load_encoder(directory, dtype=saved_dtype(directory))
        self.set_model(model, tokenizer)
        return self

    def to_bytes(self) -> bytes:
        """The encoder as the files of `to_disk`'s Hugging Face directory, in msgpack
        ({"files": {name: bytes}}, empty before loading; `layers/shim/payload.py`). Components
        serialise their folders themselves; this is for thinc's `Model.to_bytes` (spaCy's own
        components after `nlp.replace_listeners` hold the encoder in their model)."""
        if self._model is None:
            return srsly.msgpack_dumps({"files": {}})
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(Path(tmp))
            return srsly.msgpack_dumps({"files": folder_files(Path(tmp))})

    def from_bytes(self, bytes_data: bytes, name: str = "bert") -> "BertShim":
        """Restore `to_bytes`' files as `from_disk` does; anything else (random bytes, a pickle,
        weights that are not safetensors) is E389 before a model is built (E850: the bytes of an
        earlier spacy-bert). name (str): the component, for messages."""
        msg = read_payload(bytes_data, name, {}, optional={"files": dict})
        if "files" not in msg:
            if "loaded" in msg:  # the shim bytes of an earlier spacy-bert
                raise ValueError(Errors.E850.format(name=name, fields="'loaded', 'weights', ..."))
            raise ValueError(Errors.E389.format(name=name, reason="the field 'files' is missing", expected="'files': {name: bytes}"))
        if not msg["files"]:
            return self
        with tempfile.TemporaryDirectory() as tmp:
            write_files(msg["files"], Path(tmp), name, "'files': {name: bytes}")
            return self.from_disk(Path(tmp))
