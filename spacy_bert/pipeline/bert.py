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

from ..checkpoint import load_pretrained, save_pretrained
from ..errors import Errors
from ..layers.encoder import BertDocGradient, BertDocOutput, ensure_loaded, get_shim
from ..layers.listener import BertListener, BertOutputListener
from ..layers.pooling import POOLING_MODES
from ..layers.token_vectors import token_vectors
from ..modeling import BertModel
from ..tokenization import BertTokenizer
from .doc_data import BertDocData, install_extension
from .settings import validate_encoder_settings
from .similarity import set_sentence_vectors

DEFAULT_BERT_MODEL = """
[model]
@architectures = "spacy-bert.BertEncoder.v1"
mixed_precision = false
grad_scaler_config = {}
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_BERT_MODEL)["model"]
SETTINGS = ("checkpoint", "window", "stride", "max_batch_items", "pooling")


@Language.factory(
    "bert",
    assigns=["doc.tensor", "doc._.bert"],
    default_config={
        "model": DEFAULT_MODEL,
        "checkpoint": None,
        "window": 512,
        "stride": 128,
        "max_batch_items": 2048,
        "pooling": "mean",
        "store_piece_states": True,
        "set_vectors": False,
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
    set_vectors: bool,
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
    set_vectors (bool): Set `doc.vector` / `span.vector` and similarity hooks (sentence-transformers'
        mean pooling; one more forward pass per Doc, see pipeline/similarity.py).
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
        set_vectors=set_vectors,
    )


class Bert(TrainablePipe):
    """A shared BERT encoder; listeners downstream receive its token vectors and gradients."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bert",
        *,
        checkpoint: Optional[str] = None,
        window: int = 512,
        stride: int = 128,
        max_batch_items: int = 2048,
        pooling: str = "mean",
        store_piece_states: bool = True,
        set_vectors: bool = False,
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
            "set_vectors": set_vectors,
        }
        self.model.attrs.update({key: self.cfg[key] for key in SETTINGS})
        self.model.attrs["replace_listener"] = self._replace_listener
        self.model.attrs["replace_listener_cfg"] = self._replace_listener_cfg

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
    def predict(self, docs: Iterable[Doc]) -> List[BertDocOutput]:
        """Encode a batch of Docs without changing them."""
        docs = list(docs)
        if not docs:
            return []
        return self.model.predict(docs)

    def set_annotations(self, docs: Sequence[Doc], outputs: Sequence[BertDocOutput]) -> None:
        """Set `doc.tensor` (n_tokens, hidden) and `doc._.bert`; numpy arrays only."""
        to_numpy = self.model.ops.to_numpy
        store = self.cfg["store_piece_states"]
        for doc, out in zip(docs, outputs):
            doc.tensor = to_numpy(out.token_vectors)
            doc._.bert = BertDocData(
                piece_ids=out.piece_ids,
                piece_offsets=out.piece_offsets,
                lengths=out.alignment.lengths,
                piece_indices=out.alignment.piece_indices,
                last_hidden_state=to_numpy(out.last_hidden_state) if store else None,
                pooler_output=to_numpy(out.pooler_output),
                n_windows=out.n_windows,
            )
        if self.cfg.get("set_vectors"):
            set_sentence_vectors(docs, self.model)

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

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        """Read the checkpoint (if not read yet) and tell the listeners the vector width."""
        ensure_loaded(self.model)
        for listener in self.listeners:
            self._set_listener_width(listener)
        self.model.initialize(X=[eg.predicted for eg in islice(get_examples(), 2)] if get_examples else None)

    def add_label(self, label: str) -> int:
        raise NotImplementedError("The bert component has no labels.")

    # -- serialisation --------------------------------------------------------------
    def to_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> None:
        """Write `cfg` and, once the weights are read, a Hugging Face directory `model/`
        (config.json, model.safetensors, tokenizer files): loading never needs the checkpoint."""
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg", self.cfg)
        shim = get_shim(self.model)
        if shim.loaded and "model" not in exclude:
            save_pretrained(shim.bert, path / "model", tokenizer=shim.tokenizer)

    def from_disk(self, path: Path, *, exclude: Iterable[str] = SimpleFrozenList()) -> "Bert":
        path = ensure_path(path)
        self.cfg.update(srsly.read_json(path / "cfg"))
        self.model.attrs.update({key: self.cfg[key] for key in SETTINGS})
        model_dir = path / "model"
        if model_dir.is_dir() and "model" not in exclude:
            bert = load_pretrained(BertModel, model_dir)
            get_shim(self.model).set_model(bert, BertTokenizer.from_pretrained(model_dir))
            ensure_loaded(self.model)
            for listener in self.listeners:
                self._set_listener_width(listener)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        return srsly.msgpack_dumps({"cfg": self.cfg, "model": get_shim(self.model).to_bytes()})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()) -> "Bert":
        msg = srsly.msgpack_loads(bytes_data)
        self.cfg.update(msg["cfg"])
        self.model.attrs.update({key: self.cfg[key] for key in SETTINGS})
        shim = get_shim(self.model)
        shim.from_bytes(msg["model"])
        if shim.loaded:
            ensure_loaded(self.model)
            for listener in self.listeners:
                self._set_listener_width(listener)
        return self
