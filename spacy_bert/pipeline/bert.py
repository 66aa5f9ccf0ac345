"""The `bert` component: a shared BERT encoder that sets `doc.tensor` and `doc._.bert`.

    nlp.add_pipe("bert", config={"checkpoint": "path/to/bert"})

Other components (spaCy's `ner`, `textcat`, `tagger`, `parser`, `spancat`, ...) use its token
vectors through `spacy-bert.BertListener.v1`, and fine-tune it through their gradients; the
task heads `bert_ner` and `bert_textcat` use its whole outputs through
`spacy-bert.BertOutputListener.v1`. How gradients of several listeners meet: see
`layers/training/shared_gradient.py`.
"""
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from ..errors import Errors
from ..layers.encoder import BertDocGradient, BertDocOutput, BertEncoderModel, ensure_loaded
from ..layers.training.listener import BertListener, BertOutputListener
from ..layers.stages.merge import to_host
from ..layers.stages.pooling import check_pooling
from ..layers.training.shared_gradient import SharedGradient
from ..layers.precision.policy import DEFAULT_PRECISION
from ..layers.precision.training import DEFAULT_TRAIN_PRECISION
from ..layers.heads.token_vectors import token_vectors
from ..modeling import BertModel
from .doc_data import BertDocData, install_extension
from .contracts import names_component_on_missing_checkpoint
from .settings import DEFAULT_SETTINGS, EncoderSettings, validate_encoder_settings
from .similarity import set_sentence_vectors
from .whole_model import BertModelPipe

DEFAULT_BERT_MODEL = """
[model]
@architectures = "spacy-bert.BertEncoder.v1"
mixed_precision = false
grad_scaler_config = {}
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_BERT_MODEL)["model"]


@Language.factory(
    "bert",
    assigns=["doc.tensor", "doc._.bert"],
    default_config={
        "model": DEFAULT_MODEL,
        "checkpoint": None,
        "window": DEFAULT_SETTINGS.window,
        "stride": DEFAULT_SETTINGS.stride,
        "max_batch_items": DEFAULT_SETTINGS.max_batch_items,
        "batch_invariant": DEFAULT_SETTINGS.batch_invariant,
        "pooling": "mean",
        "store_piece_states": None,
        "set_vectors": False,
        "precision": DEFAULT_PRECISION,
    },
    default_score_weights={},
)
def make_bert(
    nlp: Language,
    name: str,
    model: BertEncoderModel,
    checkpoint: Optional[str],
    window: int,
    stride: int,
    max_batch_items: int,
    batch_invariant: bool,
    pooling: str,
    store_piece_states: Optional[bool],
    set_vectors: bool,
    precision: str,
) -> "Bert":
    """Create a `bert` component.

    checkpoint (Optional[str]): Local Hugging Face BERT directory (or hub id when online). Read at
        `nlp.initialize()` or on first use; a saved pipeline carries its own copy.
    window (int): Positions per window, [CLS]/[SEP] included (capped at max_position_embeddings).
    stride (int): Pieces shared by consecutive windows of a long text (Hugging Face's stride).
    max_batch_items (int): Piece budget of one padded batch (rows x padded length).
    batch_invariant (bool): Pad each window to a length of its own so that a text's scores are
        bit for bit the same whatever it is batched with (served and offline alike); costs some speed.
    pooling (str): Token vector from its pieces: "mean", "first", "last" or "max".
    store_piece_states (Optional[bool]): Keep per-piece hidden states (n_pieces, hidden) in
        `doc._.bert.last_hidden_state`; token vectors in `doc.tensor`, piece ids, offsets and
        the pooled vector are always set. null (default): only while a listening component
        reads them (`bert_ner` through `spacy-bert.BertOutputListener.v1`), so a plain
        `bert` (or one feeding spaCy's `ner`, `textcat`, ... or `bert_textcat`) keeps Docs
        light (a 300-piece MiniLM Doc would carry ~0.45 MB more through `nlp.pipe(n_process=...)`
        and `DocBin`). true: always. false: never; a listening component that reads piece
        states is then an error at `nlp.initialize()` (E390).
    set_vectors (bool): Set `doc.vector` / `span.vector` and similarity hooks (sentence-transformers'
        mean pooling; one more forward pass per Doc, see pipeline/similarity.py).
    precision (str): Prediction arithmetic: "float32" (default, identical to Hugging Face),
        "int8" (CPU), "bfloat16", "float16" (GPU) or "auto" (what this machine runs fastest; see
        `spacy_bert/layers/precision/policy.py`). Training always runs fp32; weights are saved in fp32.
    """
    return Bert(
        nlp.vocab,
        model,
        name,
        checkpoint=checkpoint,
        window=window,
        stride=stride,
        max_batch_items=max_batch_items,
        batch_invariant=batch_invariant,
        pooling=pooling,
        store_piece_states=store_piece_states,
        set_vectors=set_vectors,
        precision=precision,
    )


class Bert(BertModelPipe):
    """A shared BERT encoder; listeners downstream receive its token vectors and gradients.
    Settings, precision, lazy loading, clipping and serialisation (its `model/` folder: a
    Hugging Face `BertModel` directory) are `BertPipe`'s."""

    factory_name = "bert"
    saved_classes = BertModel  # a class, not a tuple: a saved folder without `architectures` loads

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
        batch_invariant: bool = DEFAULT_SETTINGS.batch_invariant,
        pooling: str = "mean",
        store_piece_states: Optional[bool] = None,
        set_vectors: bool = False,
        precision: str = DEFAULT_PRECISION,
    ) -> None:
        validate_encoder_settings(name, window, stride, max_batch_items, batch_invariant)
        check_pooling(pooling)
        install_extension()
        self.listener_map: Dict[str, List[BertListener]] = {}
        self._listening_models: Dict[str, Model] = {}  # name -> model of the listening component
        # Components listed in [training] frozen_components (read at initialize): their
        # listeners never send gradients, so no batch waits for them.
        self.frozen_components: Set[str] = set()
        # The gradient of the last training batch, until every listener that sends has sent.
        self._pending: Optional[SharedGradient] = None
        super().__init__(
            vocab, model, name, checkpoint=checkpoint, precision=precision, window=window, stride=stride,
            max_batch_items=max_batch_items, batch_invariant=batch_invariant, pooling=pooling, store_piece_states=store_piece_states, set_vectors=set_vectors,
        )
        self.model.attrs["replace_listener"] = self._replace_listener
        self.model.attrs["replace_listener_cfg"] = self._replace_listener_cfg

    # -- settings and loading (`BertPipe`) -------------------------------------------
    def _sync_settings(self) -> None:
        """The encoder settings, the component's name and the precision into the model."""
        self.model.attrs.update(checkpoint=self.cfg["checkpoint"], pooling=self.cfg["pooling"])
        self._write_encoder_settings(self.model)
        super()._sync_settings()

    def _no_checkpoint_error(self) -> str:
        return Errors.E400.format(name=self.name, factory=self.factory_name)

    def _install_dir(self, directory: Path, saved: bool) -> None:
        if saved:
            self.shim.from_disk(directory)
        else:
            self.shim.n_threads = EncoderSettings.of(self.model).n_threads
            self.shim.load_checkpoint(str(directory))

    def _after_load(self) -> None:
        """The vector width into the model and the listeners (a blank load has none)."""
        if not self.shim.loaded:
            return
        ensure_loaded(self.model)
        for listener in self.listeners:
            self._set_listener_width(listener)

    def _clipped_with(self) -> List[Model]:
        """The components listening to this encoder: with `spacy-bert.AdamW.v1` the encoder's
        gradients and theirs are clipped to one global norm (as one Hugging Face model would
        be); those components then skip their own clipping in this step."""
        return [self._listening_models[name] for name in self.listening_components if name in self._listening_models]

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
        if self.shim.loaded:
            self._set_listener_width(listener)

    def remove_listener(self, listener: BertListener, component_name: str) -> bool:
        if listener in self.listener_map.get(component_name, []):
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
                self._listening_models.pop(component_name, None)
            return True
        return False

    def find_listeners(self, component: Any) -> None:
        """Register the `BertListener` layers of `component` that listen to this component."""
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if isinstance(node, BertListener) and node.upstream_name in names:
                    self.add_listener(node, component.name)
                    # for the global gradient clipping of `finish_update` (neither spaCy's
                    # Cython components nor thinc models take weak references)
                    self._listening_models[component.name] = component.model

    @property
    def piece_state_readers(self) -> List[str]:
        """Listening components whose model reads piece states (e.g. `bert_ner`)."""
        return [c for c in self.listening_components if any(l.attrs.get("needs_piece_states") for l in self.listener_map[c])]

    @property
    def keeps_piece_states(self) -> bool:
        """Whether `set_annotations` writes piece states into `doc._.bert` (see the factory's
        `store_piece_states`)."""
        setting = self.cfg["store_piece_states"]
        return bool(self.piece_state_readers) if setting is None else bool(setting)

    def _gradient_senders(self) -> List[BertListener]:
        """The listeners that will send a gradient for a training batch: grad_factor > 0 and
        their component not frozen."""
        return [
            listener
            for component in self.listening_components
            if component not in self.frozen_components
            for listener in self.listener_map[component]
            if listener.sends_gradients
        ]

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
                "train_precision": tok2vec_model_cfg.get("train_precision", DEFAULT_TRAIN_PRECISION),
            }
        return {
            "@architectures": "spacy-bert.BertTokenVectors.v1",
            "checkpoint": self.cfg["checkpoint"],
            **EncoderSettings.of(self.model).to_cfg(),
            "pooling": self.cfg["pooling"],
            "grad_factor": listener_cfg.get("grad_factor", 1.0),
            "mixed_precision": tok2vec_model_cfg.get("mixed_precision", False),
            "grad_scaler_config": tok2vec_model_cfg.get("grad_scaler_config", {}),
            "train_precision": tok2vec_model_cfg.get("train_precision", DEFAULT_TRAIN_PRECISION),
        }

    # -- running ------------------------------------------------------------------
    @names_component_on_missing_checkpoint
    def predict(self, docs: Iterable[Doc]) -> List[BertDocOutput]:
        """Encode a batch of Docs without changing them."""
        docs = list(docs)
        if not docs:
            return []
        self._ensure_loaded()
        return self.model.predict(docs)

    def set_annotations(self, docs: Sequence[Doc], outputs: Sequence[BertDocOutput]) -> None:
        """Set `doc.tensor` (n_tokens, hidden) and `doc._.bert`; numpy arrays only."""
        # One device-to-host copy per field for the whole batch, not several per Doc.
        host = to_host(self.model.ops, outputs, with_pieces=self.keeps_piece_states)
        for doc, out, (tokens, pieces, pooled) in zip(docs, outputs, host):
            doc.tensor = tokens
            doc._.bert = BertDocData(
                # int32: half the bytes of int64 in every Doc (vocabularies and texts fit).
                piece_ids=np.asarray(out.piece_ids, dtype=np.int32),
                piece_offsets=np.asarray(out.piece_offsets, dtype=np.int32),
                lengths=out.alignment.lengths,
                piece_indices=out.alignment.piece_indices,
                last_hidden_state=pieces,
                pooler_output=pooled,
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
        """Encode the batch and hand its outputs to the listeners.

        Every listener with grad_factor > 0 (its component not frozen) sends its gradient into
        one `SharedGradient`; the encoder's backward pass (and, with `sgd`, its update) runs
        once, when the last of them has sent, or at the next `update` if one never does. With
        no such listener the batch is encoded without an autograd graph (`predict`)."""
        if losses is None:
            losses = {}
        validate_examples(examples, "Bert.update")
        losses.setdefault(self.name, 0.0)
        self._end_pending_batch()
        docs = [eg.predicted for eg in examples]
        if not docs:
            return losses
        self._ensure_loaded()
        senders = self._gradient_senders()
        if senders:
            set_dropout_rate(self.model, drop)
            outputs, bp_outputs = self.model.begin_update(docs)
        else:
            outputs, bp_outputs = self.predict(docs), None

        def add_loss(value: float) -> None:
            losses[self.name] += value

        pending = SharedGradient(
            len(docs),
            bp_outputs,
            expected=[id(listener) for listener in senders],
            on_loss=add_loss,
            on_done=None if sgd in (None, False) else (lambda: self.finish_update(sgd)),
            name=self.name,
        )
        self._pending = pending

        component_of = {id(listener): name for name, listeners in self.listener_map.items() for listener in listeners}

        def send(listener: BertListener, gradients: List[BertDocGradient]) -> None:
            pending.send(id(listener), component_of.get(id(listener), listener.name), gradients)

        # Every listener gets the whole outputs; token-vector listeners read `token_vectors`,
        # task heads (`BertOutputListener`) read piece states and the pooled output.
        batch_id = BertListener.get_batch_id(docs)
        for listener in self.listeners:
            listener.receive(batch_id, outputs, send)
        return losses

    def _end_pending_batch(self) -> None:
        """Backpropagate what the previous batch's listeners sent, if some expected listener
        never did (its component skipped the update), and release that batch."""
        if self._pending is not None:
            self._pending.flush()
            self._pending = None
        for listener in self.listeners:
            listener.clear()  # outputs of the ended batch that a listener never used

    def get_loss(self, examples: Iterable[Example], scores: Any) -> None:
        """The encoder has no loss of its own: gradients come from the listeners."""
        return None

    @names_component_on_missing_checkpoint
    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp: Optional[Language] = None) -> None:
        """Read the checkpoint (if not read yet) and tell the listeners the vector width.

        Raises E390 when `store_piece_states = false` but a listening component reads piece
        states. With `nlp`, reads `[training] frozen_components`: listeners of frozen
        components are not waited for in `update`."""
        readers = self.piece_state_readers
        if self.cfg["store_piece_states"] is False and readers:
            raise ValueError(Errors.E390.format(name=self.name, components=", ".join(map(repr, readers))))
        self._ensure_loaded()
        if nlp is not None:
            self.frozen_components = set(nlp.config.get("training", {}).get("frozen_components", []) or [])
        self.model.initialize(X=[eg.predicted for eg in islice(get_examples(), 2)] if get_examples else None)

    def add_label(self, label: str) -> int:
        raise NotImplementedError(Errors.E408.format(label=label))
