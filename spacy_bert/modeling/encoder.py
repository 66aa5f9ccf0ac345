"""`BertEncoder` (the stack of layers), `BertPooler` (tanh projection of `[CLS]`) and
`project_rows`, which keeps a projection of few rows on the kernel of many."""
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


#: A matrix product over fewer rows than this may run other CPU kernels (matrix-vector for one
#: row) whose sums differ in the last bits from those of many rows (measured with torch 2.13 on
#: an AVX-512 EPYC: 1, 2-3 and 4+ rows give three results), so a vector would change with the
#: number of rows projected beside it. `project_rows` pads to this many.
MIN_PROJECTED_ROWS = 16


def project_rows(module: nn.Module, rows: torch.Tensor, min_rows: int = MIN_PROJECTED_ROWS) -> torch.Tensor:
    """`module(rows)` for rows (n, features), computed on at least `min_rows` rows (zero rows
    appended, their outputs dropped): each row's output is then the same whatever n is (see
    MIN_PROJECTED_ROWS). Returns (n, out_features)."""
    n = rows.shape[0]
    if n >= min_rows:
        return module(rows)
    return module(torch.cat([rows, rows.new_zeros(min_rows - n, *rows.shape[1:])]))[:n]


class BertPooler(nn.Module):
    """tanh(W h_[CLS] + b): (batch, seq, hidden) -> (batch, hidden).

    The `[CLS]` rows are projected as at least MIN_PROJECTED_ROWS rows (`project_rows`): a
    text's pooled vector is the same alone as in a batch (Hugging Face's can differ in the
    last bits); the extra rows cost hidden^2 multiply-adds each, nothing beside the encoder."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(project_rows(self.dense, hidden_states[:, 0]))
