"""save_pretrained -> ours and -> transformers give identical outputs; config.json keys survive."""
import json

import pytest
import torch

import spacy_bert
from spacy_bert.modeling import MODEL_CLASSES
from tests.modeling.helpers import TINY, assert_close, batch


def _config(name):
    extra = {"is_decoder": True} if name == "BertLMHeadModel" else {}
    if name == "BertForQuestionAnswering":
        extra["num_labels"] = 2
    return spacy_bert.BertConfig(**{**TINY, **extra})


@pytest.mark.parametrize("name", sorted(MODEL_CLASSES))
def test_save_pretrained_loads_in_transformers_without_missing_keys(name, tmp_path):
    import transformers

    torch.manual_seed(0)
    ours = getattr(spacy_bert, name)(_config(name)).eval()
    ours.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["architectures"] == [name]
    theirs, info = getattr(transformers, name).from_pretrained(str(tmp_path), output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    again = getattr(spacy_bert, name).from_pretrained(tmp_path)
    inputs = batch()
    if name == "BertForMultipleChoice":
        inputs = {k: v.unsqueeze(1).expand(-1, 2, -1).contiguous() for k, v in inputs.items()}
    with torch.no_grad():
        mine, reloaded, reference = ours(**inputs), again(**inputs), theirs.eval()(**inputs)
    for key in mine.keys():
        value = mine[key]
        if not isinstance(value, torch.Tensor):
            continue
        per_position = value.dim() >= 2 and value.shape[:2] == inputs["attention_mask"].shape
        mask = inputs["attention_mask"] if per_position else None
        assert torch.equal(value, reloaded[key])
        assert_close(value, reference[key], mask=mask)


def test_auto_model_picks_the_architecture(tmp_path):
    import transformers

    ours = spacy_bert.BertForTokenClassification(
        spacy_bert.BertConfig(**{**TINY, "num_labels": 3}, id2label={0: "O", 1: "B-PER", 2: "I-PER"})
    )
    ours.save_pretrained(tmp_path)
    theirs = transformers.AutoModelForTokenClassification.from_pretrained(str(tmp_path))
    assert type(theirs).__name__ == "BertForTokenClassification"
    assert theirs.config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}


def test_config_json_keys_survive(tmp_path, make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertForSequenceClassification")
    original = json.loads((directory / "config.json").read_text())
    original["my_custom_key"] = {"nested": [1, 2]}
    original["id2label"] = {"0": "neg", "1": "neu", "2": "pos"}
    original["label2id"] = {"neg": 0, "neu": 1, "pos": 2}
    (directory / "config.json").write_text(json.dumps(original))
    model = spacy_bert.BertForSequenceClassification.from_pretrained(directory)
    assert model.config.id2label == {0: "neg", 1: "neu", 2: "pos"}
    model.save_pretrained(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    for key, value in original.items():
        if key in ("architectures", "dtype", "torch_dtype", "transformers_version"):
            continue
        assert written[key] == value, key


def test_tied_decoder_is_written_once(tmp_path):
    from safetensors import safe_open

    model = spacy_bert.BertForMaskedLM(spacy_bert.BertConfig(**TINY))
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    assert "cls.predictions.decoder.weight" not in names and "cls.predictions.decoder.bias" not in names
    assert "cls.predictions.bias" in names and "bert.embeddings.word_embeddings.weight" in names


def test_untied_decoder_round_trips(tmp_path, make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertForMaskedLM", tie_word_embeddings=False)
    ours = spacy_bert.BertForMaskedLM.from_pretrained(directory)
    assert ours.cls.predictions.decoder.weight is not ours.bert.embeddings.word_embeddings.weight
    with torch.no_grad():
        assert_close(ours(**batch()).logits, hf(**batch()).logits, mask=batch()["attention_mask"])


def test_untied_decoder_saved_by_us_loads_in_transformers(tmp_path):
    import transformers

    ours = spacy_bert.BertForMaskedLM(spacy_bert.BertConfig(**{**TINY, "tie_word_embeddings": False})).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = transformers.BertForMaskedLM.from_pretrained(str(tmp_path), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        assert_close(ours(**batch()).logits, theirs.eval()(**batch()).logits, mask=batch()["attention_mask"])
