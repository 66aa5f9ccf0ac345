"""BertConfig round trips and validation; inputs the model must refuse with a clear error."""
import pytest
import torch

import spacy_bert
from spacy_bert import BertConfig

from .helpers import TINY, batch


def test_config_fields_equal_transformers_defaults():
    import transformers

    ours, theirs = vars(BertConfig()), vars(transformers.BertConfig())
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
                "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id", "use_cache",
                "classifier_dropout", "is_decoder", "add_cross_attention", "id2label", "label2id", "problem_type",
                "tie_word_embeddings"):
        assert ours[key] == theirs[key], key


def test_config_read_by_transformers():
    import transformers

    ours = BertConfig(**TINY, id2label={0: "O", 1: "B-X", 2: "I-X"}, problem_type="single_label_classification")
    theirs = transformers.BertConfig.from_dict(ours.to_dict())
    assert theirs.num_labels == 3 and theirs.id2label[1] == "B-X" and theirs.hidden_size == 32
    back = BertConfig.from_dict(theirs.to_dict())
    assert back.id2label == ours.id2label and back.num_labels == 3


def test_unknown_keys_are_kept():
    config = BertConfig.from_dict({**TINY, "gradient_checkpointing": False, "_name_or_path": "x"})
    assert config.to_dict()["_name_or_path"] == "x"


def test_num_labels_override_replaces_label_names():
    config = BertConfig.from_dict({**TINY, "id2label": {"0": "a", "1": "b"}}, num_labels=4)
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2", 3: "LABEL_3"}


@pytest.mark.parametrize("field,value,message", [
    ("num_attention_heads", 5, "not a multiple"),
    ("hidden_act", "gelu_magic", "Unknown hidden_act"),
    ("hidden_dropout_prob", 1.5, "probability"),
    ("vocab_size", 0, "positive integer"),
    ("position_embedding_type", "relative_key", "not supported"),
    ("problem_type", "ranking", "problem_type"),
    ("add_cross_attention", True, "is_decoder"),
])
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        BertConfig(**{**TINY, field: value})


@pytest.mark.parametrize("act", ["relu", "silu", "gelu_new"])
def test_other_activations_equal_transformers(act, make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertModel", hidden_act=act)
    ours = spacy_bert.BertModel.from_pretrained(directory)
    inputs = batch()
    with torch.no_grad():
        diff = (ours(**inputs).last_hidden_state - hf(**inputs).last_hidden_state)[inputs["attention_mask"].bool()]
    assert diff.abs().max() <= 1e-4


@pytest.fixture
def model():
    return spacy_bert.BertModel(BertConfig(**TINY)).eval()


def test_id_past_the_vocabulary(model):
    with pytest.raises(ValueError, match=r"id 99.*only 99 entries"):
        model(torch.tensor([[1, 2, 99]]))


def test_negative_id(model):
    with pytest.raises(ValueError, match="id -1"):
        model(torch.tensor([[1, -1]]))


def test_sequence_longer_than_positions(model):
    with pytest.raises(ValueError, match=r"65 positions.*max_position_embeddings=64"):
        model(torch.ones(1, 65, dtype=torch.long))
    model(torch.ones(1, 64, dtype=torch.long))  # exactly the limit is fine


def test_position_ids_past_the_limit(model):
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(torch.ones(1, 3, dtype=torch.long), position_ids=torch.tensor([[0, 1, 64]]))


def test_token_type_past_the_limit(model):
    with pytest.raises(ValueError, match="type_vocab_size=2"):
        model(torch.ones(1, 3, dtype=torch.long), token_type_ids=torch.tensor([[0, 1, 2]]))


def test_both_or_neither_inputs(model):
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model()
    with pytest.raises(ValueError, match="both"):
        model(torch.ones(1, 3, dtype=torch.long), inputs_embeds=torch.zeros(1, 3, 32))


def test_attention_mask_of_the_wrong_shape(model):
    with pytest.raises(ValueError, match="attention mask has shape"):
        model(torch.ones(2, 5, dtype=torch.long), attention_mask=torch.ones(2, 4))


def test_cross_attention_needs_the_config(model):
    with pytest.raises(ValueError, match="add_cross_attention"):
        spacy_bert.BertModel(BertConfig(**TINY, is_decoder=True))(
            torch.ones(1, 3, dtype=torch.long), encoder_hidden_states=torch.zeros(1, 2, 32)
        )


def test_lm_head_needs_a_decoder_config():
    with pytest.raises(ValueError, match="is_decoder=True"):
        spacy_bert.BertLMHeadModel(BertConfig(**TINY))


def test_empty_batch_dimension(model):
    out = model(torch.zeros(0, 4, dtype=torch.long))
    assert out.last_hidden_state.shape == (0, 4, 32)
