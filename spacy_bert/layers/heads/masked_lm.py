"""`bert_fill_mask`'s model: load a masked-LM checkpoint into a `BertShim`, and the thinc model.

`pipeline/fill_mask.py` never touches torch (DESIGN.md); everything it calls takes and returns
numpy arrays and Python numbers. The model sits in a `BertShim` (a `BertForMaskedLM`, or a
`BertForPreTraining` when NSP is trained or the checkpoint is one), so thinc's optimiser,
`finish_update` and the grad scaler see its parameters as for every other component.

Running is the encoder stages' (`layers/stages/run.py`), with `MaskedLMAdapter` (`layers/heads/mlm.py`)
around the shim's model so that only scored positions are projected onto the vocabulary:
fill-mask and `score_words` in `layers/heads/mlm_fill.py`, MLM/NSP pretraining and its scores in
`layers/heads/mlm_train.py`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Type, Union, cast

import numpy as np
from spacy.util import registry
from thinc.api import Model

from ...checkpoint import load_pretrained
from ...checkpoint.files import read_config_dict
from ...errors import Warnings
from ...modeling import BertForMaskedLM, BertForPreTraining, BertModel, BertPreTrainedModel
from ...tokenization import BertTokenizer
from ..encoder import run_load_hook
from ..stages.hooks import MaskPieces
from .mlm_fill import FilledMasks, fill_masks
from .mlm_train import mlm_begin_update
from ..stages.run import loaded_tokenizer
from ..settings import DEFAULT_SETTINGS, SETTINGS_ATTR, EncoderSettings
from ..shim.bert_shim import BertShim
from ..precision.training import DEFAULT_TRAIN_PRECISION

__all__ = ["MLM_CLASSES", "MaskedLM", "install_masked_lm", "load_masked_lm", "model_class_name"]

MLM_CLASSES = {"BertForMaskedLM": BertForMaskedLM, "BertForPreTraining": BertForPreTraining}
MLMModel = Union[BertForMaskedLM, BertForPreTraining]


# -- loading -------------------------------------------------------------------------------------
def mlm_class_for(architectures: Sequence[str], needs_nsp: bool) -> Type[MLMModel]:
    """`BertForPreTraining` when NSP is trained or the checkpoint is one (bert-base-uncased),
    else `BertForMaskedLM`."""
    if needs_nsp or "BertForPreTraining" in architectures:
        return BertForPreTraining
    return BertForMaskedLM


def load_masked_lm(directory: Path, needs_nsp: bool, name: str) -> Tuple[MLMModel, BertTokenizer]:
    """(model, tokenizer) for `bert_fill_mask` from a Hugging Face directory.

    A checkpoint with the needed heads loads them strictly. A checkpoint without an MLM head
    (a plain `BertModel`, e.g. all-MiniLM-L6-v2) or without the NSP head that `needs_nsp` asks
    for gets fresh heads, initialised as Hugging Face initialises them (the decoder tied to the
    word embeddings), announced with W630.
    """
    architectures = read_config_dict(directory).get("architectures") or []
    cls = mlm_class_for(architectures, needs_nsp)
    tokenizer = BertTokenizer.from_pretrained(directory)
    if cls.__name__ in architectures:
        return load_pretrained(cls, directory), tokenizer
    fresh = "cls.predictions + cls.seq_relationship" if cls is BertForPreTraining else "cls.predictions"
    source_class: Type[BertPreTrainedModel] = BertModel
    if "BertForMaskedLM" in architectures and cls is BertForPreTraining:
        fresh, source_class = "cls.seq_relationship", BertForMaskedLM
    # The fresh heads draw from torch's global generator as they always have: the checkpoint's
    # own class is built first (its draws; the model is dropped at once, so memory holds one
    # model at a time), then `cls`, fully initialised, takes the weights. A seeded run (spaCy's
    # `fix_random_seed`) gets the heads, and the training that follows, it got before.
    load_pretrained(source_class, directory, full_init=True)
    warnings.warn(Warnings.W630.format(name=name, path=directory, architectures=architectures or "none", heads=fresh, cls=cls.__name__))
    with warnings.catch_warnings():
        # The loader initialises the missing heads (and pooler) as Hugging Face does and says so
        # in W102; W630 above says it in this component's words.
        warnings.filterwarnings("ignore", message=r"\[W102\]")
        # An encoder checkpoint's pooler, which the MLM class has no use for, was never announced.
        warnings.filterwarnings("ignore", message=r"\[W101\].*does not use: bert\.pooler\.dense\.bias, bert\.pooler\.dense\.weight\.$")
        return load_pretrained(cls, directory, full_init=True), tokenizer


# -- the thinc model -------------------------------------------------------------------------------
#: `MaskedLM` attrs the component keeps current (`BertFillMask._sync_settings`), with their defaults.
ATTRS = {
    SETTINGS_ATTR: DEFAULT_SETTINGS,
    "top_k": 5,
    "mlm_probability": 0.15,
    "whole_word": False,
    "component": "bert_fill_mask",
}


def masked_lm_settings(model: Model) -> EncoderSettings:
    """The model's window settings fitted to the loaded model's positions (W370 when capped)."""
    shim = cast(BertShim, model.shims[0])
    return EncoderSettings.of(model).fit_to(shim.bert.config.max_position_embeddings, model.attrs["component"])


def _forward(model: Model, texts: Sequence[str], is_train: bool) -> Tuple[object, Callable]:
    """Prediction: the `[MASK]`s of `texts` filled (List[FilledMasks], `top_k` per mask).
    Training: the masked-LM loss of `texts` masked by `MaskPieces` (`mlm_probability`; the
    words of whole-word masking are a component's Docs', so texts mask by pieces), as
    ((loss, MaskedLMStats), backprop(d_loss)). The component itself calls `mlm_update`, which
    holds one batch's activations instead of all."""
    run_load_hook(model)  # the component's load, when its model is called directly
    shim = cast(BertShim, model.shims[0])
    settings = masked_lm_settings(model)
    if not is_train:
        filled: List[FilledMasks] = fill_masks(shim, settings, list(texts), int(model.attrs["top_k"]))
        return filled, lambda d_filled: []
    tokenizer = loaded_tokenizer(shim)
    hook = MaskPieces(tokenizer.mask_token_id, tokenizer.vocab_size, probability=model.attrs["mlm_probability"])
    rng = np.random.default_rng(int(np.random.randint(0, 2**31 - 1)))  # follows thinc's fix_random_seed
    result, backprop_loss = mlm_begin_update(shim, settings, list(texts), hook, rng)

    def backprop(d_loss: float) -> List[str]:
        backprop_loss(d_loss)
        return []

    return result, backprop


#: bert_fill_mask's thinc model: texts -> List[FilledMasks] in prediction, (loss, MaskedLMStats)
#: in training (`_forward`).
MaskedLMModel = Model[Sequence[str], Any]


def MaskedLM(mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None, train_precision: str = DEFAULT_TRAIN_PRECISION) -> MaskedLMModel:
    """The (empty) thinc model of `bert_fill_mask`: a `BertShim` that will hold a
    `BertForMaskedLM` / `BertForPreTraining`. Its input is a list of texts (see `_forward`).
    train_precision (str): see `BertShim` (bf16 autocast of training on the CPU)."""
    shim = BertShim(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config, train_precision=train_precision, where="spacy-bert.MaskedLM.v1")
    return Model("bert-masked-lm", _forward, attrs=dict(ATTRS), shims=[shim])


@registry.architectures("spacy-bert.MaskedLM.v1")
def masked_lm_v1(mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None, train_precision: str = DEFAULT_TRAIN_PRECISION) -> MaskedLMModel:
    """The model of `bert_fill_mask` (checkpoint, windows and objective are the component's settings)."""
    return MaskedLM(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config, train_precision=train_precision)


def model_class_name(shim: BertShim) -> str:
    return type(shim.model).__name__


def install_masked_lm(shim: BertShim, directory: Path, needs_nsp: bool, name: str) -> None:
    """Load a checkpoint (or a saved component's model/ folder) into the shim."""
    model, tokenizer = load_masked_lm(Path(directory), needs_nsp, name)
    shim.set_model(model, tokenizer)
