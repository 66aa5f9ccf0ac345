"""Fixtures of the encoder-stage tests: tiny random transformers heads over the real uncased vocabulary."""
import pytest
import torch

from tests.tiny import TINY_HEAD


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
        import transformers

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
