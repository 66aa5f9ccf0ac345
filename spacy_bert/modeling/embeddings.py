"""`BertEmbeddings`: word + position + token-type embeddings, LayerNorm, dropout."""
from typing import Optional

import torch
from torch import nn

from ..errors import Errors
from .config import BertConfig
from .inputs import check_id_range


class BertEmbeddings(nn.Module):
    """Sum of word, absolute position and token-type embeddings.

    Parameter names equal Hugging Face's (`word_embeddings`, `position_embeddings`,
    `token_type_embeddings`, `LayerNorm`) so state dicts map one to one.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        past_length: int = 0,
        validate: bool = True,
    ) -> torch.Tensor:
        """Embed a batch.

        Args:
            input_ids (Optional[LongTensor]): (batch, seq) piece ids; or give `inputs_embeds`.
            token_type_ids (Optional[LongTensor]): (batch, seq) segment ids; zeros when None.
            position_ids (Optional[LongTensor]): (batch, seq) or (1, seq); `past_length + arange(seq)` when None.
            inputs_embeds (Optional[Tensor]): (batch, seq, hidden) word vectors replacing the lookup.
            past_length (int): Positions already consumed by `past_key_values` (incremental decoding).
            validate (bool): Check that every id is in range (reads the ids: a device sync).
                Shapes and dtypes are `BertModel.forward`'s job (see `inputs.py`).

        Returns:
            Tensor: (batch, seq, hidden).
        """
        if inputs_embeds is None:
            assert input_ids is not None  # BertModel.forward passes one of the two
            if validate:
                check_id_range(input_ids, self.config.vocab_size, Errors.E004, "vocab_size")
            inputs_embeds = self.word_embeddings(input_ids)
        batch_size, seq_length = inputs_embeds.shape[:2]
        device = inputs_embeds.device
        limit = self.config.max_position_embeddings
        if position_ids is None:
            if past_length + seq_length > limit:
                raise ValueError(Errors.E005.format(length=past_length + seq_length, limit=limit))
            position_ids = torch.arange(past_length, past_length + seq_length, device=device).unsqueeze(0)
        elif validate and position_ids.numel() and (int(position_ids.max()) >= limit or int(position_ids.min()) < 0):
            raise ValueError(Errors.E005.format(length=int(position_ids.max()) + 1, limit=limit))
        embeddings = inputs_embeds + self.position_embeddings(position_ids)
        if token_type_ids is None:
            # Every position has type 0: add the single row instead of a lookup per position.
            embeddings = embeddings + self.token_type_embeddings.weight[0]
        else:
            if validate:
                check_id_range(token_type_ids, self.config.type_vocab_size, Errors.E007, "type_vocab_size")
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))
