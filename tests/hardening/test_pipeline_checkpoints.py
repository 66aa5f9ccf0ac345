"""Checkpoint faults reach spaCy users of bert_ner / bert_textcat as the same coded errors."""
import json
import shutil

import pytest
import spacy
import torch

from spacy_bert import BertConfig, BertForSequenceClassification, BertForTokenClassification, BertTokenizer
from tests.tiny import TINY_BERT


@pytest.fixture(scope="module", params=[("bert_ner", BertForTokenClassification, ["O", "B-PER", "I-PER"]),
                                        ("bert_textcat", BertForSequenceClassification, ["POS", "NEG", "NEU"])],
                ids=["bert_ner", "bert_textcat"])
def finetuned_source(request, tmp_path_factory, minilm_dir):
    factory, cls, labels = request.param
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp(factory)
    config = BertConfig(**TINY_BERT, id2label=dict(enumerate(labels)))
    cls(config).save_pretrained(directory, tokenizer=BertTokenizer.from_pretrained(minilm_dir))
    return factory, directory


@pytest.fixture
def finetuned(finetuned_source, tmp_path):
    factory, source = finetuned_source
    directory = tmp_path / factory
    shutil.copytree(source, directory)
    return factory, directory


def _run(factory, directory):
    nlp = spacy.blank("en")
    nlp.add_pipe(factory, config={"checkpoint": str(directory)})
    return nlp("Alice lives in Paris")


def test_finetuned_checkpoint_still_runs(finetuned):
    _run(*finetuned)


@pytest.mark.parametrize("id2label,code", [
    ({"0": "O", "1": "B-PER", "5": "I-PER"}, "E039"),   # gaps (today: "did you forget to call initialize()")
    ({"0": "O", "one": "B-PER", "2": "I-PER"}, "E038"),  # not an id (today: invalid literal for int())
])
def test_bad_id2label_in_a_finetuned_checkpoint(finetuned, id2label, code):
    factory, directory = finetuned
    config = json.loads((directory / "config.json").read_text())
    config["id2label"] = id2label
    config["label2id"] = {v: k for k, v in id2label.items()}
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=code):
        _run(factory, directory)


def test_label_bomb_in_a_finetuned_checkpoint(finetuned):
    factory, directory = finetuned
    config = json.loads((directory / "config.json").read_text())
    config.pop("id2label"), config.pop("label2id")
    config["num_labels"] = 10**8
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="E134"):
        _run(factory, directory)
