"""The main job (`python -m spacy_bert similarity`) on the real all-MiniLM-L6-v2 checkpoint."""
import sys
from pathlib import Path

import pytest
import torch

from spacy_bert import BertModel, BertTokenizer
from spacy_bert.__main__ import DEFAULT_SENTENCES, sentence_embeddings
from tests.background import Step, job, results


def test_embeddings_equal_sentence_transformers(minilm_dir):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm_dir), device="cpu").encode(DEFAULT_SENTENCES, convert_to_tensor=True)
    ours = sentence_embeddings(BertModel.from_pretrained(minilm_dir), BertTokenizer.from_pretrained(minilm_dir), DEFAULT_SENTENCES)
    assert (ours - reference.cpu()).abs().max() <= 1e-4


def test_long_text_is_windowed_not_truncated(minilm_dir):
    model, tokenizer = BertModel.from_pretrained(minilm_dir), BertTokenizer.from_pretrained(minilm_dir)
    head = "Cats purr when they are content. " * 10
    tail = "The stock market crashed and investors lost billions. " * 10
    both = sentence_embeddings(model, tokenizer, [head + tail], max_length=64)
    head_only = sentence_embeddings(model, tokenizer, [head], max_length=64)
    tail_only = sentence_embeddings(model, tokenizer, [tail], max_length=64)
    # the text's end still shapes the embedding: it is closer to its tail than the head alone is
    assert float(both @ tail_only.T) > float(head_only @ tail_only.T) + 0.1


@job("main-similarity")
def similarity_job(request) -> list:
    """The command in a bare environment (no PATH, offline), beside the suite."""
    return [Step([sys.executable, "-m", "spacy_bert", "similarity", "A dog runs.", "A puppy is running.", "Taxes are due."],
                 cwd=Path.cwd(), env={"HF_HUB_OFFLINE": "1", "PATH": ""}, timeout=600)]


@pytest.mark.slow
@pytest.mark.background("main-similarity")
def test_command_runs_offline():
    (result,) = results("main-similarity")
    assert "(3, 384) embeddings" in result.stdout
    assert "[0] A dog runs.  nearest: [1]" in result.stdout
