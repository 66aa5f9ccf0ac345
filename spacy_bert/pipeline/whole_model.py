"""`BertModelPipe`: a component that owns a whole Hugging Face `BertFor*` model (encoder and
head in one torch module) through the shim of its thinc model: `bert` (a
`BertModel`), `bert_qa` (`BertForQuestionAnswering`) and `bert_fill_mask` (`BertForMaskedLM` /
`BertForPreTraining`).

Unlike `bert_ner`/`bert_textcat` (`task.py`: a thinc head on an encoder that may be shared),
the head runs in torch next to the encoder, so the weights are one Hugging Face directory:
- `to_disk` writes it as `model/` (`save_pretrained`: config.json, model.safetensors,
  tokenizer), which `transformers` loads as is and `export` writes the same way;
- `to_bytes` carries the files of that folder (`BertPipe`: one format for every component);
- a saved folder (disk or bytes) is checked strictly before it is read (`_check_saved_dir`):
  it must hold the component's head (E761) and no other head (E762); a checkpoint's missing
  head is instead made fresh, with a warning;
- prediction runs in the component's `precision` (the shim's prediction copy: the encoder
  in int8/bf16, the head in fp32), training always in fp32.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Type, Union, cast

from ..checkpoint import save_pretrained
from ..layers.shim.head_weights import check_saved_weights
from ..layers.shim.bert_shim import BertShim
from ..modeling import BertPreTrainedModel
from .base import MODEL_DIR, BertPipe

__all__ = ["BertModelPipe"]


class BertModelPipe(BertPipe):
    """Base of the components whose thinc model holds one `BertShim` with a whole `BertFor*`
    model. Subclasses implement `_install_dir` (read a Hugging Face directory into the shim)."""

    # -- hooks ---------------------------------------------------------------------------
    def _install_dir(self, directory: Path, saved: bool) -> None:
        """Read the Hugging Face directory `directory`: a checkpoint, or (`saved`) a saved
        `model/`, which keeps the dtype it was saved in."""
        raise NotImplementedError

    #: The Hugging Face classes a save of this component may write (config.json's
    #: `architectures` names the one it wrote).
    saved_classes: Union[Type[BertPreTrainedModel], Tuple[Type[BertPreTrainedModel], ...]] = ()

    def _check_saved_dir(self, directory: Path, state: Dict[str, Any]) -> None:
        """Raise a coded error unless `directory` holds what a save of this component writes:
        `saved_classes` (a class, or the classes of which config.json must name one) with its whole
        head and no other (E761, E762); `state`: the
        saved `_state()`. Reads file headers only."""
        check_saved_weights(self.saved_classes, directory, self.name)

    def _check_exportable(self) -> None:
        """Raise a coded error when the model cannot be exported yet (default: load it)."""
        self._ensure_loaded()

    # -- the model -----------------------------------------------------------------------
    @property
    def shim(self) -> BertShim:
        return cast(BertShim, self.model.shims[0])

    @property
    def tokenizer(self):
        """The component's tokenizer (read from the checkpoint if needed)."""
        self._ensure_loaded()
        return self.shim.tokenizer

    def _sync_settings(self) -> None:
        """The component's name (for messages) and prediction precision into the shim."""
        self.model.attrs["component"] = self.name
        shim = self.shim
        shim.name = self.name
        shim.precision = self._precision

    def _is_loaded(self) -> bool:
        return self.shim.loaded

    def _load(self, directory: Path) -> None:
        self._install_dir(directory, saved=False)

    def export(self, output_dir: Union[str, Path]) -> Path:
        """Write the model as a Hugging Face directory (fp32, the tokenizer beside it)."""
        self._check_exportable()
        out = Path(output_dir)
        save_pretrained(self.shim.model, out, tokenizer=self.shim.tokenizer)
        return out

    # -- weights (serialisation: `BertPipe`) ---------------------------------------------
    def _write_weights(self, path: Path) -> List[str]:
        if not self.shim.loaded:
            return []
        save_pretrained(self.shim.model, path / MODEL_DIR, tokenizer=self.shim.tokenizer)
        return [MODEL_DIR]

    def _read_weights(self, path: Path, written: Optional[List[str]], state: Dict[str, Any], from_bytes: bool) -> None:
        """`model/` is checked strictly, then read; missing, it is `_missing`'s error."""
        model_dir = path / MODEL_DIR
        if model_dir.is_dir():
            self._check_saved_dir(model_dir, state)
            self._install_dir(model_dir, saved=True)
            return
        error = self._missing(model_dir, written, from_bytes)
        if error is not None:
            raise error
