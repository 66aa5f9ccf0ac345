"""`train_precision` (issue 25): bf16 autocast of training on the CPU with fp32 master weights.

With `train_precision = "bfloat16"` in a model block, every component that trains through the
shim (`bert_ner`, `bert_textcat`, `bert` with its listeners, `bert_qa`, `bert_fill_mask`) runs
its training forward pass under `torch.autocast("cpu", dtype=torch.bfloat16)`: the encoder's
linear layers compute in bf16, while the parameters, their gradients and the optimizer state
stay float32, and the loss still goes down. With the default ("float32") nothing changes
(`tests/pipeline/test_training_parity.py` runs unchanged). A bad value is E663.
"""
from typing import Dict, List

import pytest
import spacy
import torch
from spacy.training import Example
from spacy.util import registry

from spacy_bert.layers.encoder import get_shim
from spacy_bert.layers.precision.training import train_autocast_dtype

from .test_training_parity import CAT_DATA, CAT_ROWS, MLM_DATA, NER_DATA, qa_examples

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BF16 = "bfloat16"
STEPS = 6


def optimizer():
    return registry.resolve({"o": {"@optimizers": "spacy-bert.AdamW.v1", "learn_rate": 1e-3}})["o"]


def encoder_block(train_precision: str) -> Dict:
    return {"@architectures": "spacy-bert.BertEncoder.v1", "train_precision": train_precision}


def record_linear_dtypes(model: torch.nn.Module) -> List[torch.dtype]:
    """The output dtype of the first query projection at every forward pass (a hook)."""
    seen: List[torch.dtype] = []
    query = next(m for n, m in model.named_modules() if n.endswith("attention.self.query"))
    query.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    return seen


def assert_fp32_master(shim, sgd) -> None:
    """Parameters, gradients and the optimizer's torch state are float32."""
    for name, param in shim.model.named_parameters():
        assert param.dtype == torch.float32, name
        assert param.grad is None or param.grad.dtype == torch.float32, name
    states = [t for key, state in sgd._torch_state.items() if key[0] == shim.id for t in state]
    assert states and all(t.dtype == torch.float32 for t in states)


def train(nlp, examples, pipe_names, sgd) -> List[float]:
    """STEPS updates on the same batch (as `spacy train` does: updates, then finish_update)."""
    losses = []
    for _ in range(STEPS):
        step: Dict[str, float] = {}
        nlp.update(examples, sgd=False, drop=0.0, losses=step)
        for name in pipe_names:
            nlp.get_pipe(name).finish_update(sgd)
        losses.append(sum(step.values()))
    return losses


def ner_pipeline(tiny_bert_dir, train_precision: str):
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy-bert.BertTokenClassifier.v1", "nO": None, "tok2vec": encoder_block(train_precision)}
    nlp.add_pipe("bert_ner", config={"checkpoint": str(tiny_bert_dir), "window": 64, "stride": 16, "model": model})
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in NER_DATA]
    nlp.initialize(lambda: examples)
    return nlp, examples, get_shim(nlp.get_pipe("bert_ner").encoder)


def listener_pipeline(tiny_bert_dir, train_precision: str):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 64, "stride": 16, "model": encoder_block(train_precision)})
    head = {
        "@architectures": "spacy-bert.BertSequenceClassifier.v1",
        "nO": None,
        "tok2vec": {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"},
    }
    nlp.add_pipe("bert_textcat", config={"model": head})
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {r: float(r == c) for r in CAT_ROWS}}) for t, c in CAT_DATA]
    nlp.initialize(lambda: examples)
    return nlp, examples, get_shim(nlp.get_pipe("bert").model)


@pytest.mark.parametrize("build,names", [(ner_pipeline, ["bert_ner"]), (listener_pipeline, ["bert", "bert_textcat"])], ids=["bert_ner", "bert+listener"])
def test_bf16_training_autocasts_keeps_fp32_master_and_learns(tiny_bert_dir, build, names):
    nlp, examples, shim = build(tiny_bert_dir, BF16)
    assert shim.train_autocast is torch.bfloat16  # on this CPU (any CPU: the setting is explicit)
    seen = record_linear_dtypes(shim.model)
    sgd = optimizer()
    losses = train(nlp, examples, names, sgd)
    assert seen and set(seen) == {torch.bfloat16}  # every training forward ran in bf16
    assert losses[-1] < losses[0], losses
    assert_fp32_master(shim, sgd)
    # prediction is not affected: the fp32 model predicts (precision = "float32")
    seen.clear()
    nlp(NER_DATA[0][0])
    assert seen == [torch.float32]


def test_float32_default_leaves_training_in_fp32(tiny_bert_dir):
    nlp, examples, shim = ner_pipeline(tiny_bert_dir, "float32")
    assert shim.train_autocast is None
    seen = record_linear_dtypes(shim.model)
    train(nlp, examples[:2], ["bert_ner"], optimizer())
    assert set(seen) == {torch.float32}
    plain = spacy.blank("en")
    plain.add_pipe("bert_ner", config={"checkpoint": str(tiny_bert_dir)})
    assert plain.config["components"]["bert_ner"]["model"]["tok2vec"]["train_precision"] == "float32"


@pytest.mark.parametrize("factory,arch", [("bert_qa", "spacy-bert.BertQuestionAnswering.v1"), ("bert_fill_mask", "spacy-bert.MaskedLM.v1")])
def test_whole_model_components_train_in_bf16(make_tiny_head, factory, arch):
    class_name = "BertForQuestionAnswering" if factory == "bert_qa" else "BertForMaskedLM"
    _, directory = make_tiny_head(class_name)
    nlp = spacy.blank("en")
    settings = {"max_seq_len": 64, "doc_stride": 16} if factory == "bert_qa" else {"window": 64, "stride": 16, "mlm_probability": 0.3}
    nlp.add_pipe(factory, config={"checkpoint": str(directory), **settings, "model": {"@architectures": arch, "train_precision": BF16}})
    if factory == "bert_qa":
        examples = qa_examples(nlp)
    else:
        examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in MLM_DATA]
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe(factory)
    shim = pipe.model.shims[0]
    seen = record_linear_dtypes(shim.model)
    sgd = optimizer()
    losses = train(nlp, examples, [factory], sgd)
    assert seen and set(seen) == {torch.bfloat16}
    assert all(loss == loss for loss in losses), losses  # finite (nan != nan)
    if factory == "bert_qa":  # the masked-LM loss moves with the masks drawn each step
        assert losses[-1] < losses[0], losses
    assert_fp32_master(shim, sgd)


def test_bad_value_is_E663_naming_the_setting(tiny_bert_dir):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=r"E663.*train_precision = 'bf16'.*spacy-bert.BertEncoder.v1"):
        nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "model": encoder_block("bf16")})
    for factory, arch in (("bert_fill_mask", "spacy-bert.MaskedLM.v1"), ("bert_qa", "spacy-bert.BertQuestionAnswering.v1")):
        with pytest.raises(ValueError, match=rf"E663.*'float16'.*{arch}"):  # fp16 is CUDA's (mixed_precision)
            nlp.add_pipe(factory, config={"model": {"@architectures": arch, "train_precision": "float16"}})


@pytest.mark.parametrize(
    "value,device,flags,expected",
    [
        ("float32", "cpu", {"amx_bf16"}, None),
        ("bfloat16", "cpu", set(), torch.bfloat16),  # honoured where it is slow too: the user asked
        ("auto", "cpu", {"amx_bf16", "avx512_bf16"}, torch.bfloat16),
        ("auto", "cpu", {"avx512_bf16", "avx512_vnni"}, None),  # AVX-512 bf16 without AMX: fp32
        ("bfloat16", "cuda", {"amx_bf16"}, None),  # on CUDA thinc's mixed_precision decides
        ("auto", "cuda", {"amx_bf16"}, None),
    ],
)
def test_the_autocast_each_setting_gets(value, device, flags, expected):
    assert train_autocast_dtype(value, device, frozenset(flags)) is expected


def test_replace_listeners_keeps_the_setting(tiny_bert_dir):
    """`nlp.replace_listeners` gives the listening component its own encoder with the shared
    one's `train_precision` (in its config and in its shim)."""
    nlp, examples, _ = listener_pipeline(tiny_bert_dir, BF16)
    nlp.replace_listeners("bert", "bert_textcat", ["model.tok2vec"])
    textcat = nlp.get_pipe("bert_textcat")
    assert nlp.config["components"]["bert_textcat"]["model"]["tok2vec"]["train_precision"] == BF16
    shim = next(s for node in textcat.model.walk() for s in node.shims)
    assert shim.train_autocast is torch.bfloat16
    seen = record_linear_dtypes(shim.model)
    train(nlp, examples[:2], ["bert_textcat"], optimizer())
    assert seen and set(seen) == {torch.bfloat16}
