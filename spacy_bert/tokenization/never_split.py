"""`never_split`: words that are kept as one piece, as in the legacy Python BertTokenizer.

How the legacy tokenizer (`transformers.models.bert.tokenization_bert_legacy`) treats them:
it cleans the text (drops control characters, maps whitespace to spaces), puts spaces around
CJK characters, applies NFC and splits at whitespace. A whitespace-separated word that is
exactly a never_split word, before or after lower-casing / accent stripping, is not split at
punctuation nor cut into word pieces: it becomes one piece, looked up in the vocabulary.
Special tokens (`[CLS]`, ...) are matched anywhere before that.

We reproduce this inside the `tokenizers` pipeline, so that `backend_tokenizer` (which the
spaCy layer uses) behaves the same: each never_split word becomes an added token matched
only as a word of its own (`single_word=True`); on the normalised text if the normaliser
leaves the word unchanged (so `"[UNUSED1]"` finds `"[unused1]"` with lower-casing, as in the
legacy tokenizer), else on the raw text (`"Hello"` keeps its case). That is the legacy
behaviour wherever the word stands between whitespace or at the ends of the text. Where it
differs:

- the legacy tokenizer needs whitespace on both sides; `tokenizers` accepts any character
  that is not a letter, digit or `_`. So `"[unused1]."` gives `[unused1]` `.` here and
  `[` `unused` `##1` `]` `.` there, and `"a\x07foo"` (a control character, which the
  normaliser drops) gives `a` `foo` here and the pieces of `afoo` there. For a never_split
  word without punctuation next to punctuation (`"foo."`) both agree, since the legacy
  tokenizer also keeps never_split words that come out of its punctuation split;
- text that is not in NFC (e.g. `"Cafe\u0301"` for never_split `"Café"`) is not matched here.

Words that the legacy tokenizer can never match (they contain whitespace, control characters
or CJK characters, are empty or not in NFC) have no effect there, so we drop them too, with a
warning. Words that are not in the vocabulary become `[UNK]` in the legacy tokenizer, while
transformers' current (tokenizers-backed) `BertTokenizer` ignores never_split altogether and
splits them into pieces: we do the latter, with a warning, rather than invent ids beyond the
model's vocabulary.
"""
from __future__ import annotations

import unicodedata
import warnings
from typing import Collection, Iterable, List, Mapping, Optional, Tuple

from ..errors import Errors, Warnings


def plan_never_split(
    words: Optional[Iterable[str]],
    *,
    vocab: Mapping[str, int],
    special_tokens: Collection[str],
    tokenize_chinese_chars: bool,
) -> List[str]:
    """Choose which never_split words become added tokens; warn about the others.

    Args:
        words (Optional[Iterable[str]]): The never_split words as the user gave them.
        vocab (Mapping[str, int]): The WordPiece vocabulary.
        special_tokens (Collection[str]): Special tokens; they are kept whole already.
        tokenize_chinese_chars (bool): Whether CJK characters are split into single characters.

    Returns:
        List[str]: The words to add, in the given order, without duplicates.
    """
    if words is None:
        return []
    if isinstance(words, str):
        raise TypeError(Errors.E218.format(type_name="str", value=repr(words)[:80]))
    kept: List[str] = []
    ignored: List[Tuple[str, str]] = []
    for word in words:
        if not isinstance(word, str):
            raise TypeError(Errors.E218.format(type_name=type(word).__name__, value=repr(word)[:80]))
        if word in kept or word in special_tokens:
            continue
        reason = _why_never_matched(word, tokenize_chinese_chars)
        if reason is None and word not in vocab:
            reason = "it is not in the vocabulary, so it cannot be one piece; it is split into pieces like any word"
        if reason is None:
            kept.append(word)
        elif reason:
            ignored.append((word, reason))
    if ignored:
        details = "; ".join(f"{word!r}: {reason}" for word, reason in ignored)
        warnings.warn(Warnings.W202.format(details=details), UserWarning, stacklevel=3)
    return kept


def _why_never_matched(word: str, tokenize_chinese_chars: bool) -> Optional[str]:
    """Why the legacy tokenizer could never see `word` as one whitespace-separated word.

    None: it can; "": it can but keeping it whole changes nothing (a single CJK character).
    """
    if not word:
        return "it is empty"
    if any(_is_whitespace(char) or char.isspace() for char in word):
        return "it contains whitespace, and text is split at whitespace before never_split applies"
    if any(_is_removed(char) for char in word):
        return "it contains control characters, which the normaliser removes before never_split applies"
    if tokenize_chinese_chars and any(_is_cjk(char) for char in word):
        if len(word) == 1:
            return ""
        return "it contains CJK characters, which are split into single characters first (tokenize_chinese_chars=True)"
    if unicodedata.normalize("NFC", word) != word:
        return "it is not in Unicode NFC form, and never_split words are compared with NFC text; pass its NFC form"
    return None


def _is_whitespace(char: str) -> bool:
    # The legacy tokenizer's definition (BERT's): \t \n \r are whitespace, not control.
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_removed(char: str) -> bool:
    # Characters the legacy _clean_text drops: NUL, U+FFFD and control/format characters.
    if char in "\t\n\r":
        return False
    return ord(char) in (0, 0xFFFD) or unicodedata.category(char).startswith("C")


def _is_cjk(char: str) -> bool:
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )
