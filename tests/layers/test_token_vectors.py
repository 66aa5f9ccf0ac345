"""`spacy-bert.BertTokenVectors.v1` (what `replace_listeners` puts in place of a listener):
its backprop keeps the listener contract, one zero (n_tokens, hidden) array per Doc, also with
grad_factor 0 (then the encoder gets no gradient at all)."""
import numpy as np
import pytest
import spacy

from spacy_bert.layers.encoder import get_shim
from spacy_bert.layers.heads.token_vectors import bert_token_vectors_v1


@pytest.mark.parametrize("grad_factor", [0.0, 0.5])
def test_backprop_returns_zero_arrays_of_the_tokens_shapes(tiny_bert_dir, grad_factor):
    nlp = spacy.blank("en")
    docs = [nlp("Alice lives in Paris, says the report."), nlp("Short"), nlp("")]
    model = bert_token_vectors_v1(checkpoint=str(tiny_bert_dir), window=64, stride=16, grad_factor=grad_factor)
    model.initialize()
    vectors, backprop = model.begin_update(docs)
    assert [v.shape for v in vectors] == [(len(doc), 32) for doc in docs]
    d_docs = backprop([np.ones_like(v) for v in vectors])
    assert [d.shape for d in d_docs] == [(len(doc), 32) for doc in docs]
    assert all(not np.asarray(d).any() for d in d_docs)
    grads = [p.grad for p in get_shim(model.layers[0]).model.parameters() if p.grad is not None]
    if grad_factor == 0.0:
        assert grads == []
    else:
        assert grads and any(float(g.abs().sum()) > 0 for g in grads)
