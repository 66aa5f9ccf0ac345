"""`BertTaskPipe`: what `bert_ner` and `bert_textcat` share.

A task component's model is `encoder -> classifier` (`layers/heads/linear.py`; the encoder sits under
`[model.tok2vec]` in the config, spaCy's name). The encoder is its own
BERT (`spacy-bert.BertEncoder.v1`, configured by the component's `checkpoint`, `window`,
`stride`, `max_batch_items`) or a `spacy-bert.BertOutputListener.v1` on a shared `bert`
component. Which Hugging Face weights form the classifier is `layers/shim/head_weights.HEAD_PARAMS`
(`classifier.weight`/`classifier.bias` -> the thinc head's `W`/`b`); every torch conversion
lives there, so this module handles numpy arrays and thinc layers only.

On top of `BertPipe` (`base.py`: settings, precision, lazy loading, update, clipping,
serialisation) this class owns:
- lazy loading of encoder and head: the checkpoint is read at `initialize()` or on first use, also when
  `component.model` is called directly (the model calls back into the component first). If it
  is a fine-tuned Hugging Face checkpoint of the component's head class (`architectures` in
  config.json), the head and its labels (`id2label`) are loaded too, and the component
  predicts without training;
- conversion to a Hugging Face model (`to_hf_model`), used by export; `to_disk` writes the same
  form, so a saved component's `model/` folder is itself a checkpoint that `transformers` loads;
- its weights in the one save format (`BertPipe`): an own encoder is a Hugging Face `model/`
  folder of `hf_class`, a listening component writes its head file only. Loading is strict,
  every check before anything is installed: a missing `model/` folder or head file, weights
  without the head the save had (E761, E764) or with another head (E762), and cfg labels that
  disagree with config.json's `id2label` or the head's rows (E763, E388) are coded errors.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, cast

import numpy as np
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Model, set_dropout_rate
from thinc.types import Floats1d, Floats2d

from ..errors import Errors
from ..layers.encoder import BertShim, ensure_loaded, get_shim
from ..layers.heads.linear import linear_head_like, resized_linear_head
from ..layers.shim.head_weights import TaskWeights, build_hf_model, check_saved_weights, head_params, read_task_weights, write_task_weights
from ..layers.training.listener import BertListener
from ..layers.shim.payload import read_head_file, safetensors_bytes
from ..layers.precision.policy import DEFAULT_PRECISION
from ..layers.stages.run import loaded_tokenizer
from ..modeling import BertConfig, BertPreTrainedModel
from .base import MODEL_DIR, WEIGHTS_KEY, BertPipe
from .settings import validate_encoder_settings

__all__ = ["BertTaskPipe", "HEAD_FILE", "MODEL_DIR", "WEIGHTS_KEY"]

HEAD_FILE = "classifier.safetensors"


class BertTaskPipe(BertPipe):
    """Base of the BERT task components (subclasses set `hf_class` and the label handling).

    `self.cfg["labels"]` lists the classifier's rows in order (Hugging Face's `id2label`):
    BIO tags for `bert_ner`, category names for `bert_textcat`.
    """

    hf_class: Type[BertPreTrainedModel]
    factory_name: str  # the factory users add (error messages name it and the config block)
    state_keys = ("labels",)  # not a factory argument: set by initialize/add_label, restored from saves

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        checkpoint: Optional[str],
        window: int,
        stride: int,
        max_batch_items: int,
        batch_invariant: bool = False,
        precision: str = DEFAULT_PRECISION,
        **cfg: Any,
    ) -> None:
        validate_encoder_settings(name, window, stride, max_batch_items, batch_invariant)
        super().__init__(
            vocab, model, name, checkpoint=checkpoint, precision=precision,
            labels=[], window=window, stride=stride, max_batch_items=max_batch_items,
            batch_invariant=batch_invariant, **cfg,
        )

    # -- the parts of the model --------------------------------------------------------
    @property
    def encoder(self) -> Model:
        return self.model.get_ref("encoder")

    @property
    def classifier(self) -> Model:
        return self.model.get_ref("classifier")

    @property
    def owns_encoder(self) -> bool:
        """False when the component listens to a shared `bert` component."""
        return not isinstance(self.encoder, BertListener)

    def _sync_settings(self) -> None:
        """Write the component's encoder settings and precision into its own encoder."""
        if self.owns_encoder:
            self.encoder.attrs["checkpoint"] = self.cfg["checkpoint"]
            self.encoder.attrs["component"] = self.name  # named in the encoder's warnings
            self._write_encoder_settings(self.encoder)

    def _read_settings(self) -> None:
        """Take the encoder settings back from the own encoder: after `nlp.replace_listeners`
        it is a copy of the shared `bert` component's, with that component's settings."""
        if self.owns_encoder:
            self.cfg["checkpoint"] = self.encoder.attrs.get("checkpoint")
            self._read_encoder_settings(self.encoder)

    @property
    def head_rows(self) -> List[str]:
        """The classifier's rows in order (Hugging Face `id2label`)."""
        return list(self.cfg["labels"])

    # -- loading ----------------------------------------------------------------------
    def _is_loaded(self) -> bool:
        return not self.owns_encoder or get_shim(self.encoder).loaded

    def _no_checkpoint_error(self) -> str:
        return Errors.E400.format(name=self.name, factory=self.factory_name)

    def _load(self, directory: Path) -> None:
        """The encoder and, from a fine-tuned checkpoint of `hf_class`, the head and its labels."""
        weights = read_task_weights(self.hf_class, directory, keep_dtype=False)
        rows = None if weights.head is None else self._rows_from_checkpoint(weights.config, directory)
        self._install(get_shim(self.encoder), weights, rows)

    def _rows_from_checkpoint(self, config: BertConfig, directory: Path) -> List[str]:
        """The head's row names from a fine-tuned checkpoint's config (subclasses validate)."""
        return [config.id2label[i] for i in range(config.num_labels)]

    def _install(self, shim: BertShim, weights: TaskWeights, rows: Optional[Sequence[str]], source: str = "") -> None:
        """Put the encoder of `weights` into the shim and, if it has one, its head into the
        classifier, for the head rows `rows`."""
        shim.set_model(weights.encoder, weights.tokenizer)
        ensure_loaded(self.encoder)
        if weights.head is not None:
            assert rows is not None  # a head comes with its rows (`_load`, the saved labels)
            self.set_head(weights.head, rows, source=source)
            self.classifier.attrs["initializer_range"] = weights.config.initializer_range

    def set_head(self, head: Mapping[str, np.ndarray], rows: Sequence[str], source: str = "") -> None:
        """Install classifier weights for the rows `rows`.

        head (Mapping[str, np.ndarray]): {"W": (n_rows, hidden), "b": (n_rows,)}, the
            spaCy-side names of `HEAD_PARAMS[hf_class]`.
        rows (Sequence[str]): the head's row names; their count must match W and b (E388).
        source (str): where the weights come from, for the error message.
        """
        W, b = cast(Floats2d, head["W"]), cast(Floats1d, head["b"])
        if not (W.ndim == 2 and b.shape == (W.shape[0],) and len(rows) == W.shape[0]):
            raise ValueError(
                Errors.E388.format(name=self.name, n_labels=len(rows), labels=list(rows), n_rows=W.shape[0] if W.ndim else W.shape, source=source)
            )
        classifier = self.classifier
        if classifier.has_param("W") or classifier.maybe_get_dim("nI") not in (None, W.shape[1]):
            self._swap_classifier(linear_head_like(classifier, W, b))
        else:
            classifier.set_dim("nO", len(rows), force=True)
            classifier.set_dim("nI", W.shape[1], force=True)
            classifier.set_param("W", classifier.ops.asarray2f(W))
            classifier.set_param("b", classifier.ops.asarray1f(b))
        self.model.set_dim("nO", len(rows), force=True)
        self.cfg["labels"] = list(rows)

    def _resize_classifier(self) -> None:
        """Give the classifier one row per entry of `cfg["labels"]` (keeping trained rows)."""
        n_rows = len(self.cfg["labels"])
        self.model.set_dim("nO", n_rows, force=True)
        self._swap_classifier(resized_linear_head(self.classifier, n_rows))

    def _swap_classifier(self, new_head: Model) -> None:
        old_head = self.classifier
        if new_head is not old_head:
            self.model.replace_node(old_head, new_head)
            self.model.set_ref("classifier", new_head)

    def _encoder_shim(self) -> BertShim:
        if self.owns_encoder:
            self._ensure_loaded()
            return get_shim(self.encoder)
        raise ValueError(Errors.E363.format(name=self.name, reason="it listens to a shared bert component; export through the pipeline (`export_component(nlp, name, out_dir)`)."))

    # -- running and training ------------------------------------------------------------
    def _check_ready(self) -> None:
        """Read the checkpoint if needed; refuse to run without labels and a head (E358)."""
        self._ensure_loaded()
        if not self.cfg["labels"] or not self.classifier.has_param("W"):
            raise ValueError(Errors.E358.format(name=self.name, head=self.hf_class.__name__))

    def get_loss(self, examples: Iterable[Example], scores: Any) -> Tuple[float, Any]:
        """(loss, gradient of the loss with respect to `scores`); subclasses implement it."""
        raise NotImplementedError

    def _train_step(self, examples: List[Example], drop: float) -> float:
        """Forward (with dropout), Hugging Face's loss, backprop into the head and the encoder
        (own, or the shared `bert` component through the listener)."""
        self._check_ready()
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        return loss

    # -- Hugging Face form -------------------------------------------------------------
    def hf_config_overrides(self) -> Dict[str, Any]:
        """Config fields of the exported head (labels, problem type)."""
        rows = self.head_rows
        return {"id2label": dict(enumerate(rows)), "label2id": {r: i for i, r in enumerate(rows)}}

    def head_weights(self) -> Optional[Dict[str, np.ndarray]]:
        """The classifier as numpy arrays by spaCy-side name ({"W", "b"}), or None before it
        has weights."""
        classifier = self.classifier
        if not classifier.has_param("W"):
            return None
        names = head_params(self.hf_class).values()
        return {name: classifier.ops.to_numpy(classifier.get_param(name)) for name in names}

    def to_hf_model(self, shim: Optional[BertShim] = None) -> BertPreTrainedModel:
        """This component as a Hugging Face `hf_class` model (encoder + classifier, CPU, fp32).

        shim (Optional[BertShim]): The encoder to use (the shared `bert` component's when this
            component listens); default: the component's own.
        """
        shim = shim if shim is not None else self._encoder_shim()
        head = self.head_weights()
        if head is None or not self.head_rows:
            raise ValueError(Errors.E363.format(name=self.name, reason="it has no trained head yet (call nlp.initialize() and train it)."))
        return build_hf_model(self.hf_class, shim.bert, head, self.hf_config_overrides())

    # -- weights (serialisation: `BertPipe`) ----------------------------------------------
    def _write_weights(self, path: Path) -> List[str]:
        """With an own encoder, `model/` is a Hugging Face checkpoint of `hf_class` (config.json
        with id2label, model.safetensors, tokenizer; the encoder in its own dtype); a listening
        component writes its classifier only (`classifier.safetensors`)."""
        head = self.head_weights()
        if self.owns_encoder:
            shim = get_shim(self.encoder)
            if not shim.loaded:
                return []
            overrides = self.hf_config_overrides() if head is not None else None
            write_task_weights(self.hf_class, path / MODEL_DIR, shim.bert, loaded_tokenizer(shim), head, overrides)
            return [MODEL_DIR]
        if head is None:
            return []
        (path / HEAD_FILE).write_bytes(safetensors_bytes(head))
        return [HEAD_FILE]

    def _state(self) -> Dict[str, Any]:
        """Whether the component had a head when saved (labels may exist before it has one)."""
        return {"has_head": self.head_weights() is not None}

    def _saved_has_head(self, state: Dict[str, Any]) -> bool:
        """The save's "had a head" fact; a save from before the flag: it had labels."""
        return bool(state["has_head"]) if "has_head" in state else bool(self.cfg["labels"])

    def _check_head_rows(self, head: Mapping[str, np.ndarray], source: str) -> None:
        """E388 unless the head has one row per cfg label (before anything is installed)."""
        rows, W = self.cfg["labels"], head["W"]
        if W.ndim != 2 or W.shape[0] != len(rows):
            raise ValueError(Errors.E388.format(name=self.name, n_labels=len(rows), labels=list(rows), n_rows=W.shape[0] if W.ndim else W.shape, source=source))

    def _read_weights(self, path: Path, written: Optional[List[str]], state: Dict[str, Any], from_bytes: bool) -> None:
        """A missing `model/` folder (`_missing`: E384, from bytes E385) or head file (E386,
        from bytes E764) that the save wrote, or that an own encoder with a checkpoint needs, is
        an error; so are weights without the saved head or with another head (E761, E762) and
        labels that disagree with id2label (E763) or with the head's rows (E388). All checked
        before anything is installed."""
        has_head = self._saved_has_head(state)
        if self.owns_encoder:
            model_dir = path / MODEL_DIR
            if model_dir.is_dir():
                labels = self.cfg["labels"] if has_head else None
                check_saved_weights(self.hf_class, model_dir, self.name, has_head=has_head, labels=labels)
                weights = read_task_weights(self.hf_class, model_dir, keep_dtype=True)
                self._install(get_shim(self.encoder), weights, self.cfg["labels"], source=f" in {model_dir}")
                return
            error = self._missing(model_dir, written, from_bytes)
            if error is not None:
                raise error
            return
        head_file = path / HEAD_FILE
        if head_file.is_file():
            head = read_head_file(head_file, self.name, head_params(self.hf_class).values())
            self._check_head_rows(head, f" in {head_file}")
            self.set_head(head, self.cfg["labels"], source=f" in {head_file}")
        elif from_bytes and has_head:
            raise ValueError(Errors.E764.format(name=self.name, what="carries no head weights", expected=f"had a head for the labels {self.cfg['labels']}"))
        elif not from_bytes and ((written and HEAD_FILE in written) or has_head):
            raise ValueError(Errors.E386.format(name=self.name, labels=self.cfg["labels"], path=head_file))
