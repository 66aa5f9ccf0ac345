"""Pure-PyTorch BERT with the Hugging Face class names. Imports only torch (never spacy or thinc)."""
from .bert import BertModel
from .classification import (
    BertForMultipleChoice,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from .config import BertConfig
from .inputs import IGNORE_INDEX
from .outputs import (
    BaseModelOutputWithPoolingAndCrossAttentions,
    BertForPreTrainingOutput,
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .pretrained import BertPreTrainedModel
from .pretraining import BertForMaskedLM, BertForNextSentencePrediction, BertForPreTraining, BertLMHeadModel

#: Every model class by its Hugging Face name (the `architectures` entry of config.json).
MODEL_CLASSES = {
    cls.__name__: cls
    for cls in (
        BertModel,
        BertForPreTraining,
        BertForMaskedLM,
        BertForNextSentencePrediction,
        BertForSequenceClassification,
        BertForMultipleChoice,
        BertForTokenClassification,
        BertForQuestionAnswering,
        BertLMHeadModel,
    )
}

__all__ = [
    "BertConfig",
    "IGNORE_INDEX",
    "BertPreTrainedModel",
    "MODEL_CLASSES",
    *MODEL_CLASSES,
    "BaseModelOutputWithPoolingAndCrossAttentions",
    "BertForPreTrainingOutput",
    "CausalLMOutputWithCrossAttentions",
    "MaskedLMOutput",
    "MultipleChoiceModelOutput",
    "NextSentencePredictorOutput",
    "QuestionAnsweringModelOutput",
    "SequenceClassifierOutput",
    "TokenClassifierOutput",
]
