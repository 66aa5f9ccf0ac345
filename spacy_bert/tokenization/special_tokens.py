"""BERT's special tokens: their names and ids, and where they go around piece ids.

`SpecialTokensMixin` gives `BertTokenizer` transformers' special-token interface
(`cls_token`, `cls_token_id`, ..., `special_tokens_map`, `all_special_ids`) and the layout of
formatted inputs built by hand: `[CLS] A [SEP]` for one text, `[CLS] A [SEP] B [SEP]` for a
pair (`build_inputs_with_special_tokens`, `get_special_tokens_mask`,
`create_token_type_ids_from_sequences`, `num_special_tokens_to_add`).

The encoding itself (`BertTokenizer.__call__`) gets the same layout from the `tokenizers`
post-processor (see `backend.py`); this module is for callers that assemble ids themselves.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, cast

from tokenizers import Tokenizer

from ..errors import Errors
from .checks import check_option

__all__ = ["SpecialTokensMixin", "check_special_tokens"]


def check_special_tokens(specials: Mapping[str, str], vocab: Mapping[str, int]) -> None:
    """Check that each special token (name -> token, e.g. {"cls_token": "[CLS]"}) is a
    non-empty str found in `vocab` (token -> id).

    Raises ValueError (E206) for a token outside the vocabulary, and `check_option`'s error
    for a token that is not a non-empty str.
    """
    for name, token in specials.items():
        check_option(name, token, isinstance(token, str) and token, "a non-empty str")
        if token not in vocab:
            # transformers would append it with a new id past the model's embeddings; an
            # error now beats an index error in the model later.
            raise ValueError(Errors.E206.format(name=name, token=token, size=len(vocab)))


class SpecialTokensMixin:
    """Special-token names, ids and layout for a tokenizer.

    The class using it sets `_specials` (Dict[str, str]: each of `files.SPECIAL_TOKEN_KEYS` -> its
    token, in that order, checked by `check_special_tokens`) and `_backend` (tokenizers.Tokenizer, whose
    vocabulary holds those tokens).
    """

    _specials: Dict[str, str]
    _backend: Tokenizer

    # ---- names and ids -----------------------------------------------------------------

    @property
    def unk_token(self) -> str:
        """str: the unknown token."""
        return self._specials["unk_token"]

    @property
    def sep_token(self) -> str:
        """str: the separator token, after each sequence."""
        return self._specials["sep_token"]

    @property
    def pad_token(self) -> str:
        """str: the padding token."""
        return self._specials["pad_token"]

    @property
    def cls_token(self) -> str:
        """str: the classification token, first in every input."""
        return self._specials["cls_token"]

    @property
    def mask_token(self) -> str:
        """str: the mask token of masked language modelling."""
        return self._specials["mask_token"]

    def _special_id(self, token: str) -> int:
        """The id of special token `token` (str): never None, as `check_special_tokens` found
        every special token in the vocabulary when the tokenizer was built."""
        return cast(int, self._backend.token_to_id(token))

    @property
    def unk_token_id(self) -> int:
        """int: the id of unk_token."""
        return self._special_id(self.unk_token)

    @property
    def sep_token_id(self) -> int:
        """int: the id of sep_token."""
        return self._special_id(self.sep_token)

    @property
    def pad_token_id(self) -> int:
        """int: the id of pad_token."""
        return self._special_id(self.pad_token)

    @property
    def cls_token_id(self) -> int:
        """int: the id of cls_token."""
        return self._special_id(self.cls_token)

    @property
    def mask_token_id(self) -> int:
        """int: the id of mask_token."""
        return self._special_id(self.mask_token)

    @property
    def pad_token_type_id(self) -> int:
        """int: the token type id of padding (0)."""
        return 0

    @property
    def special_tokens_map(self) -> Dict[str, str]:
        """Dict[str, str]: {"unk_token": "[UNK]", ...}."""
        return dict(self._specials)

    @property
    def all_special_tokens(self) -> List[str]:
        """List[str]: the special tokens, in transformers' order (unk, sep, pad, cls, mask)."""
        return list(dict.fromkeys(self._specials.values()))

    @property
    def all_special_ids(self) -> List[int]:
        """List[int]: the ids of all_special_tokens, in the same order."""
        return [self._special_id(token) for token in self.all_special_tokens]

    # ---- layout (for ids built by hand) ------------------------------------------------

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """Number of special tokens around one text (2) or a pair (3); `pair` (bool)."""
        return 3 if pair else 2

    def build_inputs_with_special_tokens(
        self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None
    ) -> List[int]:
        """`[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]` from piece ids (List[int]) without specials."""
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        if token_ids_1 is None:
            return cls + list(token_ids_0) + sep
        return cls + list(token_ids_0) + sep + list(token_ids_1) + sep

    def get_special_tokens_mask(
        self,
        token_ids_0: List[int],
        token_ids_1: Optional[List[int]] = None,
        already_has_special_tokens: bool = False,
    ) -> List[int]:
        """1 for special tokens, 0 for pieces.

        Args:
            token_ids_0 (List[int]): Ids of the text, or of a whole formatted input when
                `already_has_special_tokens`.
            token_ids_1 (Optional[List[int]]): Ids of the pair text.
            already_has_special_tokens (bool): Mark special ids found in token_ids_0 instead of
                describing the layout `build_inputs_with_special_tokens` would make.
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError(Errors.E220)
            special = set(self.all_special_ids)
            return [1 if int(index) in special else 0 for index in token_ids_0]
        if token_ids_1 is None:
            return [1] + [0] * len(token_ids_0) + [1]
        return [1] + [0] * len(token_ids_0) + [1] + [0] * len(token_ids_1) + [1]

    def create_token_type_ids_from_sequences(
        self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None
    ) -> List[int]:
        """Token type ids for `build_inputs_with_special_tokens`: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`."""
        first = [0] * (len(token_ids_0) + 2)
        if token_ids_1 is None:
            return first
        return first + [1] * (len(token_ids_1) + 1)
