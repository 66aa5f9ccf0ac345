"""Multi-head attention (self and cross) through `torch.nn.functional.scaled_dot_product_attention`."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import BertConfig

KeyValue = Tuple[torch.Tensor, torch.Tensor]


class BertSelfAttention(nn.Module):
    """Query/key/value projections and scaled dot-product attention.

    With `is_cross_attention`, keys and values come from `encoder_hidden_states`.
    Parameter names (`query`, `key`, `value`) equal Hugging Face's.
    """

    def __init__(self, config: BertConfig, is_cross_attention: bool = False) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.is_cross_attention = is_cross_attention

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)  # (batch, heads, seq, head_dim)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        past_key_value: Optional[KeyValue] = None,
        output_attentions: bool = False,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[KeyValue]]:
        """Attend.

        Args:
            hidden_states (Tensor): (batch, seq, hidden) queries (and keys/values for self-attention).
            attention_mask (Optional[Tensor]): additive, broadcasting to (batch, heads, seq, key_len).
            encoder_hidden_states (Optional[Tensor]): (batch, enc_len, hidden) for cross-attention.
            past_key_value (Optional[Tuple[Tensor, Tensor]]): cached (batch, heads, past, head_dim)
                keys and values; self-attention appends to them, cross-attention reuses them.
            output_attentions (bool): Also return the attention probabilities.

        Returns:
            (context (batch, seq, hidden), probabilities (batch, heads, seq, key_len) or None,
             the (key, value) pair to cache).
        """
        batch, seq, hidden = hidden_states.shape
        query = self._split_heads(self.query(hidden_states))
        if self.is_cross_attention and past_key_value is not None:
            key, value = past_key_value  # encoder keys/values do not change between decoding steps
        else:
            source = encoder_hidden_states if self.is_cross_attention else hidden_states
            key = self._split_heads(self.key(source))
            value = self._split_heads(self.value(source))
            if past_key_value is not None:
                key = torch.cat([past_key_value[0], key], dim=2)
                value = torch.cat([past_key_value[1], value], dim=2)
        dropout_p = self.dropout.p if self.training else 0.0
        if output_attentions:
            # SDPA does not expose its probabilities: compute them explicitly.
            scores = torch.matmul(query, key.transpose(-1, -2)) * self.head_dim**-0.5
            if attention_mask is not None:
                scores = scores + attention_mask
            probs = scores.softmax(dim=-1)
            context = torch.matmul(self.dropout(probs), value)
        else:
            probs = None
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout_p)
        context = context.transpose(1, 2).reshape(batch, seq, hidden)  # (batch, seq, heads * head_dim)
        return context, probs, (key, value)


class BertSelfOutput(nn.Module):
    """Projection of the attention context, dropout, residual and post-LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    """`self` (attention) + `output` (projection, residual, LayerNorm), as Hugging Face nests them."""

    def __init__(self, config: BertConfig, is_cross_attention: bool = False) -> None:
        super().__init__()
        self.self = BertSelfAttention(config, is_cross_attention=is_cross_attention)
        self.output = BertSelfOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        past_key_value: Optional[KeyValue] = None,
        output_attentions: bool = False,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[KeyValue]]:
        context, probs, key_value = self.self(
            hidden_states, attention_mask, encoder_hidden_states, past_key_value, output_attentions
        )
        return self.output(context, hidden_states), probs, key_value
