"""`BertModel`: embeddings, encoder and (optionally) the pooler."""
from typing import Optional

import torch

from ..errors import Errors
from .config import BertConfig
from .embeddings import BertEmbeddings
from .encoder import BertEncoder, BertPooler
from .inputs import check_id_tensor, check_input_shape, check_inputs_embeds, check_per_position
from .masks import cross_attention_mask, self_attention_mask
from .outputs import BaseModelOutputWithPoolingAndCrossAttentions, PastKeyValues
from .pretrained import BertPreTrainedModel


class BertModel(BertPreTrainedModel):
    """The bare BERT encoder (or decoder, with `config.is_decoder`).

    Args:
        config (BertConfig): The hyper-parameters.
        add_pooling_layer (bool): Build the `[CLS]` pooler (`pooler_output`).
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        past_key_values: PastKeyValues = None,
        use_cache: Optional[bool] = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
    ):
        """Encode a batch.

        Args:
            input_ids (Optional[LongTensor]): (batch, seq) piece ids.
            attention_mask (Optional[Tensor]): (batch, past + seq), 1 = real piece, 0 = padding.
            token_type_ids (Optional[LongTensor]): (batch, seq) segment ids.
            position_ids (Optional[LongTensor]): (batch, seq) positions.
            inputs_embeds (Optional[Tensor]): (batch, seq, hidden) instead of `input_ids`.
            encoder_hidden_states (Optional[Tensor]): (batch, enc_len, hidden) for cross-attention.
            encoder_attention_mask (Optional[Tensor]): (batch, enc_len) padding mask of the encoder.
            past_key_values (Optional[tuple]): cache from a previous decoder call.
            use_cache (Optional[bool]): Return `past_key_values` (decoders only; default `config.use_cache`).
            output_attentions, output_hidden_states (bool): Also return per-layer tensors.
            return_dict (bool): Return the output record (True) or its tuple.

        Returns:
            BaseModelOutputWithPoolingAndCrossAttentions: `last_hidden_state` (batch, seq, hidden),
            `pooler_output` (batch, hidden) or None, and the optional fields asked for.
        """
        if (input_ids is None) == (inputs_embeds is None):
            got = "both" if input_ids is not None else "neither"
            raise ValueError(Errors.E006.format(got=got))
        config = self.config
        # Shapes and dtypes are metadata: always checked. Id ranges and "is the mask all ones"
        # read the tensors (a device sync): only while `validate_inputs` is True.
        validate = self.validate_inputs
        if input_ids is not None:
            batch_size, seq_length = check_input_shape("input_ids", check_id_tensor("input_ids", input_ids).shape, 2)
        else:
            check_inputs_embeds(inputs_embeds, config.hidden_size)
            assert inputs_embeds is not None  # check_inputs_embeds refuses None (E032)
            batch_size, seq_length = inputs_embeds.shape[:2]
        check_per_position("token_type_ids", token_type_ids, batch_size, seq_length)
        check_per_position("position_ids", position_ids, batch_size, seq_length)
        use_cache = (config.use_cache if use_cache is None else use_cache) and config.is_decoder
        past_length = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        embedding_output = self.embeddings(
            input_ids=input_ids,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            past_length=past_length,
            validate=validate,
        )
        mask = self_attention_mask(
            attention_mask,
            batch_size=batch_size,
            query_length=seq_length,
            past_length=past_length,
            causal=config.is_decoder,
            dtype=embedding_output.dtype,
            device=embedding_output.device,
            drop_full_mask=validate,
        )
        encoder_mask = None
        if encoder_hidden_states is not None:
            encoder_mask = cross_attention_mask(
                encoder_attention_mask,
                batch_size=batch_size,
                key_length=encoder_hidden_states.shape[1],
                dtype=embedding_output.dtype,
                device=embedding_output.device,
                drop_full_mask=validate,
            )
        last, cache, hidden_states, attentions, cross_attentions = self.encoder(
            embedding_output,
            mask,
            encoder_hidden_states,
            encoder_mask,
            past_key_values=past_key_values,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        output = BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=last,
            pooler_output=self.pooler(last) if self.pooler is not None else None,
            past_key_values=cache,
            hidden_states=hidden_states,
            attentions=attentions,
            cross_attentions=cross_attentions,
        )
        return output.returned(return_dict)
