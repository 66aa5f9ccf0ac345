"""The `bert` component: a shared BERT encoder that sets `doc.tensor` and `doc._.bert`.

    nlp.add_pipe("bert", config={"checkpoint": "path/to/bert"})

Other components (spaCy's `ner`, `textcat`, `tagger`, `parser`, `spancat`, ...) use its token
vectors through `spacy-bert.BertListener.v1`, and fine-tune it through their gradients.
"""
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import srsly
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.util import SimpleFrozenList, ensure_path
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from ..errors import Errors
from ..layers.encoder import BertDocGradient, BertDocOutput, ensure_loaded, get_shim
from ..layers.listener import BertListener, BertOutputListener
from ..layers.merge import to_host
from ..layers.payload import read_payload
from ..layers.pooling import POOLING_MODES
from ..layers.precision import DEFAULT_PRECISION, check_precision
from ..layers.token_vectors import token_vectors
from .doc_data import BertDocData, install_extension
from .contracts import names_component_on_missing_checkpoint
from .settings import DEFAULT_SETTINGS, validate_encoder_settings

DEFAULT_BERT_MODEL = """
[model]
@architectures = "spacy-bert.BertEncoder.v1"
mixed_precision = false
grad_scaler_config = {}
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_BERT_MODEL)["model"]
SETTINGS = ("checkpoint", "window", "stride", "max_batch_items", "pooling")
MODEL_DIR = "model"
#: Key of the saved cfg file (not of `self.cfg`) listing the weight folders written beside it.
WEIGHTS_KEY = "weights_files"


@Language.factory(
    "bert",
    assigns=["doc.tensor", "doc._.bert"],
    default_config={
        "model": DEFAULT_MODEL,
        "checkpoint": None,
        "window": DEFAULT_SETTINGS.window,
        "stride": DEFAULT_SETTINGS.stride,
        "max_batch_items": DEFAULT_SETTINGS.max_batch_items,
        "pooling": "mean",
        "store_piece_states": True,
        "precision": DEFAULT_PRECISION,
    },
    default_score_weights={},
)
def make_bert(
    nlp: Language,
    name: str,
    model: Model,
    checkpoint: Optional[str],
    window: int,
    stride: int,
    max_batch_items: int,
    pooling: str,
    store_piece_states: bool,
    precision: str,
) -> "Bert":
    """Create a `bert` component.

    checkpoint (Optional[str]): Local Hugging Face BERT directory (or hub id when online). Read at
        `nlp.initialize()` or on first use; a saved pipeline carries its own copy.
    window (int): Positions per window, [CLS]/[SEP] included (capped at max_position_embeddings).
    stride (int): Pieces shared by consecutive windows of a long text (Hugging Face's stride).
    max_batch_items (int): Piece budget of one padded batch (rows x padded length).
    pooling (str): Token vector from its pieces: "mean", "first", "last" or "max".
    store_piece_states (bool): Keep per-piece hidden states in `doc._.bert` (token vectors in
        `doc.tensor` are always set). Switch off to keep Docs light.
    precision (str): Prediction arithmetic: "float32" (default, identical to Hugging Face),
        "int8" (CPU), "bfloat16", "float16" (GPU) or "auto" (what this machine runs fastest; see
        `spacy_bert/layers/precision.py`). Training always runs fp32; weights are saved in fp32.
    """
    return Bert(
        nlp.vocab,
        model,
        name,
        checkpoint=checkpoint,
        window=window,
        stride=stride,
        max_batch_items=max_batch_items,
        pooling=pooling,
        store_piece_states=store_piece_states,
        precision=precision,
    )


class Bert(TrainablePipe):
    """A shared BERT encoder; listeners downstream receive its token vectors and gradients."""

    factory_name = "bert"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bert",
        *,
        checkpoint: Optional[str] = None,
        window: int = DEFAULT_SETTINGS.window,
        stride: int = DEFAULT_SETTINGS.stride,
        max_batch_items: int = DEFAULT_SETTINGS.max_batch_items,
        pooling: str = "mean",
        store_piece_states: bool = True,
        precision: str = DEFAULT_PRECISION,
    ) -> None:
        validate_encoder_settings(name, window, stride, max_batch_items)
        if pooling not in POOLING_MODES:
            raise ValueError(Errors.E352.format(value=pooling, expected=", ".join(POOLING_MODES)))
        install_extension()
        self.vocab = vocab
        self.model = model
        self.name = name
        self.listener_map: Dict[str, List[BertListener]] = {}
        self.cfg: Dict[str, Any] = {
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "window": window,
            "stride": stride,
            "max_batch_items": max_batch_items,
            "pooling": pooling,
            "store_piece_states": store_piece_states,
        }
        self.model.attrs.update({key: self.cfg[key] for key in SETTINGS})
        self.model.attrs["component"] = name  # named in the encoder's warnings
        # Not in `cfg` (which `from_disk` restores over the constructor's values): the setting
        # lives in the pipeline's config, so `spacy.load(..., config={...precision...})` wins.
        self.model.attrs["precision"] = check_precision(precision, name)
        self.model.attrs["replace_listener"] = self._replace_listener
        self.model.attrs["replace_listener_cfg"] = self._replace_listener_cfg

    # -- precision -------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """The prediction precision setting (see `set_precision`)."""
        return self.model.attrs["precision"]

    def set_precision(self, precision: str) -> None:
        """Predict in `precision` from the next batch on ("float32", "int8", "bfloat16",
        "float16", "auto"; E660 otherwise). Weights stay fp32; `spacy_bert.pipeline.set_precision(nlp,
        ...)` also records it in the pipeline's config, so `nlp.to_disk` keeps it."""
        self.model.attrs["precision"] = check_precision(precision, self.name)

    # -- listeners (spaCy's ListenedToComponent protocol) -----------------------
    @property
    def listeners(self) -> List[BertListener]:
        return [m for c in self.listening_components for m in self.listener_map[c]]

    @property
    def listening_components(self) -> List[str]:
        return list(self.listener_map.keys())

    def add_listener(self, listener: BertListener, component_name: str) -> None:
        self.listener_map.setdefault(component_name, [])
        if listener not in self.listener_map[component_name]:
            self.listener_map[component_name].append(listener)
        if get_shim(self.model).loaded:
            self._set_listener_width(listener)

    def remove_listener(self, listener: BertListener, component_name: str) -> bool:
        if listener in self.listener_map.get(component_name, []):
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
            return True
        return False

    def find_listeners(self, component: Any) -> None:
        """Register the `BertListener` layers of `component` that listen to this component."""
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if isinstance(node, BertListener) and node.upstream_name in names:
                    self.add_listener(node, component.name)

    def _set_listener_width(self, listener: BertListener) -> None:
        listener.set_dim("nO", self.model.get_dim("nO"), force=True)

    def _replace_listener(self, encoder_copy: Model, listener: BertListener, tok2vec: Any = None) -> Model:
        """What `nlp.replace_listeners` puts where a listener was: an own copy of the encoder
        (as token vectors for a `BertListener`, whole for a task head's `BertOutputListener`)."""
        if isinstance(listener, BertOutputListener):
            return encoder_copy
        return token_vectors(encoder_copy, grad_factor=listener.attrs["grad_factor"])

    def _replace_listener_cfg(self, tok2vec_model_cfg: Dict[str, Any], listener_cfg: Dict[str, Any]) -> Dict[str, Any]:
        if listener_cfg.get("@architectures") == "spacy-bert.BertOutputListener.v1":
            return {
                "@architectures": "spacy-bert.BertEncoder.v1",
                "mixed_precision": tok2vec_model_cfg.get("mixed_precision", False),
                "grad_scaler_config": tok2vec_model_cfg.get("grad_scaler_config", {}),
            }
        return {
            "@architectures": "spacy-bert.BertTokenVectors.v1",
            **{key: self.cfg[key] for key in SETTINGS},
            "grad_factor": listener_cfg.get("grad_factor", 1.0),
            "mixed_precision": tok2vec_model_cfg.get("mixed_precision", False),
            "grad_scaler_config": tok2vec_model_cfg.get("grad_scaler_config", {}),
        }

    # -- running ------------------------------------------------------------------
    @names_component_on_missing_checkpoint
    def predict(self, docs: Iterable[Doc]) -> List[BertDocOutput]:
        """Encode a batch of Docs without changing them."""
        docs = list(docs)
        if not docs:
            return []
        self._require_checkpoint()
        return self.model.predict(docs)

    def set_annotations(self, docs: Sequence[Doc], outputs: Sequence[BertDocOutput]) -> None:
        """Set `doc.tensor` (n_tokens, hidden) and `doc._.bert`; numpy arrays only."""
        # One device-to-host copy per field for the whole batch, not several per Doc.
        host = to_host(self.model.ops, outputs, with_pieces=self.cfg["store_piece_states"])
        for doc, out, (tokens, pieces, pooled) in zip(docs, outputs, host):
            doc.tensor = tokens
            doc._.bert = BertDocData(
                piece_ids=out.piece_ids,
                piece_offsets=out.piece_offsets,
                lengths=out.alignment.lengths,
                piece_indices=out.alignment.piece_indices,
                last_hidden_state=pieces,
                pooler_output=pooled,
                n_windows=out.n_windows,
            )

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Encode the batch and hand token vectors to the listeners; the last listener's
        backprop call runs the encoder's backward pass and (with `sgd`) its update."""
        if losses is None:
            losses = {}
        validate_examples(examples, "Bert.update")
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        if not docs:
            return losses
        set_dropout_rate(self.model, drop)
        outputs, bp_outputs = self.model.begin_update(docs)
        gradients = [BertDocGradient() for _ in outputs]

        def accumulate_gradient(one_gradients: List[BertDocGradient]) -> List[Doc]:
            for total, one in zip(gradients, one_gradients):
                total.add(one)
                if one.d_token_vectors is not None:
                    losses[self.name] += float((one.d_token_vectors**2).sum())
            return []

        def backprop(one_gradients: List[BertDocGradient]) -> List[Doc]:
            accumulate_gradient(one_gradients)
            bp_outputs(gradients)
            if sgd is not None:
                self.finish_update(sgd)
            return []

        # Every listener gets the whole outputs; token-vector listeners read `token_vectors`,
        # task heads (`BertOutputListener`) read piece states and the pooled output.
        batch_id = BertListener.get_batch_id(docs)
        for listener in self.listeners[:-1]:
            listener.receive(batch_id, outputs, accumulate_gradient)
        if self.listeners:
            self.listeners[-1].receive(batch_id, outputs, backprop)
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Any) -> None:
        """The encoder has no loss of its own: gradients come from the listeners."""
        return None

    @names_component_on_missing_checkpoint
    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        """Read the checkpoint (if not read yet) and tell the listeners the vector width."""
        self._require_checkpoint()
        ensure_loaded(self.model)
        for listener in self.listeners:
            self._set_listener_width(listener)
        self.model.initialize(X=[eg.predicted for eg in islice(get_examples(), 2)] if get_examples else None)

    def _require_checkpoint(self) -> None:
        """E400 naming this component and its config block when there are no weights and no
        checkpoint to read them from (the encoder's own E353 could only name the layer). Not
        checked at construction: `spacy.load` and `add_pipe` + `from_bytes` build the component
        without a checkpoint and then give it its weights."""
        if not get_shim(self.model).loaded and not self.model.attrs.get("checkpoint"):
            raise ValueError(Errors.E400.format(name=self.name, factory=self.factory_name))

    def add_label(self, label: str) -> int:
        raise NotImplementedError(Errors.E408.format(label=label))

    # -- serialisation --------------------------------------------------------------
    def _read_before_saving(self) -> None:
        """Read the checkpoint before writing: a saved component carries its weights, never
        only the path of the checkpoint they would come from (E383)."""
        if get_shim(self.model).loaded or not self.cfg["checkpoint"]:
            return
        try:
            ensure_loaded(self.model)
        except (OSError, ValueError) as err:
            raise ValueError(Errors.E383.format(name=self.name, checkpoint=self.cfg["checkpoint"], error=err)) from err
        for listener in self.listeners:
            self._set_listener_width(listener)

    def to_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> None:
        """Write `cfg` and a Hugging Face directory `model/` (config.json, model.safetensors in
        the encoder's dtype, tokenizer files), reading the checkpoint first if it was not yet:
        loading never needs the checkpoint."""
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        written: List[str] = []
        if "model" not in exclude:
            self._read_before_saving()
            shim = get_shim(self.model)
            if shim.loaded:
                shim.to_disk(path / MODEL_DIR)
                written.append(MODEL_DIR)
        srsly.write_json(path / "cfg", {**self.cfg, WEIGHTS_KEY: written})

    def from_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> "Bert":
        """Restore from `to_disk`'s folder; never reads the original checkpoint (E384)."""
        path = ensure_path(path)
        saved = dict(srsly.read_json(path / "cfg"))
        written = saved.pop(WEIGHTS_KEY, None)  # None: saved before the key existed
        self.cfg.update(saved)
        self.model.attrs.update({key: self.cfg[key] for key in SETTINGS})
        if "model" in exclude:
            return self
        model_dir = path / MODEL_DIR
        if model_dir.is_dir():
            get_shim(self.model).from_disk(model_dir)
            self._after_restore()
        elif (written and MODEL_DIR in written) or self.cfg["checkpoint"]:
            raise ValueError(Errors.E384.format(name=self.name, path=model_dir, checkpoint=self.cfg["checkpoint"]))
        return self

    def _after_restore(self) -> None:
        ensure_loaded(self.model)
        for listener in self.listeners:
            self._set_listener_width(listener)

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        """msgpack of cfg and the encoder's bytes (reading the checkpoint first if needed)."""
        self._read_before_saving()
        return srsly.msgpack_dumps({"cfg": self.cfg, "model": get_shim(self.model).to_bytes()})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()) -> "Bert":
        """Restore from `to_bytes`: a payload that is not one is E389, one without weights for a
        component configured with a checkpoint is E385 (it never falls back to the checkpoint)."""
        msg = read_payload(bytes_data, self.name, {"cfg": dict, "model": bytes})
        self.cfg.update(msg["cfg"])
        self.model.attrs.update({key: self.cfg[key] for key in SETTINGS})
        shim = get_shim(self.model)
        shim.from_bytes(msg["model"], name=self.name)
        if shim.loaded:
            self._after_restore()
        elif self.cfg["checkpoint"]:
            raise ValueError(Errors.E385.format(name=self.name, checkpoint=self.cfg["checkpoint"]))
        return self
