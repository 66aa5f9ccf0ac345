"""The tokenization package stays light: what it imports, and that it pickles."""
import ast
import pickle
from pathlib import Path

import pytest

import spacy_bert.tokenization as tokenization
from spacy_bert.tokenization import BertTokenizer

ALLOWED = {"tokenizers", "numpy", "torch", "spacy_bert"}


def test_imports_only_the_standard_library_tokenizers_numpy_and_torch():
    import sys

    if not hasattr(sys, "stdlib_module_names"):  # Python < 3.10
        pytest.skip("needs sys.stdlib_module_names")
    package = Path(tokenization.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_pickle_round_trip(uncased_vocab_file):
    ours = BertTokenizer(uncased_vocab_file, never_split=["[unused1]"], model_max_length=128)
    again = pickle.loads(pickle.dumps(ours))
    text = "A [unused1] pickled tokenizer."
    assert again(text, return_offsets_mapping=True) == ours(text, return_offsets_mapping=True)
    assert again.model_max_length == 128 and again.never_split == ["[unused1]"]
