"""Hugging Face reference constructions, built the way Hugging Face's example scripts build
them, for parity checks against `transformers` (the tests and `python -m bench.parity_qa`):

- `hf_features`, `hf_train_labels`: extractive-QA features as `run_qa.py` builds them (the fast
  tokenizer's overflowing windows of a (question, context) pair, `prepare_train_features`'
  start/end labels);
- `word_piece_labels`: token-classification labels on the first piece of each word, -100
  elsewhere (`run_ner.py`'s `label_all_tokens=False`).

They are deliberately independent of spacy_bert's own windowing and labelling (nothing in the
library imports this module): they are what spacy_bert is compared with. The tokenizer
arguments are `transformers` tokenizers; torch and numpy are imported only when used.
"""
from typing import List, Sequence, Tuple

__all__ = ["hf_features", "hf_train_labels", "word_piece_labels"]


def hf_features(tokenizer, question, context, max_length, stride):
    """Every window of one (question, context) pair, unpadded: a BatchEncoding with
    `offset_mapping` and `sequence_ids(i)`."""
    return tokenizer(
        question, context, truncation="only_second", max_length=max_length, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )


def hf_train_labels(features, context, answer):
    """run_qa.py's prepare_train_features labels, verbatim in spirit (answer None: unanswerable)."""
    starts, ends = [], []
    for i, offsets in enumerate(features["offset_mapping"]):
        cls_index = features["input_ids"][i].index(101)
        seq = features.sequence_ids(i)
        if answer is None:
            starts.append(cls_index), ends.append(cls_index)
            continue
        start_char, end_char = answer["start"], answer["end"]
        token_start_index = 0
        while seq[token_start_index] != 1:
            token_start_index += 1
        token_end_index = len(features["input_ids"][i]) - 1
        while seq[token_end_index] != 1:
            token_end_index -= 1
        if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
            starts.append(cls_index), ends.append(cls_index)
            continue
        while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
            token_start_index += 1
        starts.append(token_start_index - 1)
        while offsets[token_end_index][1] >= end_char:
            token_end_index -= 1
        ends.append(token_end_index + 1)
    return starts, ends


def word_piece_labels(tokenizer, data: Sequence[Tuple[str, List[Tuple[int, int, str]]]], rows: Sequence[str]):
    """(encoding, labels) for `data` = [(text, [(start_char, end_char, type), ...])]: BIO tags per
    space-separated word, the row index of each tag in `rows` on the word's first piece.
    labels: (batch, seq) int64."""
    import numpy as np
    import torch

    enc = tokenizer([t for t, _ in data], return_tensors="pt", padding=True)
    labels = torch.full(enc["input_ids"].shape, -100)
    for row, (text, entities) in enumerate(data):
        words = text.split(" ")
        starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
        tags = ["O"] * len(words)
        for s, e, label in entities:
            inside = [i for i, st in enumerate(starts) if s <= st < e]
            tags[inside[0]] = f"B-{label}"
            for i in inside[1:]:
                tags[i] = f"I-{label}"
        seen = set()
        for i, w in enumerate(enc.word_ids(row)):
            if w is not None and w not in seen:
                seen.add(w)
                labels[row, i] = list(rows).index(tags[w])
    return enc, labels
