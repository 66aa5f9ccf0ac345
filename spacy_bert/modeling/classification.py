"""Classification heads: sequence, multiple choice, token and question answering."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import Errors
from .bert import BertModel
from .config import BertConfig
from .losses import cross_entropy, span_position_loss
from .outputs import (
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .pretrained import BertPreTrainedModel


def _classifier_dropout(config: BertConfig) -> nn.Dropout:
    p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
    return nn.Dropout(p)


def sequence_problem_type(config: BertConfig, labels: torch.Tensor) -> str:
    """The loss Hugging Face picks when `config.problem_type` is unset (without mutating the config)."""
    if config.problem_type is not None:
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if labels.dtype in (torch.long, torch.int):
        return "single_label_classification"
    return "multi_label_classification"


class BertForSequenceClassification(BertPreTrainedModel):
    """Pooled `[CLS]` -> dropout -> linear: logits (batch, num_labels)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
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
        """labels: (batch,) class ids (single label), (batch, num_labels) floats (multi-label),
        (batch,) floats (regression, num_labels == 1)."""
        out = self.run_bert(locals())
        logits = self.classifier(self.dropout(out.pooler_output))
        loss = None
        if labels is not None:
            if not isinstance(labels, torch.Tensor):
                raise TypeError(Errors.E033.format(got=f"a {type(labels).__name__}", classes=self.num_labels, max_id=self.num_labels - 1))
            labels = labels.to(logits.device)
            problem_type = sequence_problem_type(self.config, labels)
            if problem_type == "regression":
                if self.num_labels == 1:
                    loss = F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
                else:
                    loss = F.mse_loss(logits, labels.to(logits.dtype))
            elif problem_type == "single_label_classification":
                loss = cross_entropy(logits, labels)
            else:
                if labels.shape != logits.shape:
                    raise ValueError(
                        Errors.E041.format(expected=tuple(logits.shape), got=f"shape {tuple(labels.shape)}")
                    )
                loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        return (
            SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        ).returned(return_dict)


class BertForMultipleChoice(BertPreTrainedModel):
    """Each choice is encoded separately; inputs are (batch, num_choices, seq), logits (batch, num_choices)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
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
        """labels (batch,): index of the right choice."""
        first = input_ids if input_ids is not None else inputs_embeds
        num_choices = first.shape[1] if first is not None else 0

        def flat(x: Optional[torch.Tensor], trailing: int = 1) -> Optional[torch.Tensor]:
            # (batch, choices, seq[, hidden]) -> (batch * choices, seq[, hidden])
            return None if x is None else x.reshape(-1, *x.shape[-trailing:])

        arguments = dict(locals())
        for name in ("input_ids", "attention_mask", "token_type_ids", "position_ids"):
            arguments[name] = flat(arguments[name])
        arguments["inputs_embeds"] = flat(inputs_embeds, 2)
        out = self.run_bert(arguments)
        logits = self.classifier(self.dropout(out.pooler_output)).view(-1, num_choices)
        return (
            MultipleChoiceModelOutput(
                loss=None if labels is None else cross_entropy(logits, labels.to(logits.device)),
                logits=logits,
                hidden_states=out.hidden_states,
                attentions=out.attentions,
            )
        ).returned(return_dict)


class BertForTokenClassification(BertPreTrainedModel):
    """A label per piece: logits (batch, seq, num_labels)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
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
        """labels (batch, seq): label ids, -100 for pieces not scored (continuations, specials, padding)."""
        out = self.run_bert(locals())
        logits = self.classifier(self.dropout(out.last_hidden_state))
        return (
            TokenClassifierOutput(
                loss=None if labels is None else cross_entropy(logits, labels.to(logits.device)),
                logits=logits,
                hidden_states=out.hidden_states,
                attentions=out.attentions,
            )
        ).returned(return_dict)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Span extraction: `qa_outputs` gives start and end logits, each (batch, seq)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(
                Errors.E003.format(field="num_labels", expected="2 for question answering (start, end)", value=config.num_labels)
            )
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        start_positions: Optional[torch.Tensor] = None,
        end_positions: Optional[torch.Tensor] = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
    ):
        """start_positions, end_positions (batch,): piece index of the answer's first and last piece.
        `loss` = mean of the start and end cross-entropies; positions outside the sequence are ignored."""
        out = self.run_bert(locals())
        logits = self.qa_outputs(out.last_hidden_state)  # (batch, seq, 2)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = (span_position_loss(start_logits, start_positions) + span_position_loss(end_logits, end_positions)) / 2
        return (
            QuestionAnsweringModelOutput(
                loss=loss,
                start_logits=start_logits,
                end_logits=end_logits,
                hidden_states=out.hidden_states,
                attentions=out.attentions,
            )
        ).returned(return_dict)
