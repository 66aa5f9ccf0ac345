"""The `bert` component: parity with transformers, long and odd Docs, serialization, errors."""
import pickle
import shutil

import numpy as np
import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin

TEXT = "spaCy meets BERT: Ünïcödé, 東京, 👩\u200d💻 and the café\u0301 down the road."


def make_nlp(checkpoint, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(checkpoint), **config})
    return nlp


def test_hidden_states_equal_transformers(minilm_dir):
    import transformers

    nlp = make_nlp(minilm_dir, store_piece_states=True)
    doc = nlp(TEXT)
    tokenizer = transformers.BertTokenizer.from_pretrained(str(minilm_dir))
    reference = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    with torch.no_grad():
        out = reference(**tokenizer(TEXT, return_tensors="pt"))
    data = doc._.bert
    assert data.n_windows == 1
    assert data.piece_ids.tolist() == tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert np.abs(data.last_hidden_state - out.last_hidden_state[0, 1:-1].numpy()).max() <= 1e-4
    assert np.abs(data.pooler_output - out.pooler_output[0].numpy()).max() <= 1e-4
    ragged = data.as_ragged()
    assert ragged.lengths.tolist() == data.lengths.tolist() and ragged.data.shape == (data.lengths.sum(), 384)
    # doc.tensor: the mean of each token's pieces
    for token in doc:
        pieces = data.pieces_of(token.i)
        expected = data.last_hidden_state[pieces].mean(0) if len(pieces) else np.zeros(384)
        assert np.allclose(doc.tensor[token.i], expected, atol=1e-6)


@pytest.mark.parametrize("pooling", ["first", "last", "max"])
def test_pooling_modes(tiny_bert_dir, pooling):
    doc = make_nlp(tiny_bert_dir, pooling=pooling, store_piece_states=True)("Unbelievably tokenized antidisestablishmentarianism!")
    data = doc._.bert
    reduce = {"first": lambda x: x[0], "last": lambda x: x[-1], "max": lambda x: x.max(0)}[pooling]
    for token in doc:
        assert np.allclose(doc.tensor[token.i], reduce(data.last_hidden_state[data.pieces_of(token.i)]), atol=1e-6)


def test_long_document_is_windowed_not_truncated(tiny_bert_dir):
    words = [f"word{i % 97}" if i % 13 else "Paris" for i in range(10_000)]
    doc = make_nlp(tiny_bert_dir, store_piece_states=True)(Doc(spacy.blank("en").vocab, words=words))
    data = doc._.bert
    n_pieces = len(data.piece_ids)
    assert n_pieces > 10_000 and data.n_windows > n_pieces // 62
    assert doc.tensor.shape == (10_000, 32) and np.isfinite(doc.tensor).all()
    assert (data.lengths > 0).all() and (np.abs(doc.tensor).sum(1) > 0).all()
    assert data.last_hidden_state.shape == (n_pieces, 32)


def test_windows_match_a_direct_run_inside_their_span(tiny_bert_dir):
    """A piece far from any window edge sees exactly what a direct run over its window sees."""
    from spacy_bert import BertModel, BertTokenizer

    text = " ".join(f"token{i}" for i in range(200))
    doc = make_nlp(tiny_bert_dir, window=64, stride=16, store_piece_states=True)(text)
    tokenizer = BertTokenizer.from_pretrained(tiny_bert_dir)
    model = BertModel.from_pretrained(tiny_bert_dir)
    ids = doc._.bert.piece_ids
    window = torch.tensor([[tokenizer.cls_token_id, *ids[:62], tokenizer.sep_token_id]])
    with torch.no_grad():
        direct = model(window).last_hidden_state[0, 1:-1].numpy()
    # pieces 0..38 come from the first window (the second starts at 46 with stride 16)
    assert np.abs(doc._.bert.last_hidden_state[:38] - direct[:38]).max() <= 1e-5


def test_empty_whitespace_and_odd_docs(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    texts = ["", "   ", "\n\n\t", "\x00\x07", "\u200d", "a" * 300, "👍🏽👍🏽", "東京"]
    for doc in nlp.pipe(texts):
        assert doc.tensor.shape == (len(doc), 32)
        assert np.isfinite(doc.tensor).all()
        assert doc._.bert.lengths.shape == (len(doc),)
    whitespace = nlp("   ")
    assert len(whitespace) == 1 and not whitespace.tensor.any()  # no pieces, zero vector


def test_very_long_text(tiny_bert_dir):
    text = ("The quick brown fox jumps over the lazy dog. " * 2300)[:100_000]
    doc = make_nlp(tiny_bert_dir)(text)
    assert len(doc.text) == 100_000 and np.isfinite(doc.tensor).all()
    assert doc._.bert.piece_offsets[-1][1] == len(text.rstrip()) or doc._.bert.piece_offsets[-1][1] <= len(text)


def test_store_piece_states_off(tiny_bert_dir):
    doc = make_nlp(tiny_bert_dir, store_piece_states=False)(TEXT)
    assert doc._.bert.last_hidden_state is None and doc.tensor.shape == (len(doc), 32)
    with pytest.raises(ValueError, match="store_piece_states"):
        doc._.bert.as_ragged()


def test_doc_data_survives_docbin_and_pickle(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir, store_piece_states=True)
    doc = nlp(TEXT)
    restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab))[0]
    assert np.array_equal(restored._.bert.last_hidden_state, doc._.bert.last_hidden_state)
    assert np.array_equal(pickle.loads(pickle.dumps(doc)).tensor, doc.tensor)


def test_to_disk_never_reads_the_checkpoint_again(tiny_bert_dir, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_bert_dir, checkpoint)
    nlp = make_nlp(checkpoint)
    nlp.initialize()
    before = nlp(TEXT)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(checkpoint)
    assert (tmp_path / "pipeline" / "bert" / "model" / "model.safetensors").is_file()
    loaded = spacy.load(tmp_path / "pipeline")
    assert np.array_equal(loaded(TEXT).tensor, before.tensor)


def test_to_bytes_round_trip(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    before = nlp(TEXT)
    other = spacy.blank("en")
    other.add_pipe("bert")  # no checkpoint: everything comes from the bytes
    other.from_bytes(nlp.to_bytes())
    assert np.array_equal(other(TEXT).tensor, before.tensor)


def test_first_use_reads_the_checkpoint_without_initialize(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    assert nlp("No initialize needed.").tensor.shape == (4, 32)


def test_missing_checkpoint_directory_names_the_path(tmp_path):
    nlp = make_nlp(tmp_path / "does-not-exist")
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        nlp.initialize()


def test_initialize_without_checkpoint():
    nlp = spacy.blank("en")
    nlp.add_pipe("bert")
    with pytest.raises(ValueError, match="no checkpoint configured"):
        nlp.initialize()


def test_checkpoint_vocab_larger_than_the_model(tiny_bert_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bert_dir, bad)
    config = (bad / "config.json").read_text().replace('"vocab_size": 30522', '"vocab_size": 30000')
    (bad / "config.json").write_text(config)
    with pytest.raises(ValueError, match="vocab_size=30000"):
        make_nlp(bad).initialize()


@pytest.mark.parametrize("setting,value", [("window", 2), ("stride", 600), ("pooling", "median"), ("max_batch_items", 0)])
def test_bad_settings(setting, value):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=setting if setting != "pooling" else "pooling"):
        nlp.add_pipe("bert", config={setting: value})


def test_multiprocessing_gives_the_same_results(tiny_bert_dir):
    nlp = make_nlp(tiny_bert_dir)
    texts = [f"Text number {i} about Berlin and Paris." for i in range(12)]
    single = [doc.tensor for doc in nlp.pipe(texts, n_process=1, batch_size=4)]
    multi = [doc.tensor for doc in nlp.pipe(texts, n_process=2, batch_size=4)]
    for a, b in zip(single, multi):
        assert np.allclose(a, b, atol=1e-6)
