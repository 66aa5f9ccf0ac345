"""`BertLayer`: self-attention, optional cross-attention, feed-forward; post-LayerNorm."""
from typing import Optional, Tuple

import torch
from torch import nn

from .activations import ACTIVATIONS
from .attention import BertAttention, KeyValue
from .config import BertConfig
from ..errors import Errors


class BertIntermediate(nn.Module):
    """First feed-forward projection and activation: (batch, seq, hidden) -> (batch, seq, intermediate)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACTIVATIONS[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    """Second feed-forward projection, dropout, residual, LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    """One transformer layer."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.add_cross_attention = config.add_cross_attention
        if self.add_cross_attention:
            self.crossattention = BertAttention(config, is_cross_attention=True)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        past_key_value: Optional[Tuple[torch.Tensor, ...]] = None,
        output_attentions: bool = False,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor], Tuple[torch.Tensor, ...]]:
        """Run the layer.

        Args:
            hidden_states (Tensor): (batch, seq, hidden).
            attention_mask, encoder_attention_mask (Optional[Tensor]): additive masks (see `masks.py`).
            encoder_hidden_states (Optional[Tensor]): (batch, enc_len, hidden).
            past_key_value (Optional[tuple]): (self_k, self_v) or (self_k, self_v, cross_k, cross_v).

        Returns:
            (hidden (batch, seq, hidden), self-attention probs or None, cross-attention probs or None,
             the key/value tuple to cache for this layer).
        """
        self_past: Optional[KeyValue] = None if past_key_value is None else (past_key_value[0], past_key_value[1])
        cross_past: Optional[KeyValue] = None
        if past_key_value is not None and len(past_key_value) == 4:
            cross_past = past_key_value[2:]
        attention_output, self_probs, present = self.attention(
            hidden_states, attention_mask, past_key_value=self_past, output_attentions=output_attentions
        )
        cross_probs = None
        if encoder_hidden_states is not None or cross_past is not None:
            if not self.add_cross_attention:
                raise ValueError(Errors.E009)
            attention_output, cross_probs, cross_present = self.crossattention(
                attention_output,
                encoder_attention_mask,
                encoder_hidden_states,
                past_key_value=cross_past,
                output_attentions=output_attentions,
            )
            present = present + cross_present
        layer_output = self.output(self.intermediate(attention_output), attention_output)
        return layer_output, self_probs, cross_probs, present
