"""`BertShim`: thinc's PyTorch shim around our `BertModel`, loaded lazily, serialised as safetensors.

The shim owns everything needed to rebuild the encoder without the original checkpoint: the
`BertConfig`, the tokenizer and the weights. It starts empty; `load_checkpoint` (at
`initialize()` or on first use) or `from_bytes` (when a saved pipeline is loaded) fills it.
Its bytes never contain a pickle: weights are safetensors, the rest is JSON/text in msgpack.
"""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import srsly
import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from thinc.api import get_torch_default_device
from thinc.shims import PyTorchGradScaler, PyTorchShim
from thinc.shims.pytorch import ArgsKwargs

from ..checkpoint import apply_state_dict, checkpoint_tensors, load_pretrained, resolve_checkpoint_dir, save_pretrained
from ..errors import Errors
from ..modeling import BertConfig, BertModel
from ..tokenization import BertTokenizer
from .hf_heads import float_dtype, saved_dtype
from .payload import read_payload


def _single_threaded_after_fork() -> None:
    # A forked child (nlp.pipe(n_process=N) on Linux) inherits torch's OpenMP state but not
    # its worker threads: the first parallel op would wait for them forever. Running the
    # child's ops on one thread avoids the deadlock, and N processes use N cores anyway.
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_single_threaded_after_fork)


def tokenizer_to_files(tokenizer: BertTokenizer) -> Dict[str, str]:
    """The tokenizer's files (name -> text), as `save_pretrained` writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(tmp).iterdir())}


def tokenizer_from_files(files: Dict[str, str]) -> BertTokenizer:
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / Path(name).name).write_text(text, encoding="utf-8")
        return BertTokenizer.from_pretrained(tmp)


class BertShim(PyTorchShim):
    """A `PyTorchShim` whose torch module (a `BertModel`) and tokenizer arrive after construction.

    Args:
        mixed_precision (bool): Autocast the forward pass to half precision on CUDA.
        grad_scaler (Optional[PyTorchGradScaler]): Gradient scaler for mixed-precision training.
    """

    def __init__(self, mixed_precision: bool = False, grad_scaler: Optional[PyTorchGradScaler] = None) -> None:
        super().__init__(None, mixed_precision=mixed_precision, grad_scaler=grad_scaler)
        self.tokenizer: Optional[BertTokenizer] = None

    # -- state ------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def bert(self) -> BertModel:
        if self._model is None:
            raise ValueError(Errors.E351)
        return self._model

    def set_model(self, model: BertModel, tokenizer: BertTokenizer) -> None:
        """Install an encoder and its tokenizer (moved to the current thinc device)."""
        if tokenizer.vocab_size > model.config.vocab_size:
            raise ValueError(Errors.E111.format(path="the tokenizer", vocab=tokenizer.vocab_size, config=model.config.vocab_size, last=model.config.vocab_size - 1))
        device = get_torch_default_device()
        self._model = model.to(device)
        self._grad_scaler.to_(device)
        self.tokenizer = tokenizer

    def load_checkpoint(self, checkpoint: str) -> None:
        """Read a Hugging Face checkpoint directory (or hub id): config, weights and tokenizer."""
        directory = resolve_checkpoint_dir(checkpoint)
        tokenizer = BertTokenizer.from_pretrained(directory)
        model = load_pretrained(BertModel, directory)
        self.set_model(model, tokenizer)

    # -- running ----------------------------------------------------------------
    def predict(self, inputs: ArgsKwargs) -> Any:
        """Forward pass in eval mode under `torch.inference_mode` (no autograd bookkeeping)."""
        was_training = self.bert.training
        self.bert.eval()
        try:
            with torch.inference_mode(), self._autocast():
                return self.bert(*inputs.args, **inputs.kwargs)
        finally:
            self.bert.train(was_training)

    def _autocast(self):
        if self._mixed_precision and self.bert.device.type == "cuda":
            return torch.autocast(device_type="cuda")
        return contextlib.nullcontext()

    def to_device(self, device_type: str, device_id: int) -> None:
        if self._model is not None:
            super().to_device(device_type, device_id)

    # -- serialisation ----------------------------------------------------------
    def to_disk(self, directory: Path) -> None:
        """Write the encoder as a Hugging Face directory (config.json with its dtype,
        model.safetensors in that dtype, tokenizer files)."""
        save_pretrained(self.bert, directory, tokenizer=self.tokenizer)

    def from_disk(self, directory: Path) -> "BertShim":
        """Read `to_disk`'s directory; the encoder keeps the dtype it was saved in."""
        directory = Path(directory)
        model = load_pretrained(BertModel, directory)
        dtype = saved_dtype(directory)
        self.set_model(model if dtype is None else model.to(dtype), BertTokenizer.from_pretrained(directory))
        return self

    def to_bytes(self) -> bytes:
        if self._model is None:
            return srsly.msgpack_dumps({"loaded": False})
        tensors = {name: t.detach().cpu() for name, t in checkpoint_tensors(self.bert).items()}
        return srsly.msgpack_dumps(
            {
                "loaded": True,
                "config": self.bert.config.to_dict(),
                "tokenizer": tokenizer_to_files(self.tokenizer),
                "weights": save_safetensors_bytes(tensors),
                "dtype": str(self.bert.dtype).removeprefix("torch."),
            }
        )

    def from_bytes(self, bytes_data: bytes, name: str = "bert") -> "BertShim":
        """Restore `to_bytes`' payload. Anything else (random bytes, a pickle, a field of the
        wrong type, weights that are not safetensors) is E389, before a model is built.

        name (str): the component, for messages.
        """
        msg = read_payload(bytes_data, name, {"loaded": bool})
        if not msg["loaded"]:
            return self
        msg = read_payload(bytes_data, name, {"loaded": bool, "config": dict, "tokenizer": dict, "weights": bytes}, optional={"dtype": str})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in msg["tokenizer"].items()):
            raise ValueError(Errors.E389.format(name=name, reason="its tokenizer files are not a map of file names to text", expected="'tokenizer': {name: text}"))
        dtype = float_dtype(msg.get("dtype") or "float32", f"The serialized {name!r} component")
        try:
            tensors = load_safetensors_bytes(msg["weights"])
        except Exception as err:  # SafetensorError, or a header that is not JSON
            raise ValueError(Errors.E389.format(name=name, reason=f"its weights are not safetensors bytes ({type(err).__name__}: {err})", expected="'weights': safetensors bytes")) from None
        config = BertConfig.from_dict(msg["config"])
        model = BertModel(config)
        apply_state_dict(model, tensors, f"the serialized {name!r} component")
        model = model.to(dtype)
        self.set_model(model, tokenizer_from_files(msg["tokenizer"]))
        return self
