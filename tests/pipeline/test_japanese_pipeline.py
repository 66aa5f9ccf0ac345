"""A Japanese checkpoint end to end (issue 28): `spacy.blank("ja")` + `bert` on a tiny random
BertModel whose tokenizer is MeCab + WordPiece; hidden states equal transformers' `BertModel`
on transformers' `BertJapaneseTokenizer` ids; to_disk / spacy.load and n_process=2 give the
same; a tiny Japanese `bert_ner` overfits, round-trips and exports to a directory that
transformers tokenizes identically."""
import json
import pickle
import shutil

import numpy as np
import pytest
import spacy
import torch
import transformers
from spacy.training import Example
from spacy.util import fix_random_seed

from tests.tokenization.test_japanese import TEXTS, VOCAB, write_checkpoint


TINY_JA = dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=128)
SHORT = [t for t in TEXTS if t.strip() and len(t) < 60]

# (text, entities): a few sentences written for this test.
TRAIN_NER = [
    ("田中さんは東京に住んでいます。", [(0, 2, "PER"), (5, 7, "LOC")]),
    ("大阪で山田さんに会った。", [(0, 2, "LOC"), (3, 5, "PER")]),
    ("佐藤さんは京都へ行きました。", [(0, 2, "PER"), (5, 7, "LOC")]),
]


@pytest.fixture(scope="module")
def ja_checkpoint(tmp_path_factory):
    directory = write_checkpoint(tmp_path_factory.mktemp("ja-bert"), "mecab", "wordpiece",
                                 {"mecab_kwargs": {"mecab_dic": "unidic_lite"}})
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(**TINY_JA)).save_pretrained(str(directory))
    return directory


def ja_nlp(checkpoint, **config):
    nlp = spacy.blank("ja")
    nlp.add_pipe("bert", config={"checkpoint": str(checkpoint), "store_piece_states": True, "window": 128, "stride": 32, **config})
    return nlp


def test_hidden_states_and_pieces_equal_transformers(ja_checkpoint):
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(ja_checkpoint))
    hf_model = transformers.BertModel.from_pretrained(str(ja_checkpoint)).eval()
    nlp = ja_nlp(ja_checkpoint)
    for doc in nlp.pipe(SHORT):
        ids = hf_tokenizer(doc.text, return_tensors="pt")["input_ids"]
        assert doc._.bert.piece_ids.tolist() == ids[0, 1:-1].tolist(), doc.text
        with torch.no_grad():
            expected = hf_model(ids).last_hidden_state[0, 1:-1].numpy()
        assert np.abs(doc._.bert.last_hidden_state - expected).max() <= 1e-5
        # every token with a character the tokenizer keeps has pieces
        assert all(n > 0 or token.is_space for token, n in zip(doc, doc._.bert.lengths)), doc.text


def test_to_disk_and_processes_give_the_same(ja_checkpoint, tmp_path):
    nlp = ja_nlp(ja_checkpoint)
    docs = list(nlp.pipe(SHORT))
    nlp.to_disk(tmp_path / "pipeline")
    saved = json.loads(next((tmp_path / "pipeline").rglob("tokenizer_config.json")).read_text(encoding="utf-8"))
    assert saved["tokenizer_class"] == "BertJapaneseTokenizer"
    assert saved["word_tokenizer_type"] == "mecab" and saved["mecab_kwargs"] == {"mecab_dic": "unidic_lite"}
    loaded = spacy.load(tmp_path / "pipeline")
    for doc, again in zip(docs, loaded.pipe(SHORT)):
        assert np.array_equal(doc._.bert.piece_ids, again._.bert.piece_ids)
        assert np.allclose(doc.tensor, again.tensor, atol=1e-6)
    for doc, again in zip(docs, loaded.pipe(SHORT, n_process=2, batch_size=4)):
        assert np.array_equal(doc._.bert.piece_ids, again._.bert.piece_ids)
        assert np.allclose(doc.tensor, again.tensor, atol=1e-6)
    # what spawn and Ray do with a pipeline: pickle it (the MeCab pre-tokenizer is rebuilt)
    for doc, again in zip(docs, pickle.loads(pickle.dumps(nlp)).pipe(SHORT)):
        assert np.array_equal(doc._.bert.piece_ids, again._.bert.piece_ids)
        assert np.allclose(doc.tensor, again.tensor, atol=1e-6)


def test_japanese_ner_overfits_round_trips_and_exports(ja_checkpoint, tmp_path):
    from spacy_bert.pipeline.export import export_component

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(ja_checkpoint, checkpoint)
    fix_random_seed(0)
    nlp = spacy.blank("ja")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(checkpoint), "window": 128, "stride": 32})
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_NER]
    optimizer = nlp.initialize(lambda: examples)
    losses = [nlp.update(examples, sgd=optimizer, losses={})["bert_ner"] for _ in range(100)]
    shutil.rmtree(checkpoint)  # everything below works from the trained weights alone
    assert losses[-1] < losses[0] / 5
    predicted = [[(e.start_char, e.end_char, e.label_) for e in nlp(t).ents] for t, _ in TRAIN_NER]
    assert predicted == [gold for _, gold in TRAIN_NER]

    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert [[(e.start_char, e.end_char, e.label_) for e in loaded(t).ents] for t, _ in TRAIN_NER] == predicted

    out = export_component(nlp, "bert_ner", tmp_path / "hf")
    exported = transformers.AutoTokenizer.from_pretrained(str(out))
    original = transformers.AutoTokenizer.from_pretrained(str(ja_checkpoint))
    assert type(exported).__name__ == "BertJapaneseTokenizer"
    assert exported(TEXTS)["input_ids"] == original(TEXTS)["input_ids"]
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(out)).eval()
    text = TRAIN_NER[0][0]
    with torch.no_grad():
        labels = model(**exported(text, return_tensors="pt")).logits[0, 1:-1].argmax(-1).tolist()
    assert {model.config.id2label[i] for i in labels} >= {"B-PER", "B-LOC"}
