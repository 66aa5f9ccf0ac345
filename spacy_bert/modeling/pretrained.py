"""`BertPreTrainedModel`: weight initialisation, weight tying and the Hugging Face directory API.

The file format behind `from_pretrained`/`save_pretrained` is `spacy_bert.checkpoint`'s
knowledge, and `checkpoint/` imports this package, not the other way round: it registers its
two functions here (`register_checkpoint_io`) when it is imported. The package root imports
`checkpoint/`, and importing `spacy_bert.modeling` runs the package root first, so the methods
always work; `modeling/` itself imports nothing above it (tests/test_layering.py).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, Mapping, Optional, Type, TypeVar, Union, cast

import torch
from torch import nn

from ..errors import Errors
from .config import BertConfig

ModelT = TypeVar("ModelT", bound="BertPreTrainedModel")

#: The arguments of `BertModel.forward` a head passes through to its encoder (`run_bert`).
ENCODER_ARGUMENTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "position_ids",
    "inputs_embeds",
    "encoder_hidden_states",
    "encoder_attention_mask",
    "past_key_values",
    "use_cache",
    "output_attentions",
    "output_hidden_states",
)

#: "load": (cls, name_or_path, **kwargs) -> model; "save": (model, directory, tokenizer) -> None.
_CHECKPOINT_IO: Dict[str, Callable[..., Any]] = {}


def register_checkpoint_io(load: Callable[..., Any], save: Callable[..., Any]) -> None:
    """Install the functions behind `from_pretrained` (`load(cls, name_or_path, **kwargs)`) and
    `save_pretrained` (`save(model, directory, tokenizer=...)`). Called by `spacy_bert.checkpoint`."""
    _CHECKPOINT_IO.update(load=load, save=save)


def _checkpoint_io(kind: str, method: str) -> Callable[..., Any]:
    if kind not in _CHECKPOINT_IO:
        raise RuntimeError(Errors.E160.format(method=method))
    return _CHECKPOINT_IO[kind]


class BertPreTrainedModel(nn.Module):
    """Base of every BERT model class.

    Subclasses build their modules in `__init__` and call `post_init()` last.
    `from_pretrained`/`save_pretrained` read and write Hugging Face checkpoint directories
    through the functions `spacy_bert.checkpoint` registers (see the module docstring).
    """

    config_class = BertConfig
    base_model_prefix = "bert"
    #: Check input values in `forward` (ids in range; and read the attention mask to skip it when
    #: it has no padding). These checks read tensors, which waits for the device (a sync per
    #: call on GPU). Callers whose inputs are valid by construction set it to False; shape and
    #: dtype checks always run. Setting it on a model sets it on every BERT model inside it.
    _validate_inputs: bool = True

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(Errors.E020.format(type_name=type(config).__name__))
        self.config = config

    # -- initialisation -------------------------------------------------------
    def _init_weights(self, module: nn.Module) -> None:
        """Hugging Face's BERT initialisation: N(0, initializer_range) weights, zero biases, unit LayerNorm."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        bias = getattr(module, "bias", None)
        if type(module).__name__ == "BertLMPredictionHead" and isinstance(bias, nn.Parameter):
            nn.init.zeros_(bias)

    def post_init(self) -> None:
        """Initialise every weight, then tie the output embeddings."""
        self.apply(self._init_weights)
        self.tie_weights()

    def get_input_embeddings(self) -> nn.Embedding:
        base: Any = getattr(self, self.base_model_prefix, self)  # a head's `.bert`, or the BertModel
        return base.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        base: Any = getattr(self, self.base_model_prefix, self)
        base.embeddings.word_embeddings = value

    def get_output_embeddings(self) -> Optional[nn.Linear]:
        """The vocabulary projection of an LM head, or None for models without one."""
        return None

    def tie_weights(self) -> None:
        """Share the LM decoder weight with the word embeddings (when `tie_word_embeddings`)."""
        output = self.get_output_embeddings()
        if output is not None and self.config.tie_word_embeddings:
            output.weight = self.get_input_embeddings().weight

    # -- the heads' encoder pass ----------------------------------------------
    def run_bert(self, arguments: Mapping[str, Any]) -> Any:
        """`self.bert(...)` with the encoder's arguments taken from `arguments` (a head's forward
        `locals()`: labels and the head's own options are left out; an argument the head does
        not take keeps `BertModel.forward`'s default).

        Every `BertFor*` head runs its encoder through this one call, so an encoder argument is
        passed the same way by every head.

        Returns:
            BaseModelOutputWithPoolingAndCrossAttentions: `last_hidden_state` (batch, seq, hidden),
            `pooler_output` (batch, hidden) or None, and the optional fields asked for.
        """
        bert = cast(nn.Module, self.bert)  # every BertFor* head has one
        return bert(**{name: arguments[name] for name in ENCODER_ARGUMENTS if name in arguments})

    # -- conveniences ---------------------------------------------------------
    @property
    def validate_inputs(self) -> bool:
        """Whether `forward` checks input values (see `_validate_inputs`). Default True."""
        return self._validate_inputs

    @validate_inputs.setter
    def validate_inputs(self, value: bool) -> None:
        # A head class (e.g. BertForTokenClassification) runs its inner `self.bert`: set both.
        for module in self.modules():
            if isinstance(module, BertPreTrainedModel):
                module.__dict__["_validate_inputs"] = bool(value)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        """Number of distinct parameters (tied ones counted once)."""
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())

    # -- Hugging Face directories --------------------------------------------
    @classmethod
    def from_pretrained(
        cls: Type[ModelT], pretrained_model_name_or_path: Union[str, os.PathLike], **kwargs: Any
    ) -> ModelT:
        """Load a Hugging Face checkpoint directory (or hub id, when `huggingface_hub` is online).

        Keyword arguments: `config` (a BertConfig replacing `config.json`), config overrides such
        as `num_labels=3`, `torch_dtype`/`dtype`, `add_pooling_layer` (BertModel). See
        `spacy_bert.checkpoint.load_pretrained` for the loading rules.
        """
        return _checkpoint_io("load", "from_pretrained")(cls, pretrained_model_name_or_path, **kwargs)

    def save_pretrained(self, save_directory: Union[str, os.PathLike], tokenizer: Any = None) -> None:
        """Write `config.json` and `model.safetensors` (and the tokenizer's files, when given)."""
        _checkpoint_io("save", "save_pretrained")(self, save_directory, tokenizer=tokenizer)
