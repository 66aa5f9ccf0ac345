"""Building the `tokenizers.Tokenizer` behind `BertTokenizer`.

The pipeline is the one transformers' `BertTokenizer` builds, so ids and offsets are the
same by construction: WordPiece model, BertNormalizer, BertPreTokenizer, a
`[CLS] A [SEP] (B [SEP])` TemplateProcessing post-processor and the WordPiece decoder. The
special tokens are added tokens matched on the raw text, so `"[SEP]"` inside a text is the
separator, as in transformers. The result has no truncation and no padding.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from ..errors import Errors
from .files import AddedTokenSpec

# transformers' (and Google BERT's) limit: a longer word becomes one [UNK].
MAX_INPUT_CHARS_PER_WORD = 100


def build_backend(
    vocab: Mapping[str, int],
    *,
    unk_token: str,
    sep_token: str,
    pad_token: str,
    cls_token: str,
    mask_token: str,
    do_lower_case: bool,
    strip_accents: Optional[bool],
    tokenize_chinese_chars: bool,
    clean_text: bool,
    wordpieces_prefix: str,
    added_tokens: Sequence[AddedTokenSpec] = (),
    never_split: Sequence[str] = (),
) -> Tokenizer:
    """Assemble the WordPiece `tokenizers.Tokenizer` of a BERT vocabulary.

    Args:
        vocab (Mapping[str, int]): token -> id; must contain the five special tokens.
        unk_token, sep_token, pad_token, cls_token, mask_token (str): The special tokens.
        do_lower_case (bool): Lower-case the text.
        strip_accents (Optional[bool]): Remove accents; None follows do_lower_case.
        tokenize_chinese_chars (bool): Split CJK ideographs into single characters.
        clean_text (bool): Drop control characters and map whitespace to spaces.
        wordpieces_prefix (str): Prefix of continuation pieces ("##").
        added_tokens (Sequence[AddedTokenSpec]): Added tokens read from tokenizer files, with
            the ids they must get.
        never_split (Sequence[str]): Vocabulary words to keep whole (see `never_split.py`).

    Returns:
        tokenizers.Tokenizer: without truncation and padding.
    """
    tokenizer = Tokenizer(
        WordPiece(
            dict(vocab),
            unk_token=unk_token,
            continuing_subword_prefix=wordpieces_prefix,
            max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD,
        )
    )
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=clean_text,
        handle_chinese_chars=tokenize_chinese_chars,
        strip_accents=strip_accents,
        lowercase=do_lower_case,
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # cleanup=True is what transformers' BertTokenizer gets (the decoder's default): it glues
    # " ." and " n't" back even when decode(clean_up_tokenization_spaces=False).
    tokenizer.decoder = decoders.WordPiece(prefix=wordpieces_prefix, cleanup=True)

    # Tokens from the files first, in id order: a token beyond the vocabulary gets the next
    # free id, so this order is what reproduces the ids the files recorded.
    for spec in sorted(added_tokens, key=lambda spec: spec["id"]):
        token = AddedToken(
            spec["content"],
            single_word=spec["single_word"],
            lstrip=spec["lstrip"],
            rstrip=spec["rstrip"],
            normalized=spec["normalized"],
            special=spec["special"],
        )
        if spec["special"]:
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])
        got = tokenizer.token_to_id(spec["content"])
        if got != spec["id"]:
            raise ValueError(
                Errors.E216.format(token=spec["content"], expected=spec["id"], got=got, size=len(vocab))
            )
    present_contents = {token.content for token in tokenizer.get_added_tokens_decoder().values()}
    specials = [unk_token, sep_token, pad_token, cls_token, mask_token]
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in dict.fromkeys(specials)
         if token not in present_contents]
    )
    # The legacy tokenizer compares a word with never_split before and after lower-casing /
    # accent stripping. A never_split word the normaliser leaves unchanged is therefore
    # matched on the normalised text ("[UNUSED1]" finds "[unused1]" when lower-casing); any
    # other word can only ever equal the raw text.
    tokenizer.add_tokens(
        [AddedToken(word, single_word=True, special=False,
                    normalized=tokenizer.normalizer.normalize_str(word) == word)
         for word in never_split if word not in present_contents]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls_token}:0 $A:0 {sep_token}:0",
        pair=f"{cls_token}:0 $A:0 {sep_token}:0 $B:1 {sep_token}:1",
        special_tokens=[(cls_token, vocab[cls_token]), (sep_token, vocab[sep_token])],
    )
    return tokenizer
