"""`spacy-bert.BertEncoder.v1`: Docs in, BERT outputs per Doc out, as a thinc model.

The forward pass composes the encoder stages (each its own module, usable alone by a
component that stops early or hooks in):
1. *encode* (`stages/encode.py`): each Doc's whole text once with the WordPiece tokenizer;
2. *plan* (`stages/windows.py`, `stages/batching.py`): texts longer than the model become overlapping
   windows, never truncated; all windows are sorted by length and padded into batches under
   a piece budget;
3. *hooks* (`stages/hooks.py`): not used here (masked LM, fill-mask);
4. *run* (`stages/run.py`): each batch through the shim's torch model;
5. *merge* (`stages/merge.py`): each piece from the window where it has the most context, piece
   vectors pooled into token vectors.
Backprop reverses 5 -> 4 with one `torch.autograd.backward` over all batches.

The checkpoint is read lazily: at `initialize()` or at the first forward pass, whichever comes
first; a model restored from bytes never reads it.
"""
from typing import Callable, List, Optional, Tuple, cast

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model

from ..errors import Errors
from .stages.merge import merge_windows, token_offsets
from .stages.outputs import BertDocGradient, BertDocOutput
from .stages.pooling import check_pooling
from .precision.policy import DEFAULT_PRECISION, check_precision
from .precision.training import DEFAULT_TRAIN_PRECISION
from .stages.run import run_inputs
from .settings import DEFAULT_SETTINGS, SETTINGS_ATTR, EncoderSettings
from .shim.bert_shim import BertShim

__all__ = [
    "BertDocGradient",
    "BertDocOutput",
    "BertEncoder",
    "BertEncoderModel",
    "BertShim",
    "effective_window",
    "encoder_settings",
    "ensure_loaded",
    "get_shim",
    "LOAD_HOOK",
    "run_load_hook",
    "token_offsets",
]

BertEncoderModel = Model[List[Doc], List[BertDocOutput]]
#: attrs key of a component's model: a callable `hook(model)` that the owning component installs
#: (`pipeline/base.py`), run before the model's first use (init or forward), so the component's
#: own load, its one "is it loaded" check, runs even when `component.model` is called directly (a
#: task's fine-tuned head, `bert`'s listener widths). A model without one (a layer built alone,
#: or the copy `nlp.replace_listeners` makes) reads its `checkpoint` attr itself.
LOAD_HOOK = "load_weights"


def run_load_hook(model: Model) -> None:
    """Run `model`'s `LOAD_HOOK`, if it has one."""
    hook = model.attrs.get(LOAD_HOOK)
    if hook is not None:
        hook(model)


def BertEncoder(
    checkpoint: Optional[str] = None,
    window: int = DEFAULT_SETTINGS.window,
    stride: int = DEFAULT_SETTINGS.stride,
    max_batch_items: int = DEFAULT_SETTINGS.max_batch_items,
    batch_invariant: bool = DEFAULT_SETTINGS.batch_invariant,
    pooling: str = "mean",
    mixed_precision: bool = False,
    grad_scaler_config: Optional[dict] = None,
    n_threads: Optional[int] = DEFAULT_SETTINGS.n_threads,
    precision: str = DEFAULT_PRECISION,
    train_precision: str = DEFAULT_TRAIN_PRECISION,
) -> BertEncoderModel:
    """Build the (empty) encoder model; weights arrive from `checkpoint` or from bytes.

    Args:
        checkpoint (Optional[str]): Local Hugging Face BERT directory or hub id.
        window, stride, max_batch_items, batch_invariant, n_threads: see `EncoderSettings`.
        pooling (str): How a token's pieces become its vector: mean, first, last or max.
        mixed_precision (bool): Half-precision autocast on CUDA (decided at first use from the
            model's device; fp32 on the CPU).
        grad_scaler_config (Optional[dict]): Arguments of thinc's `PyTorchGradScaler`.
        precision (str): Prediction precision, see `layers/precision/policy.py` (training stays fp32).
        train_precision (str): Training arithmetic on the CPU: "float32", "bfloat16" (autocast,
            fp32 weights) or "auto" (bf16 on AMX CPUs); see `layers/precision/training.py`.
    """
    check_precision(precision, "bert-encoder")
    check_pooling(pooling)
    return Model(
        "bert-encoder",
        forward,
        init=init,
        dims={"nO": None},
        attrs={
            "checkpoint": checkpoint,
            "pooling": pooling,
            SETTINGS_ATTR: EncoderSettings(
                window=window, stride=stride, max_batch_items=max_batch_items, batch_invariant=batch_invariant,
                n_threads=n_threads, precision=precision,
            ),
        },
        shims=[
            BertShim(
                mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config, n_threads=n_threads,
                precision=precision, train_precision=train_precision,
            )
        ],
    )


def get_shim(model: Model) -> BertShim:
    return cast(BertShim, model.shims[0])


def ensure_loaded(model: Model) -> BertShim:
    """Read the checkpoint if the weights are not there yet; set `nO` to the hidden size; hand
    the model's prediction precision (its `EncoderSettings`, written by the component) to the shim."""
    shim = get_shim(model)
    if not shim.loaded:
        run_load_hook(model)
    settings = EncoderSettings.of(model)
    shim.name = model.attrs.get("component", model.name)
    shim.precision = settings.precision
    if not shim.loaded:
        checkpoint = model.attrs.get("checkpoint")
        if not checkpoint:
            raise ValueError(Errors.E353.format(name=model.name))
        shim.n_threads = settings.n_threads
        shim.load_checkpoint(checkpoint)
    hidden = shim.bert.config.hidden_size
    if model.maybe_get_dim("nO") != hidden:
        model.set_dim("nO", hidden, force=True)
    return shim


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    ensure_loaded(model)


def encoder_settings(model: Model, shim: BertShim) -> EncoderSettings:
    """The model's settings fitted to its loaded BERT's positions (W370 when the stride must change)."""
    name = model.attrs.get("component", model.name)
    return EncoderSettings.of(model).fit_to(shim.bert.config.max_position_embeddings, name)


def effective_window(window: int, stride: int, max_positions: int) -> Tuple[int, int]:
    """(window, stride) used for a model with `max_positions` positions (`EncoderSettings.fit_to`)."""
    fitted = EncoderSettings(window=window, stride=stride).fit_to(max_positions)
    return fitted.window, fitted.stride


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[BertDocOutput], Callable]:
    if not docs:
        return [], lambda gradients: []
    shim = ensure_loaded(model)
    encoded, plan, run = run_inputs(shim, encoder_settings(model, shim), [doc.text for doc in docs], is_train=is_train)
    return merge_windows(model.ops, docs, encoded, plan, run, model.attrs["pooling"], is_train)


@registry.architectures("spacy-bert.BertEncoder.v1")
def bert_encoder_v1(
    mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None, train_precision: str = DEFAULT_TRAIN_PRECISION
) -> BertEncoderModel:
    """The encoder of the `bert` component (checkpoint, windows, batching and pooling are the
    component's settings, written into the model by the component)."""
    return BertEncoder(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config, train_precision=train_precision)
