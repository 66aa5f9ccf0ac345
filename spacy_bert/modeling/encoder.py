"""`BertEncoder` (the stack of layers) and `BertPooler` (tanh projection of `[CLS]`)."""
from typing import List, Optional, Tuple

import torch
from torch import nn

from .config import BertConfig
from .layer import BertLayer
from .outputs import PastKeyValues


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        past_key_values: PastKeyValues = None,
        use_cache: bool = False,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> Tuple[torch.Tensor, PastKeyValues, Optional[tuple], Optional[tuple], Optional[tuple]]:
        """Run every layer.

        Returns:
            (last hidden (batch, seq, hidden), cache or None, hidden states (embeddings + each layer)
             or None, self-attention probs or None, cross-attention probs or None).
        """
        all_hidden: List[torch.Tensor] = [hidden_states] if output_hidden_states else []
        all_self: List[torch.Tensor] = []
        all_cross: List[torch.Tensor] = []
        cache: List[Tuple[torch.Tensor, ...]] = []
        for i, layer in enumerate(self.layer):
            hidden_states, self_probs, cross_probs, present = layer(
                hidden_states,
                attention_mask,
                encoder_hidden_states,
                encoder_attention_mask,
                past_key_value=None if past_key_values is None else past_key_values[i],
                output_attentions=output_attentions,
            )
            if use_cache:
                cache.append(present)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_self.append(self_probs)
                if cross_probs is not None:
                    all_cross.append(cross_probs)
        return (
            hidden_states,
            tuple(cache) if use_cache else None,
            tuple(all_hidden) if output_hidden_states else None,
            tuple(all_self) if output_attentions else None,
            tuple(all_cross) if output_attentions and all_cross else None,
        )


class BertPooler(nn.Module):
    """tanh(W h_[CLS] + b): (batch, seq, hidden) -> (batch, hidden)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))
