"""`bert` with `set_vectors = true`: doc.vector / doc.similarity equal sentence-transformers on
the real all-MiniLM-L6-v2 and the `similarity` command's numbers, without spaCy's W007."""
import pickle
import warnings

import numpy as np
import pytest
import spacy

from spacy_bert import BertModel, BertTokenizer
from spacy_bert.cli.similarity import DEFAULT_SENTENCES, sentence_embeddings

TEXTS = DEFAULT_SENTENCES[:5]


@pytest.fixture(scope="module")
def nlp(minilm_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(minilm_dir), "set_vectors": True, "store_piece_states": False})
    return nlp


def test_doc_vectors_equal_sentence_transformers(nlp, minilm_dir):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm_dir), device="cpu").encode(TEXTS, convert_to_numpy=True)
    docs = list(nlp.pipe(TEXTS))
    ours = np.stack([doc.vector for doc in docs])
    assert ours.shape == (5, 384)
    assert np.abs(ours - reference).max() <= 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # W007 ("no word vectors loaded") would raise here
        scores = [[a.similarity(b) for b in docs] for a in docs]
    assert np.abs(np.array(scores) - reference @ reference.T).max() <= 1e-4


def test_similarity_equals_the_command(nlp, minilm_dir):
    command = sentence_embeddings(BertModel.from_pretrained(minilm_dir), BertTokenizer.from_pretrained(minilm_dir), TEXTS).numpy()
    a, b = nlp(TEXTS[0]), nlp(TEXTS[1])
    assert a.similarity(b) == pytest.approx(float(command[0] @ command[1]), abs=1e-5)


def test_long_text_is_embedded_in_windows(minilm_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(minilm_dir), "set_vectors": True, "window": 64, "stride": 16})
    text = "Cats purr when they are content. " * 10 + "The stock market crashed and investors lost billions. " * 10
    command = sentence_embeddings(BertModel.from_pretrained(minilm_dir), BertTokenizer.from_pretrained(minilm_dir), [text], 64, 16)
    assert np.abs(nlp(text).vector - command.numpy()[0]).max() <= 1e-5


def test_spans_and_pickling(nlp):
    doc = nlp("A man is riding a horse. A woman is playing violin.")
    span = doc[0:6]
    assert span.has_vector and span.vector.shape == (384,)
    assert np.allclose(span.vector, doc.tensor[0:6].mean(axis=0))
    assert np.allclose(doc[:].vector, doc.vector)
    assert -1.0 <= span.similarity(doc[6:]) <= 1.0
    restored = pickle.loads(pickle.dumps(doc))  # hooks are module functions, vectors numpy
    assert np.allclose(restored.vector, doc.vector)


def test_off_by_default(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    doc = nlp("No vectors here.")
    assert "vector" not in doc.user_hooks
