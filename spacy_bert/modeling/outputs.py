"""Output records of the models, with the field names of Hugging Face's BERT outputs.

Each record is a dataclass; like Hugging Face's `ModelOutput` it can also be indexed by
position (`outputs[0]`) or name (`outputs["logits"]`), where positions count only the fields
that are set, so `loss` is `outputs[0]` exactly when labels were given.
"""
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Dict, Optional, Tuple

import torch

Tensor = torch.Tensor
Layers = Optional[Tuple[Tensor, ...]]
#: One entry per layer: (self_key, self_value) or (self_key, self_value, cross_key, cross_value),
#: each of shape (batch, heads, seq, head_dim).
PastKeyValues = Optional[Tuple[Tuple[Tensor, ...], ...]]


class ModelOutput:
    """Tuple-like access to the fields of an output dataclass."""

    # set by @dataclass on every subclass (makes `fields(self)` well-typed)
    __dataclass_fields__: ClassVar[Dict[str, Any]]

    def to_tuple(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def returned(self, return_dict: bool) -> Any:
        """The record itself, or its tuple when the caller passed `return_dict=False`."""
        return self if return_dict else self.to_tuple()

    def keys(self) -> Tuple[str, ...]:
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self):
        return iter(self.to_tuple())

    def __len__(self) -> int:
        return len(self.to_tuple())


@dataclass
class BaseModelOutputWithPoolingAndCrossAttentions(ModelOutput):
    """`last_hidden_state` (batch, seq, hidden); `pooler_output` (batch, hidden) or None;
    `hidden_states`: embeddings + every layer, each (batch, seq, hidden);
    `attentions`/`cross_attentions`: every layer, (batch, heads, seq, key_len)."""

    last_hidden_state: Optional[Tensor] = None
    pooler_output: Optional[Tensor] = None
    past_key_values: PastKeyValues = None
    hidden_states: Layers = None
    attentions: Layers = None
    cross_attentions: Layers = None


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    """`prediction_logits` (batch, seq, vocab); `seq_relationship_logits` (batch, 2)."""

    loss: Optional[Tensor] = None
    prediction_logits: Optional[Tensor] = None
    seq_relationship_logits: Optional[Tensor] = None
    hidden_states: Layers = None
    attentions: Layers = None


@dataclass
class MaskedLMOutput(ModelOutput):
    """`logits` (batch, seq, vocab)."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    hidden_states: Layers = None
    attentions: Layers = None


@dataclass
class CausalLMOutputWithCrossAttentions(ModelOutput):
    """`logits` (batch, seq, vocab); `past_key_values` for the next decoding step."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    past_key_values: PastKeyValues = None
    hidden_states: Layers = None
    attentions: Layers = None
    cross_attentions: Layers = None


@dataclass
class NextSentencePredictorOutput(ModelOutput):
    """`logits` (batch, 2): index 0 = B continues A, 1 = B is random."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    hidden_states: Layers = None
    attentions: Layers = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    """`logits` (batch, num_labels)."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    hidden_states: Layers = None
    attentions: Layers = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    """`logits` (batch, num_choices)."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    hidden_states: Layers = None
    attentions: Layers = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    """`logits` (batch, seq, num_labels)."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    hidden_states: Layers = None
    attentions: Layers = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    """`start_logits`, `end_logits` (batch, seq)."""

    loss: Optional[Tensor] = None
    start_logits: Optional[Tensor] = None
    end_logits: Optional[Tensor] = None
    hidden_states: Layers = None
    attentions: Layers = None
