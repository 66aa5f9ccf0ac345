"""Checkpoints as they exist in the wild, loaded by us and by transformers in the same process: the
real all-MiniLM-L6-v2, and a masked LM in the legacy layout (gamma/beta names, tied decoder not
stored) written by transformers (`legacy_mlm_dir`, tests/conftest.py)."""
import pytest
import torch

import spacy_bert
from tests.modeling.helpers import assert_close

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "spaCy pipelines meet Hugging Face BERT.",
    "Ein kurzer Satz auf Deutsch, mit Umlauten: äöü.",
    "東京は日本の首都です。",
    "A",
]


def _hf_inputs(directory, sentences, pairs=None):
    import transformers

    tokenizer = transformers.BertTokenizer.from_pretrained(str(directory))
    tokenizer.backend_tokenizer.no_truncation()
    return tokenizer(sentences, pairs, padding=True, return_tensors="pt")


@pytest.mark.parametrize("batch_size", [1, len(SENTENCES)])
def test_minilm_equals_transformers(minilm_dir, batch_size):
    import transformers

    theirs = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    ours = spacy_bert.BertModel.from_pretrained(minilm_dir)
    inputs = dict(_hf_inputs(minilm_dir, SENTENCES[:batch_size]))
    with torch.no_grad():
        t, o = theirs(**inputs, output_hidden_states=True), ours(**inputs, output_hidden_states=True)
    mask = inputs["attention_mask"]
    assert_close(o.last_hidden_state, t.last_hidden_state, mask=mask)
    assert_close(o.pooler_output, t.pooler_output)
    for mine, reference in zip(o.hidden_states, t.hidden_states, strict=True):
        assert_close(mine, reference, mask=mask)


def test_minilm_pairs_with_token_types(minilm_dir):
    import transformers

    theirs = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    ours = spacy_bert.BertModel.from_pretrained(minilm_dir)
    inputs = dict(_hf_inputs(minilm_dir, SENTENCES[:3], ["Is it?", "A second, longer segment here.", "Kurz."]))
    assert inputs["token_type_ids"].any()
    with torch.no_grad():
        t, o = theirs(**inputs), ours(**inputs)
    assert_close(o.last_hidden_state, t.last_hidden_state, mask=inputs["attention_mask"])


def test_minilm_training_step_gradients_equal_transformers(minilm_dir):
    import transformers

    theirs = transformers.BertModel.from_pretrained(str(minilm_dir), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ours = spacy_bert.BertModel.from_pretrained(minilm_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    theirs.train(), ours.train()
    inputs = dict(_hf_inputs(minilm_dir, SENTENCES[:3]))
    weights = torch.linspace(-1, 1, 384)
    for model in (theirs, ours):
        out = model(**inputs)
        # a mean, like a training loss, so gradients are O(1) and 1e-4 is a meaningful bound
        masked = out.last_hidden_state * inputs["attention_mask"][..., None] * weights
        (masked.sum() / inputs["attention_mask"].sum() + out.pooler_output.mean()).backward()
    ours_params = dict(ours.named_parameters())
    for name, param in theirs.named_parameters():
        assert_close(ours_params[name].grad, param.grad, atol=1e-4)


def test_legacy_masked_lm_logits_equal_transformers(legacy_mlm_dir):
    import transformers

    theirs = transformers.BertForMaskedLM.from_pretrained(str(legacy_mlm_dir)).eval()
    ours = spacy_bert.BertForMaskedLM.from_pretrained(legacy_mlm_dir)
    # legacy gamma/beta names were mapped and the tied decoder shares the embedding matrix
    assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight
    inputs = dict(_hf_inputs(legacy_mlm_dir, ["Paris is the [MASK] of France.", "A [MASK] day."]))
    with torch.no_grad():
        t, o = theirs(**inputs), ours(**inputs)
    assert_close(o.logits, t.logits, mask=inputs["attention_mask"])
    assert int(o.logits[0, 4].argmax()) == int(t.logits[0, 4].argmax())


def test_pretraining_checkpoint_into_bert_model_drops_heads_with_a_warning(legacy_mlm_dir):
    with pytest.warns(UserWarning, match="cls.predictions.bias"):
        model = spacy_bert.BertModel.from_pretrained(legacy_mlm_dir, add_pooling_layer=False)
    assert model.pooler is None


def test_encoder_checkpoint_into_a_head_initialises_it_fresh(minilm_dir):
    with pytest.warns(UserWarning, match=r"classifier.*initialised fresh"):
        model = spacy_bert.BertForTokenClassification.from_pretrained(minilm_dir, num_labels=5)
    assert model.classifier.weight.shape == (5, 384)
    import transformers

    reference = transformers.BertModel.from_pretrained(str(minilm_dir))
    assert torch.equal(model.bert.encoder.layer[3].output.dense.weight, reference.encoder.layer[3].output.dense.weight)
