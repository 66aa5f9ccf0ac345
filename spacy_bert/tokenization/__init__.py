"""WordPiece tokenization for BERT, backed by the `tokenizers` library.

`BertTokenizer` encodes like transformers' `BertTokenizer` (same ids, offsets, windows),
reads and writes Hugging Face tokenizer files, and exposes the underlying
`tokenizers.Tokenizer` (`backend_tokenizer`) and `encode_with_offsets` for aligning pieces
to spaCy tokens by char offsets.

`BertJapaneseTokenizer` is the tokenizer of Japanese checkpoints (MeCab / Sudachi words);
`BertTokenizer.from_pretrained` returns one when the checkpoint's config names it.

This package imports only the standard library, `tokenizers`, numpy and (lazily) torch; the
`[ja]` extra's fugashi, dictionaries and SudachiPy only when a Japanese tokenizer is built.
"""
from .alignment import PieceAlignment, align_pieces_to_tokens
from .batch_encoding import BatchEncoding
from .files import (
    CONFIG_FILE,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_FILE,
    VOCAB_FILE,
    load_vocab,
    read_tokenizer_dir,
    save_vocab,
)
from .japanese import BertJapaneseTokenizer
from .wordpiece import BertTokenizer

__all__ = [
    "BatchEncoding",
    "BertJapaneseTokenizer",
    "BertTokenizer",
    "CONFIG_FILE",
    "PieceAlignment",
    "SPECIAL_TOKENS_MAP_FILE",
    "TOKENIZER_FILE",
    "VOCAB_FILE",
    "align_pieces_to_tokens",
    "load_vocab",
    "read_tokenizer_dir",
    "save_vocab",
]
