"""`WordPieceVocabulary`: the options, vocabulary and backend pipeline of a `BertTokenizer`.

The constructor checks every option and builds the `tokenizers.Tokenizer` they describe (see
`backend.py`); the options are read-only afterwards. `BertTokenizer` (`wordpiece.py`) adds
loading and saving, `__call__` and decoding; its docstring documents the arguments.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Union, cast

from tokenizers import Tokenizer

from ..errors import Errors
from .backend import build_backend
from .checks import check_int, check_option, check_str, id_list, is_int, resolve_vocab
from .files import AddedTokenSpec, PathLike
from .never_split import plan_never_split
from .special_tokens import SpecialTokensMixin, check_special_tokens


class WordPieceVocabulary(SpecialTokensMixin):
    """A WordPiece vocabulary with BERT's normalisation options and special tokens, and the
    `tokenizers` pipeline built from them. Arguments: see `BertTokenizer`."""

    def __init__(
        self,
        vocab_file: Optional[PathLike] = None,
        *,
        vocab: Optional[Mapping[str, int]] = None,
        do_lower_case: bool = True,
        strip_accents: Optional[bool] = None,
        tokenize_chinese_chars: bool = True,
        clean_text: bool = True,
        never_split: Optional[Sequence[str]] = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        wordpieces_prefix: str = "##",
        model_max_length: int = 512,
        clean_up_tokenization_spaces: bool = True,
        padding_side: str = "right",
        truncation_side: str = "right",
        added_tokens: Optional[Sequence[AddedTokenSpec]] = None,
    ) -> None:
        vocab = resolve_vocab(vocab_file, vocab)
        for name, value in (("do_lower_case", do_lower_case), ("tokenize_chinese_chars", tokenize_chinese_chars),
                            ("clean_text", clean_text),
                            ("clean_up_tokenization_spaces", clean_up_tokenization_spaces)):
            check_option(name, value, isinstance(value, bool), "True or False")
        check_option("strip_accents", strip_accents, strip_accents is None or isinstance(strip_accents, bool),
                      "None, True or False")
        for name, side in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            check_option(name, side, side in ("right", "left"), "'right' or 'left'")
        check_option("wordpieces_prefix", wordpieces_prefix, isinstance(wordpieces_prefix, str) and bool(wordpieces_prefix),
                      "a non-empty str such as '##'")
        check_int("model_max_length", model_max_length, minimum=1)
        specials = {"unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token,
                    "cls_token": cls_token, "mask_token": mask_token}
        check_special_tokens(specials, vocab)

        self._do_lower_case = do_lower_case
        self._strip_accents = strip_accents
        self._tokenize_chinese_chars = tokenize_chinese_chars
        self._clean_text = clean_text
        if isinstance(never_split, str):  # a common slip: never_split="[unused1]"
            raise TypeError(Errors.E218.format(type_name="str", value=repr(never_split)[:80]))
        self._never_split = None if never_split is None else list(never_split)
        self._wordpieces_prefix = wordpieces_prefix
        self._specials = specials
        self.model_max_length = int(model_max_length)
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.padding_side = padding_side
        self.truncation_side = truncation_side

        self._backend = self._build_backend(vocab, added_tokens or ())
        # __call__ sets truncation and padding per call on this private copy, so the public
        # backend_tokenizer never truncates or pads, whatever was called before.
        self._working = self._copy_backend()

    def _build_backend(self, vocab: Mapping[str, int], added_tokens: Sequence[AddedTokenSpec]) -> Tokenizer:
        """The `tokenizers.Tokenizer` of this tokenizer's options (a subclass may build another)."""
        kept_never_split = plan_never_split(
            self._never_split, vocab=vocab, special_tokens=set(self._specials.values()),
            tokenize_chinese_chars=self._tokenize_chinese_chars,
        )
        return build_backend(
            vocab,
            **self._specials,
            do_lower_case=self._do_lower_case,
            strip_accents=self._strip_accents,
            tokenize_chinese_chars=self._tokenize_chinese_chars,
            clean_text=self._clean_text,
            wordpieces_prefix=self._wordpieces_prefix,
            added_tokens=added_tokens,
            never_split=kept_never_split,
        )

    def _copy_backend(self) -> Tokenizer:
        """A second, independent `tokenizers.Tokenizer` equal to `backend_tokenizer`."""
        return Tokenizer.from_str(self._backend.to_str())


    @property
    def backend_tokenizer(self) -> Tokenizer:
        """tokenizers.Tokenizer: the WordPiece pipeline itself, without truncation or padding.

        `backend_tokenizer.encode(text, add_special_tokens=False)` gives the pieces of a whole
        text with char offsets into it; never_split is applied. Do not enable truncation or
        padding on it: `encode_with_offsets` relies on it having none.
        """
        return self._backend

    @property
    def do_lower_case(self) -> bool:
        """bool: whether text is lower-cased."""
        return self._do_lower_case

    @property
    def strip_accents(self) -> Optional[bool]:
        """Optional[bool]: whether accents are removed (None: as do_lower_case)."""
        return self._strip_accents

    @property
    def tokenize_chinese_chars(self) -> bool:
        """bool: whether CJK ideographs are split into single characters."""
        return self._tokenize_chinese_chars

    @property
    def clean_text(self) -> bool:
        """bool: whether control characters are removed and whitespace mapped to spaces."""
        return self._clean_text

    @property
    def never_split(self) -> Optional[List[str]]:
        """Optional[List[str]]: the never_split words as given."""
        return None if self._never_split is None else list(self._never_split)

    @property
    def wordpieces_prefix(self) -> str:
        """str: the prefix of continuation pieces."""
        return self._wordpieces_prefix

    # ---- vocabulary ---------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """int: size of the WordPiece vocabulary, without added tokens beyond it."""
        return self._backend.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        """Size of the vocabulary with the added tokens."""
        return self._backend.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> Dict[str, int]:
        """Dict[str, int]: token -> id, added tokens included (a copy)."""
        return self._backend.get_vocab(with_added_tokens=True)

    def convert_tokens_to_ids(self, tokens: Union[str, Sequence[str]]) -> Union[int, List[int]]:
        """Ids of `tokens` (str or Sequence[str]); unknown tokens give unk_token_id."""
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(check_str("tokens[i]", token)) for token in tokens]

    def _token_to_id(self, token: str) -> int:
        index = self._backend.token_to_id(token)
        return self.unk_token_id if index is None else index

    def convert_ids_to_tokens(
        self, ids: Union[int, Sequence[int]], skip_special_tokens: bool = False
    ) -> Union[Optional[str], List[Optional[str]]]:
        """Tokens of `ids` (int or Sequence[int], numpy/torch 1-D too).

        Args:
            skip_special_tokens (bool): Leave out the special tokens (for a sequence of ids).

        Returns:
            The token (str) of an int, else a list; an id outside the vocabulary gives None,
            as in transformers.
        """
        if is_int(ids):
            return self._backend.id_to_token(int(cast(int, ids)))
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._backend.id_to_token(index) for index in id_list(ids) if index not in skip]

    # ---- encoding ---------------------------------------------------------------------
