"""The listener protocol of the shared `bert` component (issue 8 §3, §5).

Gradients from several listeners are checked numerically: the encoder's accumulated torch
gradients after one `nlp.update(..., sgd=False)` of a pipeline with several listening
components equal the sum of the gradients of the same pipeline reduced to one listening
component at a time (same seed, no dropout, no optimizer step).
"""
import gc
import itertools
import re
import weakref

import numpy as np
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import concatenate, fix_random_seed

from spacy_bert.errors import Errors
from spacy_bert.layers.encoder import BertDocGradient, get_shim
from spacy_bert.layers.training.listener import BertListener, BertOutputListener

DATA = [
    ("Alice lives in Paris", {"entities": [(0, 5, "PER"), (15, 20, "LOC")], "cats": {"POS": 1.0, "NEG": 0.0}}),
    ("Bob hated Berlin", {"entities": [(0, 3, "PER"), (10, 16, "LOC")], "cats": {"POS": 0.0, "NEG": 1.0}}),
]


def listener(grad_factor, output=False):
    name = "spacy-bert.BertOutputListener.v1" if output else "spacy-bert.BertListener.v1"
    return {"@architectures": name, "grad_factor": grad_factor, "upstream": "bert"}


def spacy_ner(grad_factor):
    """spaCy's own `ner` on token vectors (`BertListener`: d_token_vectors)."""
    return "ner", {
        "model": {
            "@architectures": "spacy.TransitionBasedParser.v2",
            "state_type": "ner",
            "extra_state_tokens": False,
            "hidden_width": 16,
            "maxout_pieces": 2,
            "use_upper": True,
            "tok2vec": listener(grad_factor),
        }
    }


def bert_ner(grad_factor):
    """The token classification head on piece states (d_last_hidden_state)."""
    return "bert_ner", {"model": {"@architectures": "spacy-bert.BertTokenClassifier.v1", "nO": None, "tok2vec": listener(grad_factor, True)}}


def bert_textcat(grad_factor):
    """The sequence classification head on the pooled [CLS] (d_pooler_output)."""
    return "bert_textcat", {"model": {"@architectures": "spacy-bert.BertSequenceClassifier.v1", "nO": None, "tok2vec": listener(grad_factor, True)}}


COMPONENTS = {"ner": spacy_ner, "bert_ner": bert_ner, "bert_textcat": bert_textcat}


def build(checkpoint, components, keep=None):
    """`bert` + `components` ([(factory, grad_factor)] in pipeline order), initialized with a
    fixed seed; with `keep`, every other listening component is then removed (so the heads of
    `keep` are exactly those of the full pipeline)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(checkpoint)})
    for factory, grad_factor in components:
        name, config = COMPONENTS[factory](grad_factor)
        nlp.add_pipe(name, config=config)
    egs = examples(nlp)
    fix_random_seed(0)
    nlp.initialize(get_examples=lambda: egs)
    unzero_heads(nlp)
    if keep is not None:
        for factory, _ in components:
            if factory != keep:
                nlp.remove_pipe(factory)
    return nlp


def unzero_heads(nlp):
    """spaCy's `ner` starts with a zero output layer, so its first update sends a zero
    gradient to its tok2vec; give every all-zero head weight small seeded values instead."""
    for name, component in nlp.pipeline:
        if name == "bert":
            continue
        for i, node in enumerate(component.model.walk()):
            for param in node.param_names:
                if node.has_param(param) and not node.get_param(param).any():
                    value = node.get_param(param)
                    rng = np.random.RandomState(i)
                    node.set_param(param, node.ops.asarray(rng.normal(0, 0.5, value.shape).astype(value.dtype)))


def examples(nlp):
    return [Example.from_dict(nlp.make_doc(text), annotations) for text, annotations in DATA]


def bert_model(nlp):
    return get_shim(nlp.get_pipe("bert").model).bert


def encoder_gradients(nlp):
    """One update without an optimizer step; the encoder's accumulated gradients (zeros
    where no gradient arrived)."""
    bert = bert_model(nlp)
    bert.zero_grad(set_to_none=True)
    fix_random_seed(1)  # spaCy's ner draws random numbers in update (oracle cut)
    nlp.update(examples(nlp), sgd=False)
    return {k: (torch.zeros_like(p) if p.grad is None else p.grad.clone()) for k, p in bert.named_parameters()}


def total_norm(grads):
    return float(sum((g.double() ** 2).sum() for g in grads.values()) ** 0.5)


def assert_sum_of_singles(checkpoint, components):
    combined = encoder_gradients(build(checkpoint, components))
    expected = {k: torch.zeros_like(v) for k, v in combined.items()}
    for factory, grad_factor in components:
        single = encoder_gradients(build(checkpoint, components, keep=factory))
        if grad_factor == 0:
            assert total_norm(single) == 0.0, factory
        else:
            assert total_norm(single) > 0.0, factory  # this listener's gradient reaches bert
        for k in expected:
            expected[k] += single[k]
    assert total_norm(combined) > 0.0
    scale = max(float(v.abs().max()) for v in expected.values())
    for k in combined:
        assert torch.allclose(combined[k], expected[k], rtol=1e-4, atol=1e-6 * scale), k


TWO = [
    order
    for mix in [(1.0, 0.0), (0.0, 1.0), (1.0, 0.5)]
    for order in itertools.permutations(list(zip(["ner", "bert_textcat"], mix)))
]


@pytest.mark.parametrize("components", TWO, ids=lambda c: "+".join(f"{f}@{g}" for f, g in c))
def test_two_listeners_every_order(tiny_bert_dir, components):
    assert_sum_of_singles(tiny_bert_dir, list(components))


THREE = list(itertools.permutations([("ner", 1.0), ("bert_ner", 0.0), ("bert_textcat", 0.5)]))


@pytest.mark.parametrize("components", THREE, ids=lambda c: "+".join(f"{f}@{g}" for f, g in c))
def test_three_listeners_every_order(tiny_bert_dir, components):
    assert_sum_of_singles(tiny_bert_dir, list(components))


def test_zero_grad_factor_last_does_not_swallow(tiny_bert_dir):
    """The bug of issue 8: [bert, ner(1), textcat(0)] never trained bert from ner."""
    nlp = build(tiny_bert_dir, [("ner", 1.0), ("bert_textcat", 0.0)])
    optimizer = nlp.initialize(get_examples=lambda: examples(nlp))
    before = {k: v.clone() for k, v in bert_model(nlp).state_dict().items()}
    for _ in range(2):  # spaCy steps bert before its listeners send: step 2 applies batch 1
        nlp.update(examples(nlp), sgd=optimizer)
    after = bert_model(nlp).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_grad_factor_scales_the_gradient(tiny_bert_dir):
    full = encoder_gradients(build(tiny_bert_dir, [("bert_textcat", 1.0)]))
    half = encoder_gradients(build(tiny_bert_dir, [("bert_textcat", 0.5)]))
    assert total_norm(full) > 0
    for k in full:
        assert torch.allclose(half[k], 0.5 * full[k], rtol=1e-5, atol=1e-9), k


def coded(code, phrase):
    """`match=` for a coded error: the "[E3xx]" prefix once errors.py carries codes
    (spaCy's ErrorsWithCodes), else the message's opening words."""
    message = getattr(Errors, code)
    return re.escape(f"[{code}]") if message.startswith(f"[{code}]") else re.escape(phrase)


# -- the batch is released after use ----------------------------------------------------
def watch_encoder_outputs(nlp):
    """Weak references to every torch output of the encoder's training forward passes."""
    shim = get_shim(nlp.get_pipe("bert").model)
    refs = []
    begin_update = shim.begin_update

    def watched(inputs, **kwargs):  # kwargs: the shim's `adapter`
        output, backprop = begin_update(inputs, **kwargs)
        refs.append(weakref.ref(output.last_hidden_state))
        return output, backprop

    shim.begin_update = watched
    return refs


@pytest.mark.parametrize("components", [
    [("ner", 1.0)],
    [("ner", 1.0), ("bert_textcat", 0.0)],
    [("bert_textcat", 0.0), ("bert_ner", 1.0), ("ner", 0.5)],
])
def test_graph_is_released_after_the_update(tiny_bert_dir, components):
    nlp = build(tiny_bert_dir, components)
    refs = watch_encoder_outputs(nlp)
    nlp.update(examples(nlp), sgd=False)
    gc.collect()
    assert refs and all(ref() is None for ref in refs)
    bert = nlp.get_pipe("bert")
    assert all(l._outputs is None and l._backprop is None for l in bert.listeners if l.sends_gradients)
    assert bert._pending is None or bert._pending.done


def test_a_listener_that_skips_the_batch_does_not_lose_the_others(tiny_bert_dir):
    """nlp.update(exclude=[...]) of a listening component: bert cannot know, so the batch's
    gradient from the others is backpropagated when bert starts its next batch."""
    nlp = build(tiny_bert_dir, [("ner", 1.0), ("bert_textcat", 1.0)])
    reference = encoder_gradients(build(tiny_bert_dir, [("ner", 1.0), ("bert_textcat", 1.0)], keep="ner"))
    refs = watch_encoder_outputs(nlp)
    bert = bert_model(nlp)
    bert.zero_grad(set_to_none=True)
    fix_random_seed(1)
    nlp.update(examples(nlp), sgd=False, exclude=["bert_textcat"])
    gc.collect()
    assert refs[0]() is not None  # still waiting for bert_textcat
    nlp.get_pipe("bert")._end_pending_batch()  # what the next update does first
    gc.collect()
    assert refs[0]() is None
    for k, p in bert.named_parameters():
        assert torch.allclose(p.grad, reference[k], rtol=1e-5, atol=1e-9), k


# -- no graph when no listener sends -----------------------------------------------------
def forbid_training_forward(nlp):
    def refuse(inputs, **kwargs):
        raise AssertionError("the encoder ran with is_train=True")

    get_shim(nlp.get_pipe("bert").model).begin_update = refuse


def test_update_predicts_when_every_grad_factor_is_zero(tiny_bert_dir):
    nlp = build(tiny_bert_dir, [("ner", 0.0), ("bert_textcat", 0.0)])
    forbid_training_forward(nlp)
    losses = nlp.update(examples(nlp), sgd=False)
    assert losses["ner"] > 0 and losses["bert_textcat"] > 0 and losses["bert"] == 0.0
    assert all(p.grad is None for p in bert_model(nlp).parameters())


def test_update_predicts_when_every_listener_is_frozen(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    name, config = bert_textcat(1.0)
    nlp.add_pipe(name, config=config)
    nlp.config["training"]["frozen_components"] = ["bert_textcat"]  # as `spacy train` reads it
    nlp.initialize(get_examples=lambda: examples(nlp))
    assert nlp.get_pipe("bert").frozen_components == {"bert_textcat"}
    forbid_training_forward(nlp)
    nlp.update(examples(nlp), sgd=False, exclude=["bert_textcat"])
    # ... and a frozen component that updates anyway is told, not silently dropped
    with pytest.raises(ValueError, match=coded("E391", "sent a gradient to the bert component 'bert', but it is listed in [training] frozen_components")):
        nlp.update(examples(nlp), sgd=False)


def test_a_second_backprop_is_an_error(tiny_bert_dir):
    nlp = build(tiny_bert_dir, [("bert_textcat", 1.0), ("ner", 1.0)])
    docs = [eg.predicted for eg in examples(nlp)]
    nlp.get_pipe("bert").update(examples(nlp))
    head = nlp.get_pipe("bert_textcat").model
    _, backprop = head.begin_update(docs)
    d_logits = head.ops.alloc2f(len(docs), head.get_dim("nO")) + 1.0
    backprop(d_logits)
    with pytest.raises(ValueError, match=coded("E393", "sent a gradient twice")):
        backprop(d_logits)


# -- thinc combinators -------------------------------------------------------------------
def test_listeners_inside_concatenate(tiny_bert_dir):
    """Two listeners concatenated in one component: both send, and their backprop returns
    one zero array per Doc (not []), so thinc's `concatenate` can add them."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    nlp.add_pipe("tagger", config={"model": {
        "@architectures": "spacy.Tagger.v2",
        "nO": None,
        "normalize": False,
        "tok2vec": {
            "@layers": "concatenate.v1",
            "*": {"a": listener(1.0), "b": listener(0.5)},
        },
    }})
    docs = [nlp.make_doc(t) for t, _ in DATA]
    egs = [Example.from_dict(doc, {"tags": (["N", "V"] * len(doc))[: len(doc)]}) for doc in docs]
    fix_random_seed(0)
    nlp.initialize(get_examples=lambda: egs)
    unzero_heads(nlp)
    bert = nlp.get_pipe("bert")
    assert len(bert.listeners) == 2
    bert_model(nlp).zero_grad(set_to_none=True)
    losses = nlp.update(egs, sgd=False)
    assert losses["tagger"] > 0 and losses["bert"] > 0
    assert total_norm({k: p.grad for k, p in bert_model(nlp).named_parameters() if p.grad is not None}) > 0
    assert bert._pending.done  # both listeners sent, the backward pass ran


@pytest.mark.parametrize("cls", [BertListener, BertOutputListener])
def test_listener_backprop_returns_zero_arrays(tiny_bert_dir, cls):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "store_piece_states": True})
    nlp.initialize()
    docs = list(nlp.pipe([t for t, _ in DATA]))
    shapes = [(len(doc), 32) for doc in docs]
    outputs = nlp.get_pipe("bert").predict(docs)
    sent = []
    layer = cls(upstream_name="bert", grad_factor=1.0, width=32)
    layer.receive(BertListener.get_batch_id(docs), outputs, lambda listener, gradients: sent.append(gradients))
    _, backprop = layer.begin_update(docs)
    if cls is BertListener:
        gradient = [np.ones_like(o.token_vectors) for o in outputs]
    else:
        gradient = [BertDocGradient(d_pooler_output=np.ones_like(o.pooler_output)) for o in outputs]
    d_docs = backprop(gradient)
    assert [d.shape for d in d_docs] == shapes and not any(d.any() for d in d_docs)
    assert len(sent) == 1 and len(sent[0]) == len(docs)
    assert layer._outputs is None and layer._backprop is None  # sent once, then cleared
    # predicting (from what bert stored on the Docs): zeros of the same shapes
    _, backprop = layer(docs, is_train=False)
    assert [d.shape for d in backprop(gradient)] == shapes


def test_concatenated_listeners_in_plain_thinc(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    nlp.initialize()
    docs = [nlp.make_doc(t) for t, _ in DATA]
    outputs = nlp.get_pipe("bert").predict(docs)
    sent = []
    a, b = BertListener("bert", 1.0, 32), BertListener("bert", 0.5, 32)
    for layer in (a, b):
        layer.receive(BertListener.get_batch_id(docs), outputs, lambda listener, gradients: sent.append((listener, gradients)))
    model = concatenate(a, b)
    Y, backprop = model.begin_update(docs)
    assert [y.shape for y in Y] == [(len(doc), 64) for doc in docs]
    d_docs = backprop([np.ones_like(y) for y in Y])
    assert all(d.shape[1] == 32 and not d.any() for d in d_docs)
    assert [listener for listener, _ in sent] == [a, b]
    assert np.allclose(sent[1][1][0].d_token_vectors, 0.5)  # b's grad_factor


# -- store_piece_states ------------------------------------------------------------------
def test_piece_states_off_by_default_and_int32(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    assert nlp.get_pipe("bert").cfg["store_piece_states"] is None
    doc = nlp("Alice lives in Paris")
    data = doc._.bert
    assert data.last_hidden_state is None and doc.tensor.shape == (len(doc), 32)
    assert data.piece_ids.dtype == np.int32 and data.piece_offsets.dtype == np.int32
    with pytest.raises(ValueError, match=coded("E395", "No piece states on this Doc")):
        data.as_ragged()


@pytest.mark.parametrize("factory,kept", [("bert_ner", True), ("bert_textcat", False), ("ner", False)])
def test_piece_states_kept_when_a_listener_reads_them(tiny_bert_dir, factory, kept):
    nlp = build(tiny_bert_dir, [(factory, 1.0)])
    assert nlp.get_pipe("bert").keeps_piece_states is kept
    doc = nlp("Alice lives in Paris")
    assert (doc._.bert.last_hidden_state is not None) is kept


def test_explicit_false_with_a_piece_state_reader_fails_at_initialize(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "store_piece_states": False})
    name, config = bert_ner(1.0)
    nlp.add_pipe(name, config=config)
    with pytest.raises(ValueError, match=coded("E390", "has store_piece_states = false, but 'bert_ner' read piece states")):
        nlp.initialize(get_examples=lambda: examples(nlp))


def test_doc_cleaner_recipe(tiny_bert_dir):
    """The README's recipe for light Docs after a listening bert_ner: spaCy's doc_cleaner last."""
    nlp = build(tiny_bert_dir, [("bert_ner", 1.0)])
    nlp.add_pipe("doc_cleaner", config={"attrs": {"tensor": None, "_.bert": None}})
    doc = nlp("Alice lives in Paris")
    assert doc._.bert is None and (doc.tensor is None or doc.tensor.size == 0)
    assert not any(key[0] == "spacy_bert" for key in doc.user_data if isinstance(key, tuple))
    assert isinstance(doc.ents, tuple)  # bert_ner ran before the cleaner


# -- SharedGradient on its own -------------------------------------------------------------
def test_shared_gradient_runs_once_when_every_expected_listener_sent():
    from spacy_bert.layers.training.shared_gradient import SharedGradient

    runs, losses = [], []
    shared = SharedGradient(2, runs.append, expected=[1, 2], on_loss=losses.append)
    ones = [BertDocGradient(d_pooler_output=np.ones(3, "f")) for _ in range(2)]
    shared.send(1, "a", ones)
    assert runs == [] and not shared.done
    shared.send(2, "b", [BertDocGradient(d_token_vectors=np.ones((4, 3), "f")), BertDocGradient()])
    assert len(runs) == 1 and shared.done
    total = runs[0]
    assert np.array_equal(total[0].d_pooler_output, np.ones(3)) and total[1].d_token_vectors is None
    assert losses == [3.0, 3.0, 12.0]
    with pytest.raises(ValueError, match=coded("E393", "sent a gradient twice")):
        shared.send(2, "b", ones)
    with pytest.raises(ValueError, match=coded("E391", "but it is listed in [training] frozen_components")):
        shared.send(3, "c", ones)


def test_shared_gradient_flush():
    from spacy_bert.layers.training.shared_gradient import SharedGradient

    runs = []
    shared = SharedGradient(1, runs.append, expected=[1, 2], on_loss=lambda value: None)
    with pytest.raises(ValueError, match=coded("E394", "sent gradients for 2 Docs, but the batch has 1")):
        shared.send(1, "a", [BertDocGradient(), BertDocGradient()])
    shared.send(1, "a", [BertDocGradient(d_pooler_output=np.ones(3, "f"))])
    shared.flush()  # 2 never sent: 1's gradient still reaches the encoder, once
    assert len(runs) == 1 and shared.done
    with pytest.raises(ValueError, match=coded("E392", "that has already ended")):
        shared.send(2, "b", [BertDocGradient()])
    nothing = SharedGradient(1, runs.append, expected=[1], on_loss=lambda value: None)
    nothing.flush()  # nobody sent: no backward pass, the graph is just released
    assert len(runs) == 1 and nothing.done
