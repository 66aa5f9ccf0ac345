"""Fixtures of the tokenization tests: our tokenizer and transformers' on the same files.

Every expected value in these tests comes from transformers, computed in the same process
(`transformers.BertTokenizer`, and the legacy Python `BertTokenizerLegacy` where the current
one has no equivalent), never from outputs of our own code written down.
"""
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from spacy_bert.tokenization import BertTokenizer
from spacy_bert.tokenization.files import load_vocab

# Words given their own (cased) entries in the small cased vocabulary, in place of
# [unusedN] entries of the uncased one, so that ids stay 0..n-1.
CASED_WORDS = [
    "Hello", "World", "The", "Café", "Ångström", "Paris", "London", "BERT", "Homarus", "European",
    "Atlantic", "Ocean", "Mediterranean", "Sea", "Black", "American", "H", "British", "Isles", "Like",
    "This", "It", "In", "Mating", "Description", "##ES", "##ER", "NAÏVE", "Naïve", "ÉCOLE",
]

# The hand-picked corpus: each entry is a case the normaliser, pre-tokenizer or offsets
# could get wrong.
CORPUS = [
    "Hello, world! This is BERT.",
    "Cafe\u0301 and caf\u00e9 are the same word; naïve, Ångström, ÉCOLE, Crème Brûlée.",
    "東京は日本の首都です。北京欢迎你",
    "한국어 텍스트와 カタカナ mixed with English.",
    "Emoji: 👩\u200d💻 codes, 👍🏽 thumbs, 🇫🇷 flag, ❤️ heart.",
    "Control \x00 chars\x07 and\u200b zero\ufeff width\t tab\r\n newline\x1f unit.",
    "Visit https://example.com/path?query=1&b=2#frag or mail someone@example.org.",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + " is a word over 100 chars.",
    "",
    "   \t\n  ",
    "\u00a0\u3000\u2028",
    "Don't stop-believing... it's 3.14159 (approx.) — isn't it?",
    "[CLS] inside text [SEP] and [MASK] and [UNK] and [unused1] and [PAD]",
    "UPPER lower MiXeD Ünïcödé ß ﬁ ligature Ⅻ roman ½ fraction",
    "Greek ΑΒΓ αβγ, Cyrillic Привет, Arabic مرحبا, Hebrew שלום, Thai สวัสดี",
    "a" * 101 + " b",
    "x",
]


def wiki_paragraphs(data_dir: Path, n_chars: int = 4000) -> str:
    """A few real paragraphs of English (WikiText-2 validation set), read at test time."""
    text = (data_dir / "wikitext2" / "valid.txt").read_text(encoding="utf-8")
    return text[:n_chars]


@pytest.fixture(scope="session")
def wiki_text(data_dir) -> str:
    return wiki_paragraphs(data_dir)


@pytest.fixture(scope="session")
def corpus(wiki_text) -> List[str]:
    return CORPUS + [wiki_text]


@pytest.fixture(scope="session")
def cased_vocab_file(uncased_vocab_file, tmp_path_factory) -> Path:
    """A small cased variant of the uncased vocabulary: CASED_WORDS replace [unusedN] entries."""
    vocab = load_vocab(uncased_vocab_file)
    tokens = sorted(vocab, key=vocab.__getitem__)
    unused = [i for i, token in enumerate(tokens) if token.startswith("[unused")]
    for index, word in zip(unused[2:], CASED_WORDS):  # keep [unused0], [unused1]
        tokens[index] = word
    path = tmp_path_factory.mktemp("cased") / "vocab.txt"
    path.write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def hf_bert():
    """transformers' BertTokenizer class (the tokenizers-backed one)."""
    transformers = pytest.importorskip("transformers")
    return transformers.BertTokenizer


@pytest.fixture(scope="session")
def hf_legacy():
    """transformers' legacy pure-Python BertTokenizer class."""
    pytest.importorskip("transformers")
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    return BertTokenizerLegacy


@pytest.fixture(scope="session")
def make_pair(hf_bert, uncased_vocab_file, cased_vocab_file) -> Callable[..., Tuple[BertTokenizer, object]]:
    """(ours, transformers') on the "uncased" or "cased" vocabulary with the same options; cached."""
    cache: Dict[tuple, Tuple[BertTokenizer, object]] = {}
    files = {"uncased": uncased_vocab_file, "cased": cased_vocab_file}

    def make(vocab: str = "uncased", **options):
        key = (vocab, tuple(sorted(options.items())))
        if key not in cache:
            path = files[vocab]
            ours = BertTokenizer(path, model_max_length=512, **options)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = hf_bert(vocab=str(path), model_max_length=512, **options)
            cache[key] = (ours, theirs)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def uncased(make_pair):
    return make_pair("uncased")


@pytest.fixture(scope="session")
def legacy_uncased(hf_legacy, uncased_vocab_file):
    return hf_legacy(str(uncased_vocab_file))
