"""`spacy-bert.AdamW.v1`'s step: the shim's torch parameters stepped in torch (fused) and thinc's
per-parameter path both equal torch's published AdamW arithmetic with Hugging Face's recipe.

The reference below is written from the algorithm of torch's `AdamW` documentation, in
float64, on copies of the very gradients the pipeline computed (so only the optimizer's
arithmetic is compared):

    g <- g * min(1, max_norm / (||all gradients||_2 + 1e-6))      (clip_grad_norm_)
    w <- w - lr * wd * w                                           (wd = 0 for biases, LayerNorm weights)
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

It covers the decay exclusions (torch names with "bias" or "LayerNorm.weight", thinc's bias
`b`), clipping that binds, and one global norm across a shared `bert` encoder and the heads
of both its listeners (each head clipped once, with the encoder).
"""
import numpy as np
import pytest
import spacy
import torch
from spacy.training import Example
from spacy.util import registry
from thinc.api import Adam

from spacy_bert.layers.encoder import get_shim
from spacy_bert.layers.shim.bert_shim import BertShim
from spacy_bert.modeling import BertConfig, BertModel
from spacy_bert.tokenization import BertTokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LR, WD, MAX_NORM, B1, B2, EPS = 1e-2, 0.1, 0.05, 0.9, 0.999, 1e-8
STEPS = 3
DATA = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")], "pos"),
    ("I like London and Berlin", [(7, 13, "LOC"), (18, 24, "LOC")], "pos"),
    ("the food was cold and bland", [], "neg"),
]


def reference_decays(name):
    """Hugging Face's `no_decay = ["bias", "LayerNorm.weight"]`; thinc's linear bias is `b`."""
    return name != "b" and "bias" not in name and "LayerNorm.weight" not in name


class ReferenceAdamW:
    """torch's AdamW (documented algorithm) with global clipping, in float64."""

    def __init__(self):
        self.state = {}

    def step(self, params):
        """params: {key: (weights, gradient, name)} (numpy copies) -> {key: new weights}."""
        total = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for _, g, _ in params.values()))
        coef = min(1.0, MAX_NORM / (total + 1e-6))
        out = {}
        for key, (w, g, name) in params.items():
            w, g = w.astype(np.float64), g.astype(np.float64) * coef
            m, v, t = self.state.get(key, (np.zeros_like(w), np.zeros_like(w), 0))
            t += 1
            if reference_decays(name):
                w = w - LR * WD * w
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            w = w - LR * (m / (1 - B1**t)) / (np.sqrt(v / (1 - B2**t)) + EPS)
            self.state[key] = (m, v, t)
            out[key] = w
        return out, total


def build(mode, directory):
    """`bert_ner` on its own encoder, or `bert` with `bert_ner` and `bert_textcat` listening."""
    nlp = spacy.blank("en")
    settings = {"checkpoint": str(directory), "window": 64, "stride": 16}
    if mode == "own":
        nlp.add_pipe("bert_ner", config=settings)
    else:
        nlp.add_pipe("bert", config=settings)
        for factory, arch in (("bert_ner", "BertTokenClassifier"), ("bert_textcat", "BertSequenceClassifier")):
            listener = {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"}
            nlp.add_pipe(factory, config={"model": {"@architectures": f"spacy-bert.{arch}.v1", "nO": None, "tok2vec": listener}})
    egs = [Example.from_dict(nlp.make_doc(t), {"entities": e, "cats": {"pos": float(c == "pos"), "neg": float(c == "neg")}}) for t, e, c in DATA]
    nlp.initialize(lambda: egs)
    return nlp, egs


def snapshot(nlp):
    """Every trainable parameter with a gradient: {key: (weights, gradient, name)} copies."""
    params = {}
    for comp, proc in nlp.pipeline:
        for node in proc.model.walk():
            for shim in node.shims:
                for name, p in shim._model.named_parameters():
                    if p.grad is not None:
                        params[(comp, "torch", name)] = (p.detach().numpy().copy(), p.grad.numpy().copy(), name)
            for name in node.param_names:
                if node.has_grad(name):
                    params[(comp, node.id, name)] = (np.array(node.get_param(name)), np.array(node.get_grad(name)), name)
    return params


def current(nlp, key):
    comp, where, name = key
    model = nlp.get_pipe(comp).model
    if where == "torch":
        shim = next(s for node in model.walk() for s in node.shims)
        return dict(shim._model.named_parameters())[name].detach().numpy()
    return np.asarray(next(node for node in model.walk() if node.id == where).get_param(name))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("mode", ["own", "listeners"])
def test_step_equals_torch_adamw_arithmetic(mode, fused, tiny_bert_dir):
    nlp, egs = build(mode, tiny_bert_dir)
    sgd = registry.resolve({"o": {"@optimizers": "spacy-bert.AdamW.v1", "learn_rate": LR, "weight_decay": WD, "max_grad_norm": MAX_NORM, "fused": fused}})["o"]
    reference = ReferenceAdamW()
    for _ in range(STEPS):
        nlp.update(egs, sgd=False, drop=0.0, losses={})
        before = snapshot(nlp)
        assert any(k[1] == "torch" for k in before) and any(k[1] != "torch" for k in before)
        expected, total = reference.step(before)
        assert total > 2 * MAX_NORM  # the clipping binds
        for _, proc in nlp.pipeline:
            proc.finish_update(sgd)
        for key, want in expected.items():
            np.testing.assert_allclose(current(nlp, key), want, rtol=0, atol=2e-6, err_msg=str(key))
        # and the step moved the weights (beyond the tolerance)
        assert max(float(np.abs(before[k][0] - expected[k]).max()) for k in expected) > 1e-3
    # the torch parameters went through torch's AdamW exactly when fused
    assert bool(sgd._torch_state) is fused
    decayed = [k for k in before if reference_decays(k[2])]
    assert decayed and len(decayed) < len(before)


def tiny_shim(minilm_dir):
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, max_position_embeddings=16))
    shim = BertShim()
    shim.set_model(model, BertTokenizer.from_pretrained(minilm_dir))
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e-3)
    return shim


def test_no_step_when_the_grad_scaler_found_an_overflow(minilm_dir):
    """As thinc's shim and torch's GradScaler: the step is skipped, the gradients zeroed."""
    shim = tiny_shim(minilm_dir)
    before = {n: p.detach().clone() for n, p in shim.model.named_parameters()}
    sgd = registry.resolve({"o": {"@optimizers": "spacy-bert.AdamW.v1", "learn_rate": LR}})["o"]
    shim._grad_scaler._found_inf = True
    shim.finish_update(sgd)
    for name, p in shim.model.named_parameters():
        assert torch.equal(p.detach(), before[name]), name
        assert not p.grad.any()


def test_thinc_optimizers_take_thincs_path(minilm_dir):
    """A user's thinc optimizer steps the shim's parameters through thinc (its own state)."""
    shim = tiny_shim(minilm_dir)
    before = {n: p.detach().clone() for n, p in shim.model.named_parameters()}
    sgd = Adam(0.01)
    shim.finish_update(sgd)
    assert len(sgd.mom1) == len(before)
    assert all(not torch.equal(p.detach(), before[n]) for n, p in shim.model.named_parameters())


def test_averages_follow_thinc(minilm_dir):
    """`use_averages`: the torch path keeps thinc's moving average per (shim id, name)."""
    shims = [tiny_shim(minilm_dir), tiny_shim(minilm_dir)]
    averages = []
    for shim, fused in zip(shims, (True, False)):
        sgd = AdamWWithAverages(fused)
        for _ in range(3):
            for p in shim.model.parameters():
                p.grad = torch.full_like(p, 1e-3)
            shim.finish_update(sgd)
        averages.append({k[1]: np.asarray(v) for k, v in sgd.averages.items()})
    assert averages[0].keys() == averages[1].keys() and averages[0]
    for name in averages[0]:
        np.testing.assert_allclose(averages[0][name], averages[1][name], rtol=0, atol=1e-6)


def AdamWWithAverages(fused):
    return registry.resolve({"o": {"@optimizers": "spacy-bert.AdamW.v1", "learn_rate": LR, "use_averages": True, "fused": fused}})["o"]
