"""The word tokenizers of `BertJapaneseTokenizer`: its settings, MeCab and Sudachi, and the
`tokenizers` pre-tokenizer that runs them.

transformers' `BertJapaneseTokenizer` (slow, Python) does, per text chunk between added
tokens: NFKC (`normalize_text`, on by default), words from MeCab (fugashi) or Sudachi, each
word lower-cased when `do_lower_case` unless it is in `never_split` or a special token, then
WordPiece over the word's whitespace-separated parts (`"wordpiece"`), or one piece per
character of the NFKC'd word (`"character"`; a character outside the vocabulary is `[UNK]`).

We run the same steps inside a `tokenizers.Tokenizer` so that every piece keeps its character
offsets into the original text (transformers gives none for this tokenizer): NFKC is the
backend's normaliser (it tracks alignment), and `WordPreTokenizer` splits each chunk's
`NormalizedString` into word slices, lower-cases and NFKCs those slices in place (alignment
tracked again), and splits them into the pieces' pre-tokens. The WordPiece model then does
greedy longest-match, as transformers' `WordpieceTokenizer`; on a single character it is
transformers' `CharacterTokenizer`.

A Python pre-tokenizer cannot be serialised by `tokenizers`, so the tokenizer is rebuilt from
its `JapaneseSettings` wherever a copy or a pickle is needed (see `japanese.py`).
"""
from __future__ import annotations

import importlib
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from tokenizers import Regex, pre_tokenizers

from ..errors import Errors

WORD_TOKENIZERS = ("mecab", "sudachi", "basic")
SUBWORD_TOKENIZERS = ("wordpiece", "character")
MECAB_DICTIONARIES = ("unidic_lite", "unidic", "ipadic", None)
MECAB_KEYS = ("mecab_dic", "mecab_option", "normalize_text")
SUDACHI_KEYS = ("sudachi_split_mode", "sudachi_config_path", "sudachi_resource_dir", "sudachi_dict_type",
                "sudachi_projection", "normalize_text", "trim_whitespace")
SUDACHI_MODES = ("A", "B", "C")
# Other projections replace the surface by another string (a reading, a normalised form):
# the pieces would no longer be text of the Doc, so they have no offsets.
SUDACHI_PROJECTIONS = (None, "surface")
JA_EXTRA = "spacy-bert[ja]"

Span = Tuple[int, int]
NON_SPACE = re.compile(r"\S+")  # str.split()'s notion of whitespace (str.isspace)
HAS_SPACE = re.compile(r"\s")
# One pre-token per character, in Rust: the sub-word step of subword_tokenizer_type="character".
CHARACTERS = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")


@dataclass(frozen=True)
class JapaneseSettings:
    """What `tokenizer_config.json` says about a `BertJapaneseTokenizer`, validated.

    Attributes:
        word_tokenizer_type (str): "mecab", "sudachi" or "basic".
        subword_tokenizer_type (str): "wordpiece" or "character".
        do_word_tokenize (bool): False: each chunk is one word (whitespace still splits it for
            WordPiece).
        do_lower_case (bool): Lower-case each word (not the never_split words).
        never_split (Tuple[str, ...]): Words that keep their case (and, for "basic", whole).
        mecab_kwargs (Optional[Dict[str, Any]]): As in the config (mecab_dic, mecab_option,
            normalize_text).
        sudachi_kwargs (Optional[Dict[str, Any]]): As in the config (sudachi_split_mode, ...).
    """

    word_tokenizer_type: str = "basic"
    subword_tokenizer_type: str = "wordpiece"
    do_word_tokenize: bool = True
    do_lower_case: bool = False
    never_split: Tuple[str, ...] = ()
    mecab_kwargs: Optional[Dict[str, Any]] = field(default=None, hash=False)
    sudachi_kwargs: Optional[Dict[str, Any]] = field(default=None, hash=False)

    @property
    def analyser(self) -> Optional[str]:
        """Optional[str]: "mecab" or "sudachi" when a morphological analyser splits words."""
        if self.do_word_tokenize and self.word_tokenizer_type in ("mecab", "sudachi"):
            return self.word_tokenizer_type
        return None

    @property
    def normalize_text(self) -> bool:
        """bool: whether the analyser's NFKC runs on each chunk first (its `normalize_text`)."""
        kwargs = self.mecab_kwargs if self.analyser == "mecab" else self.sudachi_kwargs
        return self.analyser is not None and bool((kwargs or {}).get("normalize_text", True))


def make_settings(
    *,
    word_tokenizer_type: str = "basic",
    subword_tokenizer_type: str = "wordpiece",
    do_word_tokenize: bool = True,
    do_subword_tokenize: bool = True,
    do_lower_case: bool = False,
    never_split: Optional[Sequence[str]] = None,
    mecab_kwargs: Optional[Mapping[str, Any]] = None,
    sudachi_kwargs: Optional[Mapping[str, Any]] = None,
    jumanpp_kwargs: Optional[Mapping[str, Any]] = None,
    spm_file: Optional[str] = None,
) -> JapaneseSettings:
    """Validate the `BertJapaneseTokenizer` options (transformers' names and defaults).

    Raises:
        ValueError: E832 for "jumanpp", E831 for any other value or key we do not implement.
    """
    del jumanpp_kwargs  # only read by jumanpp, which is refused below
    if word_tokenizer_type == "jumanpp" and do_word_tokenize:
        raise ValueError(Errors.E832)
    _check("word_tokenizer_type", word_tokenizer_type, word_tokenizer_type in WORD_TOKENIZERS, WORD_TOKENIZERS)
    _check("subword_tokenizer_type", subword_tokenizer_type, subword_tokenizer_type in SUBWORD_TOKENIZERS,
           SUBWORD_TOKENIZERS, "SentencePiece sub-words have no offsets here.")
    _check("do_subword_tokenize", do_subword_tokenize, do_subword_tokenize is True, (True,),
           "Whole words as vocabulary entries are not implemented.")
    _check("spm_file", spm_file, spm_file is None, (None,))
    for name, value in (("do_word_tokenize", do_word_tokenize), ("do_lower_case", do_lower_case)):
        _check(name, value, isinstance(value, bool), (True, False))
    if isinstance(never_split, str) or not (never_split is None or all(isinstance(w, str) for w in never_split)):
        _check("never_split", never_split, False, ("a list of str",))
    mecab = _check_kwargs("mecab_kwargs", mecab_kwargs, MECAB_KEYS)
    if mecab is not None:
        dic = mecab.get("mecab_dic", "unidic_lite")
        _check("mecab_kwargs.mecab_dic", dic, dic in MECAB_DICTIONARIES, MECAB_DICTIONARIES)
    sudachi = _check_kwargs("sudachi_kwargs", sudachi_kwargs, SUDACHI_KEYS)
    if sudachi is not None:
        mode = sudachi.get("sudachi_split_mode", "A")
        _check("sudachi_kwargs.sudachi_split_mode", mode, mode in SUDACHI_MODES, SUDACHI_MODES)
        projection = sudachi.get("sudachi_projection")
        _check("sudachi_kwargs.sudachi_projection", projection, projection in SUDACHI_PROJECTIONS,
               SUDACHI_PROJECTIONS, "Other projections replace the text, so pieces would have no offsets.")
    return JapaneseSettings(
        word_tokenizer_type=word_tokenizer_type,
        subword_tokenizer_type=subword_tokenizer_type,
        do_word_tokenize=do_word_tokenize,
        do_lower_case=do_lower_case,
        never_split=tuple(never_split or ()),
        mecab_kwargs=mecab,
        sudachi_kwargs=sudachi,
    )


def _check(key: str, value: Any, ok: bool, supported: Sequence[Any], hint: str = "") -> None:
    if not ok:
        raise ValueError(Errors.E831.format(key=key, value=value, supported=", ".join(map(repr, supported)),
                                            hint=hint))


def _check_kwargs(name: str, kwargs: Optional[Mapping[str, Any]], known: Sequence[str]) -> Optional[Dict[str, Any]]:
    if kwargs is None:
        return None
    _check(name, kwargs, isinstance(kwargs, Mapping), ("a JSON object",))
    for key in kwargs:
        _check(f"{name}.{key}", kwargs[key], key in known, known, f"Known {name} keys: {', '.join(known)}.")
    return dict(kwargs)


# ---- the analysers ------------------------------------------------------------------------

WordSplitter = Callable[[str], List[Span]]


def _import(module: str, what: str, also: str = "") -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(Errors.E833.format(what=what, package=module, also=also)) from error


def mecab_splitter(kwargs: Optional[Mapping[str, Any]]) -> WordSplitter:
    """MeCab through fugashi with the dictionary of `kwargs` (mecab_kwargs), as transformers starts it.

    Returns:
        WordSplitter: text (str) -> the (start, end) character span of each word in it.
    """
    kwargs = dict(kwargs or {})
    dic = kwargs.get("mecab_dic", "unidic_lite")
    option = kwargs.get("mecab_option") or ""
    fugashi = _import("fugashi", "word_tokenizer_type='mecab'")
    if dic is not None:
        package = _import(dic, f"mecab_dic={dic!r}", f" (or pip install {dic})")
        dicdir = package.DICDIR
        if dic == "unidic" and not os.path.isdir(dicdir):
            raise ImportError(Errors.E834.format(dicdir=dicdir))
        option = f'-d "{dicdir}" -r "{os.path.join(dicdir, "mecabrc")}" ' + option
    try:
        tagger = fugashi.GenericTagger(option)
    except RuntimeError as error:
        raise ValueError(Errors.E835.format(option=option, error=str(error).splitlines()[0])) from error

    def split(text: str) -> List[Span]:
        spans, position = [], 0
        for word in tagger(text):
            # MeCab skips the whitespace before a word and reports it as white_space.
            start = position + len(word.white_space)
            surface = word.surface
            if text.startswith(surface, start):
                position = start + len(surface)
            else:  # not expected; find it rather than guess, and refuse when it is not there
                found = text.find(surface, position)
                if found < 0 or text[position:found].strip():
                    raise ValueError(Errors.E837.format(analyser="MeCab", word=surface, position=start,
                                                        text=text[:200]))
                start, position = found, found + len(surface)
            spans.append((start, position))
        return spans

    return split


def sudachi_splitter(kwargs: Optional[Mapping[str, Any]]) -> WordSplitter:
    """Sudachi with `kwargs` (sudachi_kwargs); words are Sudachi's morphemes, whitespace included.

    Returns:
        WordSplitter: text (str) -> the (start, end) character span of each morpheme.
    """
    kwargs = dict(kwargs or {})
    _import("sudachipy", "word_tokenizer_type='sudachi'")
    # (importlib: the optional packages are never imported at module level, nor by name)
    dictionary = importlib.import_module("sudachipy.dictionary")
    tokenizer = importlib.import_module("sudachipy.tokenizer")

    mode = getattr(tokenizer.Tokenizer.SplitMode, kwargs.get("sudachi_split_mode", "A"))
    try:
        sudachi_dictionary = dictionary.Dictionary(
            config_path=kwargs.get("sudachi_config_path"),
            resource_dir=kwargs.get("sudachi_resource_dir"),
            dict=kwargs.get("sudachi_dict_type", "core"),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # create() is what transformers calls
            analyser = sudachi_dictionary.create(mode)
    except Exception as error:  # SudachiPy raises plain Exception subclasses from Rust
        raise ValueError(Errors.E836.format(kwargs=kwargs, error=str(error).splitlines()[0])) from error
    trim = bool(kwargs.get("trim_whitespace", False))
    # `tokenizers` calls the pre-tokenizer from several threads in encode_batch, and a Sudachi
    # tokenizer refuses concurrent use ("Tokenizer is already in use").
    lock = threading.Lock()

    def split(text: str) -> List[Span]:
        spans = []
        with lock:
            morphemes = [(m.begin(), m.end()) for m in analyser.tokenize(text)]
        for start, end in morphemes:
            if trim:  # transformers: drop whitespace-only words, strip the others
                word = text[start:end]
                if not word.strip():
                    continue
                start += len(word) - len(word.lstrip())
                end -= len(word) - len(word.rstrip())
            spans.append((start, end))
        return spans

    return split


def word_splitter(settings: JapaneseSettings) -> Optional[WordSplitter]:
    """The analyser of `settings` (JapaneseSettings), started; None when no analyser splits words."""
    if settings.analyser == "mecab":
        return mecab_splitter(settings.mecab_kwargs)
    if settings.analyser == "sudachi":
        return sudachi_splitter(settings.sudachi_kwargs)
    return None


class WordPreTokenizer:
    """A `tokenizers` pre-tokenizer (wrap with `PreTokenizer.custom`): words, case, sub-word units.

    Args:
        splitter (Optional[WordSplitter]): The analyser; None: each chunk is one word, or the
            words come from an earlier pre-tokenizer (the "basic" word tokenizer).
        lower_case (bool): Lower-case each word that is not in `keep_case`.
        keep_case (FrozenSet[str]): never_split words and special tokens.
        character (bool): Whole words, NFKC'd as transformers' CharacterTokenizer does (follow
            with `CHARACTERS`); else the word's whitespace-separated parts, for WordPiece.
        renormalize (bool): With `character`: NFKC every word (the chunk was not NFKC'd).
    """

    def __init__(self, splitter: Optional[WordSplitter], *, lower_case: bool, keep_case: FrozenSet[str],
                 character: bool, renormalize: bool = True) -> None:
        self.splitter = splitter
        self.lower_case = lower_case
        self.keep_case = keep_case
        self.character = character
        self.renormalize = renormalize

    def pre_tokenize(self, pretok: Any) -> None:
        """Split each `tokenizers.NormalizedString` of `pretok` (PreTokenizedString) in place."""
        pretok.split(self._split)

    def _split(self, _index: int, chunk: Any) -> List[Any]:
        text = str(chunk)
        spans = self.splitter(text) if self.splitter is not None else [(0, len(text))]
        pieces: List[Any] = []
        for start, end in spans:
            if start >= end:
                continue
            word = text[start:end]
            lower = self.lower_case and word not in self.keep_case
            if self.character:
                # whole words here; `CHARACTERS` (Rust) then makes one pre-token per character
                normal = chunk[start:end]
                if lower:
                    normal.lowercase()
                if lower or self.renormalize:  # NFKC is idempotent on an NFKC'd chunk otherwise
                    normal.nfkc()
                pieces.append(normal)
                continue
            # WordPiece runs on the word's whitespace-separated parts (MeCab words have none;
            # Sudachi's whitespace words have no part at all). Slicing the chunk only once per
            # part is what keeps this fast.
            parts = ([(start, end)] if not HAS_SPACE.search(word)
                     else [(start + m.start(), start + m.end()) for m in NON_SPACE.finditer(word)])
            for part_start, part_end in parts:
                piece = chunk[part_start:part_end]
                if lower:
                    piece.lowercase()
                pieces.append(piece)
        return pieces
