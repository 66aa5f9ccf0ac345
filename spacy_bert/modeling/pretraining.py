"""Language-model heads: `BertForPreTraining`, `BertForMaskedLM`, `BertForNextSentencePrediction`, `BertLMHeadModel`."""
import functools
import operator
import warnings
from typing import Optional

import torch
from torch import nn

from ..errors import Errors, Warnings
from .bert import BertModel
from .config import BertConfig
from .heads import BertOnlyMLMHead, BertOnlyNSPHead, BertPreTrainingHeads
from .losses import causal_lm_loss, cross_entropy
from .outputs import (
    BertForPreTrainingOutput,
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    NextSentencePredictorOutput,
    PastKeyValues,
)
from .pretrained import BertPreTrainedModel


class BertForPreTraining(BertPreTrainedModel):
    """Masked-LM + next-sentence heads. `loss` = MLM loss + NSP loss (of those whose labels are given)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        next_sentence_label: Optional[torch.Tensor] = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
    ):
        """labels (batch, seq): token ids to predict, -100 elsewhere; next_sentence_label (batch,): 0 = B follows A."""
        out = self.run_bert(locals())
        prediction_logits, seq_relationship_logits = self.cls(out.last_hidden_state, out.pooler_output)
        losses = []
        # Labels move to the logits' device (as in Hugging Face): a CPU batch of labels may
        # meet a model on the GPU.
        if labels is not None:
            losses.append(cross_entropy(prediction_logits, labels.to(prediction_logits.device)))
        if next_sentence_label is not None:
            losses.append(cross_entropy(seq_relationship_logits, next_sentence_label.to(seq_relationship_logits.device)))
        return (
            BertForPreTrainingOutput(
                loss=functools.reduce(operator.add, losses) if losses else None,
                prediction_logits=prediction_logits,
                seq_relationship_logits=seq_relationship_logits,
                hidden_states=out.hidden_states,
                attentions=out.attentions,
            )
        ).returned(return_dict)


class BertForMaskedLM(BertPreTrainedModel):
    """Masked-token prediction; the decoder is tied to the word embeddings."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        if config.is_decoder:
            warnings.warn(Warnings.W400)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
    ):
        """labels (batch, seq): ids of the masked tokens, -100 at positions not scored."""
        out = self.run_bert(locals())
        logits = self.cls(out.last_hidden_state)
        return (
            MaskedLMOutput(
                loss=None if labels is None else cross_entropy(logits, labels.to(logits.device)),
                logits=logits,
                hidden_states=out.hidden_states,
                attentions=out.attentions,
            )
        ).returned(return_dict)


class BertForNextSentencePrediction(BertPreTrainedModel):
    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertOnlyNSPHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
    ):
        """labels (batch,): 0 = sentence B continues A, 1 = B is random."""
        out = self.run_bert(locals())
        logits = self.cls(out.pooler_output)
        return (
            NextSentencePredictorOutput(
                loss=None if labels is None else cross_entropy(logits, labels.to(logits.device)),
                logits=logits,
                hidden_states=out.hidden_states,
                attentions=out.attentions,
            )
        ).returned(return_dict)


class BertLMHeadModel(BertPreTrainedModel):
    """Causal language model (`config.is_decoder=True`), with `past_key_values` for incremental decoding."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        if not config.is_decoder:
            raise ValueError(Errors.E011)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        past_key_values: PastKeyValues = None,
        use_cache: Optional[bool] = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
    ):
        """labels (batch, seq): the input ids themselves (shifted inside), -100 where not scored."""
        if labels is not None:
            use_cache = False
        out = self.run_bert(locals())
        logits = self.cls(out.last_hidden_state)
        return (
            CausalLMOutputWithCrossAttentions(
                loss=None if labels is None else causal_lm_loss(logits, labels),
                logits=logits,
                past_key_values=out.past_key_values,
                hidden_states=out.hidden_states,
                attentions=out.attentions,
                cross_attentions=out.cross_attentions,
            )
        ).returned(return_dict)
