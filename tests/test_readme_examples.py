"""The README's next-sentence and multiple-choice examples run as written, and give what
`transformers` gives on the same checkpoint and texts (tiny random heads: the numbers, not the
quality, are what is checked)."""
import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(marker: str) -> str:
    """The ```python block of the README whose `checkpoint = ...` line carries `marker`."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"README should hold one example marked {marker!r}"
    return found[0]


def run_block(block: str, checkpoint: Path) -> dict:
    """Execute a README block with its placeholder checkpoint replaced by `checkpoint`."""
    code, n = re.subn(r'checkpoint = "[^"]+"', f"checkpoint = {str(checkpoint)!r}", block)
    assert n == 1
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102  (our own README)
    return namespace


def test_next_sentence_example_equals_transformers(make_tiny_head, hf_uncased_tokenizer):
    hf, directory = make_tiny_head("BertForPreTraining")  # NSP head = cls.seq_relationship
    ns = run_block(readme_block("README: nsp checkpoint"), directory)
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
    ns = run_block(readme_block("README: multiple-choice checkpoint"), directory)
    n = len(ns["choices"])
    inputs = hf_uncased_tokenizer([ns["prompt"]] * n, ns["choices"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = hf(**{k: v.unsqueeze(0) for k, v in inputs.items()}).logits
    assert ns["logits"].shape == (1, n)
    torch.testing.assert_close(ns["logits"], expected, atol=1e-5, rtol=1e-5)
    assert ns["best"] == ns["choices"][int(expected.argmax())]


@pytest.mark.parametrize("marker", ["README: nsp checkpoint", "README: multiple-choice checkpoint"])
def test_examples_name_a_placeholder_checkpoint(marker):
    """The examples say which kind of checkpoint they need (a placeholder path, replaced above)."""
    assert 'checkpoint = "path/to/' in readme_block(marker)
