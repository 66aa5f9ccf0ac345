"""Hugging Face token-classification labels for test data, built the way the Hugging Face
examples build them: the label on the first piece of each space-separated word, -100 elsewhere."""
from typing import List, Sequence, Tuple

import numpy as np
import torch


def word_piece_labels(tokenizer, data: Sequence[Tuple[str, List[Tuple[int, int, str]]]], rows: Sequence[str]):
    """(encoding, labels) for `data` = [(text, [(start_char, end_char, type), ...])]: BIO tags per
    space-separated word, the row index of each tag in `rows` on the word's first piece.
    labels: (batch, seq) int64."""
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
