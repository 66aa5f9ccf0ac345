"""Every head on one run path (issue 23 item 1): the masked-LM backward goes through thinc's
backprop, so the grad scaler scales its loss; the thinc models of `bert_fill_mask` and
`bert_qa` have forwards that work in training; the QA training step leaves logits on the device."""
import warnings

import numpy as np
import pytest
import spacy
import torch
from thinc.shims import PyTorchGradScaler

import spacy_bert.pipeline  # noqa: F401  (registers the factories)
from spacy_bert.layers.heads import qa as qa_layer
from spacy_bert.layers.heads.masked_lm import masked_lm_settings
from spacy_bert.layers.heads.mlm_fill import fill_masks
from spacy_bert.layers.heads.mlm_train import mlm_update, plan_mlm_inputs
from spacy_bert.layers.heads.qa import qa_shim
from tests.pipeline.test_qa import LONG_CONTEXT, hf_features, make_nlp, qa_checkpoint  # noqa: F401

TEXTS = [
    "The cat sat on the mat. It was a sunny day. The dog slept.",
    "Paris is the capital of France. Berlin is the capital of Germany.",
    "I like green tea. Coffee is fine too. Water is best.",
]


class SpyScaler(PyTorchGradScaler):
    """An enabled scaler that works on CPU tensors (thinc's refuses them): it multiplies by
    `factor`, divides on unscale, and records the scalar gradients it scaled (the losses')."""

    def __init__(self, factor: float) -> None:
        super().__init__(enabled=True, init_scale=factor)
        self.factor = factor
        self.scaled_losses = []

    def scale(self, tensors, inplace=False):
        out = [t.mul_(self.factor) if inplace else t * self.factor for t in tensors]
        self.scaled_losses.extend(float(t) for t in out if t.dim() == 0)
        return out

    def unscale(self, tensors):
        for t in tensors:
            t.div_(self.factor)
        return False


def fill_mask_pipe(checkpoint, **config):
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(checkpoint), **config})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W630: a plain encoder gets fresh MLM heads
        pipe._ensure_loaded()
    return pipe


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def one_update(pipe, texts, seed):
    """`mlm_update` with fixed masking and dropout; returns (loss, n_batches run, gradients)."""
    shim = pipe.shim
    shim.model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss, stats = mlm_update(shim, pipe.settings(), texts, pipe._hook(), np.random.default_rng(seed))
    assert stats.n_masked > 0
    return loss, grads(shim.model)


def test_mlm_loss_goes_through_the_grad_scaler(tiny_bert_dir):
    """With an enabled scaler, every batch's loss gradient is scaled before backward, and the
    gradients come out as without scaling, over several batches (each backprop unscales
    every gradient: the earlier batches' are scaled back up first)."""
    pipe = fill_mask_pipe(tiny_bert_dir, window=16, stride=4, max_batch_items=16, mlm_probability=0.3)
    _, batches = plan_mlm_inputs(pipe.tokenizer, pipe.settings(), TEXTS)
    assert len(batches) >= 3
    loss, expected = one_update(pipe, TEXTS, seed=0)
    spy = SpyScaler(1024.0)
    pipe.shim._grad_scaler, pipe.shim._own_scaler = spy, False
    scaled_loss, got = one_update(pipe, TEXTS, seed=0)
    assert scaled_loss == loss
    assert spy.scaled_losses and spy.scaled_losses == [1024.0] * len(spy.scaled_losses)
    assert len(spy.scaled_losses) == len(batches)  # one scaled loss per batch's backward
    assert set(got) == set(expected) and len(got) > 10
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-6, atol=0.0, msg=name)


def test_mlm_without_rescaling_would_be_wrong(tiny_bert_dir, monkeypatch):
    """The same update with `rescale_gradients` disabled gives other gradients: the scaler
    test above can fail."""
    pipe = fill_mask_pipe(tiny_bert_dir, window=16, stride=4, max_batch_items=16, mlm_probability=0.3)
    _, expected = one_update(pipe, TEXTS, seed=0)
    pipe.shim._grad_scaler, pipe.shim._own_scaler = SpyScaler(1024.0), False
    monkeypatch.setattr(type(pipe.shim), "rescale_gradients", lambda self: None)
    _, got = one_update(pipe, TEXTS, seed=0)
    name = "bert.embeddings.word_embeddings.weight"
    assert not torch.allclose(got[name], expected[name], rtol=1e-3, atol=0.0)


def test_masked_lm_model_predicts_and_trains_as_a_thinc_model(tiny_bert_dir):
    pipe = fill_mask_pipe(tiny_bert_dir, window=16, stride=4, max_batch_items=64, top_k=3, mlm_probability=0.3)
    model, shim = pipe.model, pipe.shim
    queries = ["The cat sat on the [MASK].", "no mask here", "[MASK] is the capital of France."]
    predicted = model.predict(queries)
    expected = fill_masks(shim, pipe.settings(), queries, 3)
    assert [len(f.pieces) for f in predicted] == [1, 0, 1]
    for ours, theirs in zip(predicted, expected):
        assert np.array_equal(ours.ids, theirs.ids) and np.array_equal(ours.scores, theirs.scores)
    assert masked_lm_settings(model) == pipe.settings()

    # training: (loss, stats) and a backprop that takes d(loss)
    shim.model.zero_grad(set_to_none=True)
    np.random.seed(0)
    torch.manual_seed(0)
    (loss, stats), backprop = model.begin_update(TEXTS)
    assert stats.n_masked > 0 and np.isfinite(loss) and loss > 0
    backprop(2.0)
    twice = grads(shim.model)
    # the same masking and dropout through `mlm_update` (batch by batch, d(loss) = 1)
    np.random.seed(0)
    rng = np.random.default_rng(int(np.random.randint(0, 2**31 - 1)))
    shim.model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    again, _ = mlm_update(shim, pipe.settings(), TEXTS, pipe._hook(), rng)
    once = grads(shim.model)
    assert abs(again - loss) <= 1e-6
    assert set(twice) == set(once) and len(once) > 10
    for name, grad in once.items():
        torch.testing.assert_close(twice[name], 2.0 * grad, rtol=1e-5, atol=1e-7, msg=name)


def test_qa_model_trains_as_a_thinc_model(qa_checkpoint, hf_uncased_tokenizer):
    """begin_update gives every window's logits; backprop with their gradients equals
    transformers' gradients of sum(d_start * start_logits + d_end * end_logits) over features."""
    hf_model, directory = qa_checkpoint
    qa = make_nlp(directory).get_pipe("bert_qa")
    qa._check_ready()
    question = "Where was amber traded?"
    windows, backprop = qa.model.begin_update([(LONG_CONTEXT, question)])
    features = hf_features(hf_uncased_tokenizer, question, LONG_CONTEXT)
    n_windows = windows.plan.n_windows
    assert n_windows == len(features["input_ids"]) > 1
    rng = np.random.default_rng(0)
    d_start = [rng.normal(size=len(s)).astype(np.float32) for s in windows.start_logits]
    d_end = [rng.normal(size=len(e)).astype(np.float32) for e in windows.end_logits]
    model = qa_shim(qa.model).model
    model.zero_grad(set_to_none=True)
    assert backprop((d_start, d_end)) == []
    hf_model.train()
    hf_model.zero_grad()
    total = 0.0
    for i in range(n_windows):
        out = hf_model(input_ids=torch.tensor([features["input_ids"][i]]), token_type_ids=torch.tensor([features["token_type_ids"][i]]))
        np.testing.assert_allclose(out.start_logits[0].detach().numpy(), windows.start_logits[i], atol=1e-5)
        total = total + (out.start_logits[0] * torch.from_numpy(d_start[i])).sum() + (out.end_logits[0] * torch.from_numpy(d_end[i])).sum()
    total.backward()
    hf_model.eval()
    from spacy_bert.checkpoint.keys import to_checkpoint_name

    theirs = {name: p.grad for name, p in hf_model.named_parameters()}
    ours = {to_checkpoint_name(name): p.grad for name, p in model.named_parameters()}
    assert set(ours) == set(theirs)
    for name, grad in theirs.items():
        assert ours[name] is not None, name
        torch.testing.assert_close(ours[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_qa_training_step_leaves_the_logits_on_the_device(qa_checkpoint, monkeypatch):
    """The labels need only the plan: `qa_train_step` never copies window logits to the host."""
    _, directory = qa_checkpoint
    qa = make_nlp(directory).get_pipe("bert_qa")
    qa._check_ready()

    def no_copy(*args, **kwargs):
        raise AssertionError("window logits copied to the host in a training step")

    monkeypatch.setattr(qa_layer, "_window_logits", no_copy)
    seen = []

    def labels(windows):
        seen.append(windows)
        return np.zeros(windows.plan.n_windows, dtype=np.int64), np.zeros(windows.plan.n_windows, dtype=np.int64)

    loss, windows = qa_layer.qa_train_step(qa.model, [LONG_CONTEXT], ["Where was amber traded?"], labels)
    assert np.isfinite(loss) and loss > 0
    assert seen == [windows] and windows.start_logits is None and windows.end_logits is None
    assert windows.plan.n_windows > 1


@pytest.mark.parametrize("whole_word", [False, True])
def test_mask_pieces_never_masks_specials(whole_word):
    from spacy_bert.layers.stages.hooks import IGNORE_INDEX, MaskPieces, piece_words

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 2000, size=(4, 12))
    special = np.zeros(ids.shape, dtype=bool)
    special[:, 0] = special[:, -1] = special[2, 6:] = True
    hook = MaskPieces(103, 30522, probability=0.9, whole_word=whole_word)
    new_ids, labels = hook(ids, (~special).astype(np.int64), special, rng, piece_words(special) if whole_word else None)
    assert not (labels != IGNORE_INDEX)[special].any() and (labels != IGNORE_INDEX).sum() > 10
    assert np.array_equal(new_ids[special], ids[special])
