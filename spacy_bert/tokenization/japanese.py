"""`BertJapaneseTokenizer`: the tokenizer of the Japanese BERT checkpoints (cl-tohoku and kin).

It gives the ids of transformers' `BertJapaneseTokenizer` for `word_tokenizer_type` "mecab"
(fugashi with `mecab_kwargs.mecab_dic` "unidic_lite", "unidic" or "ipadic"), "sudachi"
(SudachiPy with `sudachi_kwargs`) and "basic", each with `subword_tokenizer_type`
"wordpiece" or "character", and, unlike transformers, the character offsets of every piece
into the original text (before NFKC), which spaCy alignment needs. How: `japanese_words.py`.

Everything else is `BertTokenizer`'s (calls, windows, padding, decode). What differs:

- the backend holds a Python pre-tokenizer (MeCab / Sudachi), which `tokenizers` cannot
  serialise: copies and pickles rebuild it from the settings (`_copy_backend`,
  `__getstate__`/`__setstate__`), so `nlp.pipe(n_process=2)`, spawn and Ray work;
- `save_pretrained` writes `vocab.txt`, `tokenizer_config.json` (with `tokenizer_class`,
  `word_tokenizer_type`, `subword_tokenizer_type`, `mecab_kwargs`, ... as read) and
  `special_tokens_map.json`, and no `tokenizer.json`, as the Japanese checkpoints ship;
  transformers' `AutoTokenizer` loads the result as the same `BertJapaneseTokenizer`.

Known difference: lower-casing is per character (`tokenizers`), where Python's `str.lower`
also applies the Greek final sigma rule ("ΟΔΟΣ" -> "οδος" here, "οδος" with a final "ς" there).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from tokenizers import Tokenizer, normalizers, pre_tokenizers

from .backend import build_backend
from .files import JAPANESE_CLASS, AddedTokenSpec, PathLike, added_tokens_decoder, write_tokenizer_dir
from .japanese_words import CHARACTERS, JapaneseSettings, WordPreTokenizer, make_settings, word_splitter
from .never_split import plan_never_split
from .wordpiece import TOKENIZER_CLASSES, BertTokenizer


class BertJapaneseTokenizer(BertTokenizer):
    """transformers' `BertJapaneseTokenizer` with offsets, over a `tokenizers` backend.

    Args:
        vocab_file, vocab: As `BertTokenizer` (a `vocab.txt`, or token -> id).
        word_tokenizer_type (str): "mecab", "sudachi" or "basic" ("jumanpp" is E832).
        subword_tokenizer_type (str): "wordpiece" or "character".
        do_word_tokenize (bool): False: no word tokenizer (and so no NFKC and no lower-casing).
        do_subword_tokenize (bool): Must be True (whole-word lookup is not implemented, E831).
        mecab_kwargs (Optional[Mapping]): mecab_dic ("unidic_lite" by default), mecab_option,
            normalize_text (NFKC, True by default).
        sudachi_kwargs (Optional[Mapping]): sudachi_split_mode ("A"), sudachi_dict_type ("core"),
            sudachi_config_path, sudachi_resource_dir, sudachi_projection (None or "surface"),
            normalize_text, trim_whitespace.
        do_lower_case (bool): Lower-case words (transformers' default for this class: False).
        never_split (Optional[Sequence[str]]): Words that keep their case; with "basic" also
            kept whole, as in `BertTokenizer`.
        **options: The other `BertTokenizer` options (special tokens, model_max_length, ...).

    Raises:
        ValueError: E831/E832 for a setting we do not implement; E835/E836 when MeCab or Sudachi
            cannot start.
        ImportError: E833/E834 when fugashi, SudachiPy or a dictionary is not installed.
    """

    def __init__(
        self,
        vocab_file: Optional[PathLike] = None,
        *,
        vocab: Optional[Mapping[str, int]] = None,
        word_tokenizer_type: str = "basic",
        subword_tokenizer_type: str = "wordpiece",
        do_word_tokenize: bool = True,
        do_subword_tokenize: bool = True,
        mecab_kwargs: Optional[Mapping[str, Any]] = None,
        sudachi_kwargs: Optional[Mapping[str, Any]] = None,
        jumanpp_kwargs: Optional[Mapping[str, Any]] = None,
        spm_file: Optional[str] = None,
        do_lower_case: bool = False,
        never_split: Optional[Sequence[str]] = None,
        **options: Any,
    ) -> None:
        self._settings = make_settings(
            word_tokenizer_type=word_tokenizer_type, subword_tokenizer_type=subword_tokenizer_type,
            do_word_tokenize=do_word_tokenize, do_subword_tokenize=do_subword_tokenize,
            do_lower_case=do_lower_case, never_split=never_split, mecab_kwargs=mecab_kwargs,
            sudachi_kwargs=sudachi_kwargs, jumanpp_kwargs=jumanpp_kwargs, spm_file=spm_file,
        )
        self._splitter = word_splitter(self._settings)  # started once, shared by both backends
        # transformers' BasicTokenizer for Japanese: no CJK splitting, accents follow the case.
        super().__init__(vocab_file, vocab=vocab, do_lower_case=do_lower_case, strip_accents=None,
                         tokenize_chinese_chars=False, clean_text=True, never_split=never_split, **options)

    @property
    def settings(self) -> JapaneseSettings:
        """JapaneseSettings: the word and sub-word tokenizer settings."""
        return self._settings

    def _build_backend(self, vocab: Mapping[str, int], added_tokens: Sequence[AddedTokenSpec]) -> Tokenizer:
        settings = self._settings
        basic = settings.do_word_tokenize and settings.word_tokenizer_type == "basic"
        kept_never_split = plan_never_split(
            self._never_split, vocab=vocab, special_tokens=set(self._specials.values()),
            tokenize_chinese_chars=False,
        ) if basic else []
        backend = build_backend(
            vocab, **self._specials, do_lower_case=settings.do_lower_case and basic, strip_accents=None,
            tokenize_chinese_chars=False, clean_text=True, wordpieces_prefix="##",
            added_tokens=added_tokens, never_split=kept_never_split,
        )
        character = settings.subword_tokenizer_type == "character"
        if basic:
            # transformers' BasicTokenizer: clean, NFC, then case and accents (per word).
            backend.normalizer = normalizers.Sequence([
                normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                           lowercase=False),
                normalizers.NFC(),
                normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=None,
                                           lowercase=settings.do_lower_case),
            ])
            if character:
                backend.pre_tokenizer = pre_tokenizers.Sequence([
                    pre_tokenizers.BertPreTokenizer(), self._words(lower_case=False), CHARACTERS])
            return backend
        backend.normalizer = normalizers.NFKC() if settings.normalize_text else None
        words = self._words(lower_case=settings.do_lower_case and settings.analyser is not None)
        backend.pre_tokenizer = pre_tokenizers.Sequence([words, CHARACTERS]) if character else words
        return backend

    def _words(self, lower_case: bool) -> pre_tokenizers.PreTokenizer:
        keep_case = frozenset(self._settings.never_split) | frozenset(self._specials.values())
        return pre_tokenizers.PreTokenizer.custom(WordPreTokenizer(
            self._splitter, lower_case=lower_case, keep_case=keep_case,
            character=self._settings.subword_tokenizer_type == "character",
            renormalize=not self._settings.normalize_text))

    def _copy_backend(self) -> Tokenizer:
        return self._build_backend(self._backend.get_vocab(with_added_tokens=False), self._added_token_specs())

    # ---- pickling: rebuild the Python pre-tokenizer --------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("_backend", "_working", "_splitter")}
        state["_rebuild"] = (self._backend.get_vocab(with_added_tokens=False), self._added_token_specs())
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        vocab, added_tokens = state.pop("_rebuild")
        self.__dict__.update(state)
        self._splitter = word_splitter(self._settings)
        self._backend = self._build_backend(vocab, added_tokens)
        self._working = self._copy_backend()

    # ---- loading and saving -------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, directory: PathLike, **overrides: Any) -> BertTokenizer:
        """Load the tokenizer of a Japanese BERT checkpoint directory (`vocab.txt` + config).

        Args:
            directory (str | Path): The checkpoint directory; its `tokenizer_config.json` names
                `"tokenizer_class": "BertJapaneseTokenizer"` (else this is `BertTokenizer`'s).
            **overrides: Constructor options that replace those of the files.
        """
        from .files import local_tokenizer_dir, read_tokenizer_dir

        directory = local_tokenizer_dir(directory)
        files = read_tokenizer_dir(directory)
        if files.tokenizer_class != JAPANESE_CLASS:
            return BertTokenizer.from_pretrained(directory, **overrides)
        options = {**files.options, **overrides}
        return cls(vocab=files.vocab, added_tokens=files.added_tokens, **options)

    def save_pretrained(self, directory: PathLike) -> Tuple[Path, ...]:
        """Write `vocab.txt`, `tokenizer_config.json` and `special_tokens_map.json`.

        `transformers.AutoTokenizer.from_pretrained(directory)` loads the result as a
        `BertJapaneseTokenizer` with the same settings, and so the same ids.

        Args:
            directory (str | Path): Created if missing; existing files are overwritten (an
                old `tokenizer.json` is removed).
        """
        settings = self._settings
        config = {
            "tokenizer_class": JAPANESE_CLASS,
            "do_lower_case": settings.do_lower_case,
            "do_word_tokenize": settings.do_word_tokenize,
            "do_subword_tokenize": True,
            "word_tokenizer_type": settings.word_tokenizer_type,
            "subword_tokenizer_type": settings.subword_tokenizer_type,
            "never_split": self._never_split,
            "mecab_kwargs": settings.mecab_kwargs,
            "sudachi_kwargs": settings.sudachi_kwargs,
            "jumanpp_kwargs": None,
            **self._specials,
            "model_max_length": self.model_max_length,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "added_tokens_decoder": added_tokens_decoder(self._added_token_specs()),
        }
        return write_tokenizer_dir(
            directory, vocab=self._backend.get_vocab(with_added_tokens=False), tokenizer_json=None,
            config=config, special_tokens_map=dict(self._specials),
        )

    def __repr__(self) -> str:
        s = self._settings
        return (f"BertJapaneseTokenizer(vocab_size={self.vocab_size}, word_tokenizer_type={s.word_tokenizer_type!r}, "
                f"subword_tokenizer_type={s.subword_tokenizer_type!r}, mecab_kwargs={s.mecab_kwargs}, "
                f"sudachi_kwargs={s.sudachi_kwargs}, do_lower_case={s.do_lower_case})")


TOKENIZER_CLASSES[JAPANESE_CLASS] = BertJapaneseTokenizer
