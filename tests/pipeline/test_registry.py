"""Entry points: spaCy finds every registered name without user code importing spacy_bert."""
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import spacy

GROUPS = ("spacy_factories", "spacy_architectures")


def _ours(group):
    return [ep for ep in entry_points(group=group) if ep.value.startswith("spacy_bert.")]


@pytest.mark.parametrize("group", GROUPS)
def test_every_entry_point_loads(group):
    eps = _ours(group)
    assert eps, f"no spacy_bert entry points in {group}: is the package installed (pip install -e .)?"
    for ep in eps:
        assert callable(ep.load())


def test_architectures_resolve_through_spacy_registry():
    for ep in _ours("spacy_architectures"):
        assert spacy.registry.architectures.get(ep.name) is not None


def test_add_pipe_without_importing_spacy_bert(tiny_bert_dir):
    code = (
        "import sys, spacy\n"
        "assert 'spacy_bert' not in sys.modules  # user code never imports it\n"
        "nlp = spacy.blank('en')\n"
        f"nlp.add_pipe('bert', config={{'checkpoint': {str(tiny_bert_dir)!r}}})\n"
        "nlp.add_pipe('ner', config={'model': {'@architectures': 'spacy.TransitionBasedParser.v2', "
        "'state_type': 'ner', 'extra_state_tokens': False, 'hidden_width': 16, 'maxout_pieces': 2, "
        "'use_upper': False, 'tok2vec': {'@architectures': 'spacy-bert.BertListener.v1'}}})\n"
        "nlp.initialize()\n"
        "print(nlp('It works.').tensor.shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "(3, 32)" in result.stdout
