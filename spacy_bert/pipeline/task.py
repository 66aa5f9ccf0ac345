"""`BertTaskPipe`: what `bert_ner` and `bert_textcat` share.

A task component's model is `encoder -> classifier` (`layers/heads.py`; the encoder sits under
`[model.tok2vec]` in the config, spaCy's name). The encoder is its own
BERT (`spacy-bert.BertEncoder.v1`, configured by the component's `checkpoint`, `window`,
`stride`, `max_batch_items`) or a `spacy-bert.BertOutputListener.v1` on a shared `bert`
component. The classifier holds the Hugging Face `classifier.weight`/`classifier.bias`.

This class owns:
- lazy loading: the checkpoint is read at `initialize()` or on first use. If it is a
  fine-tuned Hugging Face checkpoint of the component's head class (`architectures` in
  config.json), the head and its labels (`id2label`) are loaded too, and the component
  predicts without training;
- conversion to a Hugging Face model (`to_hf_model`), used by export and by `to_disk`, so a
  saved component's `model/` folder is itself a checkpoint that `transformers` loads;
- serialisation (`to_disk`/`from_disk`, `to_bytes`/`from_bytes`), never pickle.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Type

import numpy as np
import srsly
import torch
from safetensors.numpy import load as load_numpy_bytes
from safetensors.numpy import save as save_numpy_bytes
from spacy.pipeline import TrainablePipe
from spacy.training import Example, validate_examples
from spacy.util import SimpleFrozenList, ensure_path
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, set_dropout_rate

from ..checkpoint import load_pretrained, resolve_checkpoint_dir, save_pretrained
from ..checkpoint.files import read_config_dict
from ..errors import Errors
from ..layers.encoder import BertShim, ensure_loaded, get_shim
from ..layers.heads import linear_head_like, resized_linear_head
from ..layers.listener import BertListener
from ..modeling import BertConfig, BertModel, BertPreTrainedModel
from ..tokenization import BertTokenizer
from .settings import validate_encoder_settings

ENCODER_SETTINGS = ("checkpoint", "window", "stride", "max_batch_items")
HEAD_FILE = "classifier.safetensors"


class BertTaskPipe(TrainablePipe):
    """Base of the BERT task components (subclasses set `hf_class` and the label handling).

    `self.cfg["labels"]` lists the classifier's rows in order (Hugging Face's `id2label`):
    BIO tags for `bert_ner`, category names for `bert_textcat`.
    """

    hf_class: Type[BertPreTrainedModel]

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
        **cfg: Any,
    ) -> None:
        validate_encoder_settings(name, window, stride, max_batch_items)
        self.vocab = vocab
        self.model = model
        self.name = name
        self.cfg: Dict[str, Any] = {
            "labels": [],
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "window": window,
            "stride": stride,
            "max_batch_items": max_batch_items,
            **cfg,
        }
        self._sync_encoder_attrs()

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

    def _sync_encoder_attrs(self) -> None:
        """Write the component's encoder settings into its own encoder."""
        if self.owns_encoder:
            self.encoder.attrs.update({key: self.cfg[key] for key in ENCODER_SETTINGS})
            self.encoder.attrs["component"] = self.name  # named in the encoder's warnings

    def _read_encoder_attrs(self) -> None:
        """Take the encoder settings back from the own encoder: after `nlp.replace_listeners`
        it is a copy of the shared `bert` component's, with that component's settings."""
        if self.owns_encoder:
            self.cfg.update({key: self.encoder.attrs[key] for key in ENCODER_SETTINGS if key in self.encoder.attrs})

    @property
    def head_rows(self) -> List[str]:
        """The classifier's rows in order (Hugging Face `id2label`)."""
        return list(self.cfg["labels"])

    # -- loading ----------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        """Read the checkpoint once (own encoder only): the encoder and, from a fine-tuned
        checkpoint of `hf_class`, the head and its labels."""
        if not self.owns_encoder:
            return
        shim = get_shim(self.encoder)
        if shim.loaded:
            return
        checkpoint = self.cfg["checkpoint"]
        if not checkpoint:
            raise ValueError(Errors.E353.format(name=self.name))
        directory = resolve_checkpoint_dir(checkpoint)
        architectures = read_config_dict(directory).get("architectures") or []
        tokenizer = BertTokenizer.from_pretrained(directory)
        if self.hf_class.__name__ in architectures:
            model = load_pretrained(self.hf_class, directory)
            rows = self._rows_from_checkpoint(model.config, directory)
            self._install(shim, model, tokenizer, rows)
        else:
            shim.set_model(load_pretrained(BertModel, directory), tokenizer)
            ensure_loaded(self.encoder)
        self._after_load()

    def _rows_from_checkpoint(self, config: BertConfig, directory: Path) -> List[str]:
        """The head's row names from a fine-tuned checkpoint's config (subclasses validate)."""
        return [config.id2label[i] for i in range(config.num_labels)]

    def _after_load(self) -> None:
        """Hook for subclasses, called once the encoder (and maybe the head) is loaded."""

    def _install(self, shim: BertShim, model: BertPreTrainedModel, tokenizer: BertTokenizer, rows: Sequence[str]) -> None:
        """Put a Hugging Face `hf_class` model's encoder into the shim and its head into the classifier."""
        bert = model.bert
        if getattr(bert, "pooler", None) is None:
            # Token classification has no pooler; our encoder always computes one, so give
            # it a fresh one (it does not influence the token logits).
            full = BertModel(bert.config)
            full.load_state_dict(bert.state_dict(), strict=False)
            bert = full
        shim.set_model(bert, tokenizer)
        ensure_loaded(self.encoder)
        self.set_head(model.classifier.weight.detach().cpu().float().numpy(), model.classifier.bias.detach().cpu().float().numpy(), rows)
        self.classifier.attrs["initializer_range"] = model.config.initializer_range

    def set_head(self, W: np.ndarray, b: np.ndarray, rows: Sequence[str]) -> None:
        """Install classifier weights (W (n_rows, hidden), b (n_rows,)) for the rows `rows`."""
        head = self.classifier
        if head.has_param("W") or head.maybe_get_dim("nI") not in (None, W.shape[1]):
            self._swap_classifier(linear_head_like(head, W, b))
        else:
            head.set_dim("nO", len(rows), force=True)
            head.set_dim("nI", W.shape[1], force=True)
            head.set_param("W", head.ops.asarray2f(W))
            head.set_param("b", head.ops.asarray1f(b))
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

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One step: forward (with dropout), Hugging Face's loss, backprop into the head and
        the encoder (own, or the shared `bert` component through the listener)."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        if not examples:
            return losses
        self._check_ready()
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    # -- Hugging Face form -------------------------------------------------------------
    def hf_config_overrides(self) -> Dict[str, Any]:
        """Config fields of the exported head (labels, problem type)."""
        rows = self.head_rows
        return {"id2label": dict(enumerate(rows)), "label2id": {r: i for i, r in enumerate(rows)}}

    def to_hf_model(self, shim: Optional[BertShim] = None) -> BertPreTrainedModel:
        """This component as a Hugging Face `hf_class` model (encoder + classifier, CPU, fp32).

        shim (Optional[BertShim]): The encoder to use (the shared `bert` component's when this
            component listens); default: the component's own.
        """
        shim = shim if shim is not None else self._encoder_shim()
        head = self.classifier
        if not head.has_param("W") or not self.head_rows:
            raise ValueError(Errors.E363.format(name=self.name, reason="it has no trained head yet (call nlp.initialize() and train it)."))
        config = BertConfig.from_dict(shim.bert.config.to_dict(), **self.hf_config_overrides())
        model = self.hf_class(config)
        encoder_state = {k: v.detach().cpu().float() for k, v in shim.bert.state_dict().items()}
        missing, unexpected = model.bert.load_state_dict(encoder_state, strict=False)
        # Token classification has no pooler: the only keys allowed to differ.
        assert not missing and all(k.startswith("pooler.") for k in unexpected), (missing, unexpected)
        with torch.no_grad():
            model.classifier.weight.copy_(torch.from_numpy(head.ops.to_numpy(head.get_param("W"))))
            model.classifier.bias.copy_(torch.from_numpy(head.ops.to_numpy(head.get_param("b"))))
        return model.eval()

    # -- serialisation -----------------------------------------------------------------
    def _head_bytes(self) -> Optional[bytes]:
        head = self.classifier
        if not head.has_param("W"):
            return None
        return save_numpy_bytes({name: head.ops.to_numpy(head.get_param(name)) for name in ("W", "b")})

    def _head_from_bytes(self, data: Optional[bytes]) -> None:
        if data is not None:
            tensors = load_numpy_bytes(data)
            self.set_head(tensors["W"], tensors["b"], self.cfg["labels"])

    def to_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> None:
        """Write `cfg` and the weights. With an own encoder, `model/` is a Hugging Face
        checkpoint of `hf_class` (config.json with id2label, model.safetensors, tokenizer);
        a listening component writes its classifier only (`classifier.safetensors`)."""
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._read_encoder_attrs()
        srsly.write_json(path / "cfg", self.cfg)
        if "model" in exclude:
            return
        if self.owns_encoder:
            shim = get_shim(self.encoder)
            if shim.loaded and self.classifier.has_param("W"):
                save_pretrained(self.to_hf_model(shim), path / "model", tokenizer=shim.tokenizer)
            elif shim.loaded:
                save_pretrained(shim.bert, path / "model", tokenizer=shim.tokenizer)
        else:
            data = self._head_bytes()
            if data is not None:
                (path / HEAD_FILE).write_bytes(data)

    def from_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> "BertTaskPipe":
        path = ensure_path(path)
        self.cfg.update(srsly.read_json(path / "cfg"))
        self._sync_encoder_attrs()
        if "model" in exclude:
            return self
        model_dir = path / "model"
        if self.owns_encoder and model_dir.is_dir():
            tokenizer = BertTokenizer.from_pretrained(model_dir)
            architectures = read_config_dict(model_dir).get("architectures") or []
            if self.hf_class.__name__ in architectures:
                model = load_pretrained(self.hf_class, model_dir)
                self._install(get_shim(self.encoder), model, tokenizer, self.cfg["labels"])
            else:
                get_shim(self.encoder).set_model(load_pretrained(BertModel, model_dir), tokenizer)
                ensure_loaded(self.encoder)
        elif (path / HEAD_FILE).is_file():
            self._head_from_bytes((path / HEAD_FILE).read_bytes())
        self._after_load()
        return self

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        self._read_encoder_attrs()
        msg: Dict[str, Any] = {"cfg": self.cfg, "head": self._head_bytes()}
        if self.owns_encoder:
            msg["encoder"] = get_shim(self.encoder).to_bytes()
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()) -> "BertTaskPipe":
        msg = srsly.msgpack_loads(bytes_data)
        self.cfg.update(msg["cfg"])
        self._sync_encoder_attrs()
        if self.owns_encoder and msg.get("encoder") is not None:
            shim = get_shim(self.encoder)
            shim.from_bytes(msg["encoder"])
            if shim.loaded:
                ensure_loaded(self.encoder)
        self._head_from_bytes(msg.get("head"))
        self._after_load()
        return self
