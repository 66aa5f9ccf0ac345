"""Fixtures for the spaCy components: a tiny random BERT with the real uncased vocabulary."""
import pytest
import torch

from spacy_bert import BertConfig, BertModel, BertTokenizer

#: 64 positions, so texts of more than 62 pieces already take several windows.
TINY_BERT = dict(
    vocab_size=30522,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir):
    """A random BertModel checkpoint (hidden 32, 64 positions) with the bert-base-uncased tokenizer."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertModel(BertConfig(**TINY_BERT)).save_pretrained(directory, tokenizer=BertTokenizer.from_pretrained(minilm_dir))
    return directory
