"""The merge stage: batch-wide gathering and pooling give the gradients of a direct torch
computation, and `to_host` copies a batch once yet gives every Doc its own arrays."""
import numpy as np
import pytest
import spacy
import torch
from thinc.api import NumpyOps, Ops

from spacy_bert.layers.encoder import BertEncoder, ensure_loaded, get_shim
from spacy_bert.layers.stages.merge import to_host
from spacy_bert.layers.stages.outputs import BertDocGradient

TEXTS = [
    "Short one.",
    "A somewhat longer sentence about the river Spree in Berlin.",
    "Amber, salt and wool!",
    "",
    "Tokens   with  extra   spaces and unbelievably unusual wordpieces.",
]


@pytest.fixture(scope="module")
def encoder(make_tiny_head):
    _, directory = make_tiny_head("BertModel")  # dropout 0: training and direct runs agree
    model = BertEncoder(checkpoint=str(directory), window=64, stride=16, max_batch_items=40)
    ensure_loaded(model)
    return model


def direct_loss(shim, docs, outputs, weights):
    """The same loss computed straight in torch, one [CLS] text [SEP] run per Doc (each fits one window)."""
    total = 0.0
    for doc, out, (r_tokens, r_pooled, r_pieces) in zip(docs, outputs, weights):
        ids = torch.tensor([[shim.tokenizer.cls_token_id, *out.piece_ids.tolist(), shim.tokenizer.sep_token_id]])
        result = shim.model(input_ids=ids)
        pieces = result.last_hidden_state[0, 1:-1]
        tokens = []
        for t in range(len(doc)):
            chosen = out.alignment.piece_indices[out.alignment.lengths[:t].sum() :][: out.alignment.lengths[t]]
            tokens.append(pieces[torch.as_tensor(chosen, dtype=torch.long)].mean(0) if len(chosen) else torch.zeros(pieces.shape[1]))
        tokens = torch.stack(tokens) if tokens else torch.zeros(0, pieces.shape[1])
        total = total + (tokens * torch.from_numpy(r_tokens)).sum() + (result.pooler_output[0] * torch.from_numpy(r_pooled)).sum()
        total = total + (pieces * torch.from_numpy(r_pieces)).sum()
    return total


def test_backprop_equals_direct_torch_gradients(encoder):
    nlp = spacy.blank("en")
    docs = [nlp(text) for text in TEXTS]
    shim = get_shim(encoder)
    outputs, backprop = encoder.begin_update(docs)
    assert all(out.n_windows == 1 for out in outputs)
    rng = np.random.default_rng(0)
    weights = [
        (
            rng.normal(size=out.token_vectors.shape).astype("f"),
            rng.normal(size=out.pooler_output.shape).astype("f"),
            rng.normal(size=out.last_hidden_state.shape).astype("f"),
        )
        for out in outputs
    ]
    shim.model.zero_grad()
    backprop([BertDocGradient(d_token_vectors=a, d_pooler_output=b, d_last_hidden_state=c) for a, b, c in weights])
    ours = {name: p.grad.clone() for name, p in shim.model.named_parameters() if p.grad is not None}
    shim.model.zero_grad()
    direct_loss(shim, docs, outputs, weights).backward()
    theirs = {name: p.grad.clone() for name, p in shim.model.named_parameters() if p.grad is not None}
    shim.model.zero_grad()
    assert ours.keys() == theirs.keys() and len(ours) > 10
    for name in ours:
        assert torch.allclose(ours[name], theirs[name], atol=1e-4, rtol=1e-3), name


def test_to_host_copies_once_and_gives_own_arrays(encoder):
    nlp = spacy.blank("en")
    docs = [nlp(text) for text in TEXTS]
    outputs = encoder.predict(docs)
    # `Ops()` (numpy arrays, not NumpyOps) takes the batch path a GPU takes: one concatenation
    # and one copy per field; NumpyOps the CPU path. Both equal the per-Doc arrays.
    for ops in (Ops(), NumpyOps()):
        host = to_host(ops, outputs)
        for out, (tokens, pieces, pooled) in zip(outputs, host):
            assert np.array_equal(tokens, out.token_vectors) and np.array_equal(pieces, out.last_hidden_state)
            assert np.array_equal(pooled, out.pooler_output)
            assert tokens.base is None and pieces.base is None and pooled.base is None  # a kept Doc keeps only its own
        assert all(pieces is None for _, pieces, _ in to_host(ops, outputs, with_pieces=False))
