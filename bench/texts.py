"""The benchmarks' text sets, three shapes from ../shared/data, and what they cost the encoder.

    sentences   single sentences: SST-2 dev sentences, then train sentences (lower-cased,
                tokenised, with spaces; train holds short phrases too), about 10-20 words
    tweets      WNUT-17 train sentences (tweets), their tokens joined back with spaces
    paragraphs  WikiText-2 valid paragraphs (blank lines and ` = Title = ` headings skipped),
                about 110 words: the default, as before

`encoder_work` counts, without running a model, what our `bert` component feeds its encoder
for a text set: words (spaCy tokens of `spacy.blank("en")`), WordPiece pieces, encoder
positions (windows with [CLS]/[SEP], padded within each batch) and the padding share, per
`nlp.pipe` batch as the component plans them (`plan_windows`, then `plan_batches` or the
greedy fill). The encoder's real forwards count the same positions (`ForwardMeter`).
"""
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from bench.harness import data_dir as find_data, model_dir

TEXT_SETS = ("sentences", "tweets", "paragraphs")
DEFAULT_TEXT_SET = "paragraphs"


def wikitext_paragraphs(data_dir: Optional[str] = None) -> List[str]:
    """WikiText-2 valid paragraphs, in order: blank lines and ` = Title = ` headings skipped."""
    texts = []
    with open(find_data("wikitext2", "valid.txt", root=data_dir), encoding="utf-8-sig") as f:
        for line in f:
            line = line.strip()
            if line and not re.fullmatch(r"=.*=", line):
                texts.append(line)
    return texts


def _sentences(data_dir: Optional[str]) -> List[str]:
    texts = []
    for name in ("dev.tsv", "train.tsv"):
        with open(find_data("sst2", name, root=data_dir), encoding="utf-8") as f:
            next(f)  # header: label<TAB>sentence (dev: label<TAB>content)
            for line in f:
                label, _, sentence = line.rstrip("\n").partition("\t")
                if sentence.strip():
                    texts.append(sentence.strip())
    return texts


def _tweets(data_dir: Optional[str]) -> List[str]:
    texts, tokens = [], []
    with open(find_data("wnut17", "wnut17train.conll", root=data_dir), encoding="utf-8") as f:
        for line in f:
            token = line.rstrip("\n").split("\t")[0].strip()
            if token:
                tokens.append(token)
            elif tokens:
                texts.append(" ".join(tokens))
                tokens = []
    if tokens:
        texts.append(" ".join(tokens))
    return texts


READERS: Dict[str, Callable[[Optional[str]], List[str]]] = {
    "sentences": _sentences,
    "tweets": _tweets,
    "paragraphs": wikitext_paragraphs,
}


def load_texts(text_set: str, n_texts: int, data_dir: Optional[Path] = None) -> List[str]:
    """The first `n_texts` texts (int) of `text_set` (one of TEXT_SETS), from `data_dir`
    (default ../shared/data). Fewer available than asked is an error, never a silent cut."""
    if text_set not in READERS:
        raise SystemExit(f"unknown text set {text_set!r}: expected one of {', '.join(TEXT_SETS)}")
    texts = READERS[text_set](str(data_dir) if data_dir else None)
    if len(texts) < n_texts:
        raise SystemExit(f"--n-texts {n_texts}: the {text_set} set has only {len(texts)} texts; ask for at most that")
    return texts[:n_texts]


def describe(text_set: str) -> str:
    return {
        "sentences": "SST-2 sentences (dev, then train)",
        "tweets": "WNUT-17 train tweets",
        "paragraphs": "WikiText-2 valid paragraphs",
    }[text_set]


def encoder_work(
    texts: Sequence[str],
    batch_size: int,
    planner: Callable,
    window: int = 512,
    stride: int = 128,
    max_batch_items: int = 2048,
) -> Dict[str, float]:
    """What our encoder runs for `texts` (Sequence[str]) split into `nlp.pipe` batches of
    `batch_size` texts, each planned with `planner(lengths, max_batch_items) -> groups`.

    Returns {"texts", "words", "pieces", "positions", "real_positions", "forwards",
    "pieces_per_word", "positions_per_word", "padding"}; positions include [CLS]/[SEP],
    window overlap and padding; padding = share of positions that are padding.
    """
    import numpy as np
    import spacy

    from spacy_bert.layers.stages.windows import plan_windows
    from spacy_bert.tokenization import BertTokenizer

    nlp = spacy.blank("en")
    words = sum(len(doc) for doc in nlp.tokenizer.pipe(texts))
    tokenizer = BertTokenizer.from_pretrained(model_dir())
    n_pieces = [len(ids) for ids, _ in tokenizer.encode_batch_with_offsets(list(texts))]
    positions = real = forwards = 0
    for start in range(0, len(texts), batch_size):
        plan = plan_windows(n_pieces[start : start + batch_size], window, stride)
        lengths = plan.length + 2
        for group in planner(lengths, max_batch_items):
            positions += len(group) * int(lengths[group].max())
            real += int(np.sum(lengths[group]))
            forwards += 1
    return {
        "texts": len(texts),
        "words": words,
        "pieces": sum(n_pieces),
        "positions": positions,
        "real_positions": real,
        "forwards": forwards,
        "pieces_per_word": sum(n_pieces) / words if words else 0.0,
        "positions_per_word": positions / words if words else 0.0,
        "padding": 1 - real / positions if positions else 0.0,
    }


def print_encoder_work(texts: Sequence[str], text_set: str, batch_size: int, max_batch_items: int) -> None:
    """The text set's statistics under our component's planning: greedy budget fill (before)
    and `plan_batches` (after), per `nlp.pipe` batch and across 4 batches at once."""
    from spacy_bert.layers.stages.batching import greedy_batches, plan_batches

    print(f"text set {text_set} ({describe(text_set)}): encoder work of our bert (window 512, stride 128, "
          f"max_batch_items {max_batch_items}), counted without a model:")
    header = f"{'batch cuts':<34} {'words':>8} {'pieces/word':>11} {'positions/word':>14} {'padding':>8} {'forwards':>8}"
    print(header)
    print("-" * len(header))
    for name, planner, size in (
        ("greedy budget fill", greedy_batches, batch_size),
        ("plan_batches (min cost)", plan_batches, batch_size),
        (f"plan_batches, {4 * batch_size} texts sorted", plan_batches, 4 * batch_size),
    ):
        w = encoder_work(texts, size, planner, max_batch_items=max_batch_items)
        print(f"{name:<34} {w['words']:>8,} {w['pieces_per_word']:>11.2f} {w['positions_per_word']:>14.2f} "
              f"{w['padding']:>7.1%} {w['forwards']:>8,}")
    print()
