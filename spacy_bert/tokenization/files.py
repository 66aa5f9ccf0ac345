"""Reading and writing the tokenizer files of a Hugging Face BERT checkpoint directory.

A directory holds some of:

- `tokenizer_config.json`: the options (`do_lower_case`, `strip_accents`, special tokens,
  `model_max_length`, `never_split`, `added_tokens_decoder`, ...);
- `special_tokens_map.json`: older checkpoints keep the special tokens here;
- `tokenizer.json`: the `tokenizers` serialisation. We take its WordPiece vocabulary and its
  added tokens, never its truncation or padding (all-MiniLM-L6-v2 ships truncation at 128,
  splade-tiny at 512 with padding): those are per-call choices;
- `vocab.txt`: one WordPiece token per line, the id is the line number. Read when there
  is no `tokenizer.json`.

Like transformers' `BertTokenizer`, the options in `tokenizer_config.json` win over the
normaliser stored in `tokenizer.json`; the latter only fills options the config leaves out.

The config's `tokenizer_class` decides the tokenizer (DESIGN.md decision 15): BERT's
WordPiece (`BertTokenizer`, `BertTokenizerFast` or no class named), or
`BertJapaneseTokenizer`, whose options (`word_tokenizer_type`, `mecab_kwargs`, ...) are read
too and whose vocabulary is `vocab.txt` only, as in transformers. Any other class, and a
`tokenizer.json` normaliser or pre-tokenizer other than BERT's, is a coded error (E830, E838),
never a silent plain-BERT reading.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import Errors
from ..json_files import read_json as read_json_object
from ..json_files import write_json, write_text
from ..resolve import resolve_checkpoint_dir

VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
VOCAB_FILES = (TOKENIZER_FILE, VOCAB_FILE)

BERT_CLASSES = ("BertTokenizer", "BertTokenizerFast")
JAPANESE_CLASS = "BertJapaneseTokenizer"
SUPPORTED_CLASSES = (*BERT_CLASSES, JAPANESE_CLASS)
# BertJapaneseTokenizer's own options; its BasicTokenizer ignores the BERT-only ones below.
JAPANESE_KEYS = ("word_tokenizer_type", "subword_tokenizer_type", "do_word_tokenize", "do_subword_tokenize",
                 "mecab_kwargs", "sudachi_kwargs", "jumanpp_kwargs", "spm_file")
BERT_ONLY_KEYS = ("strip_accents", "tokenize_chinese_chars", "clean_text", "wordpieces_prefix", "do_basic_tokenize")

# transformers' stand-in for "no limit" when a config has no model_max_length.
VERY_LARGE_INTEGER = int(1e30)

SPECIAL_TOKEN_KEYS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
AddedTokenSpec = Dict[str, Any]  # {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"}
ADDED_TOKEN_FLAGS = ("single_word", "lstrip", "rstrip", "normalized", "special")

PathLike = Union[str, Path]


@dataclass
class TokenizerFiles:
    """What `read_tokenizer_dir` found in a directory.

    Attributes:
        vocab (Dict[str, int]): The WordPiece vocabulary, token -> id.
        options (Dict[str, Any]): Keyword arguments for `BertTokenizer` (only those the files set).
        added_tokens (List[AddedTokenSpec]): Added tokens with their ids and flags, by id.
        vocab_path (Path): The file the vocabulary came from.
        tokenizer_class (str): "BertTokenizer" (also for no class or BertTokenizerFast) or
            "BertJapaneseTokenizer".
    """

    vocab: Dict[str, int]
    options: Dict[str, Any] = field(default_factory=dict)
    added_tokens: List[AddedTokenSpec] = field(default_factory=list)
    vocab_path: Optional[Path] = None
    tokenizer_class: str = "BertTokenizer"


def load_vocab(path: PathLike) -> Dict[str, int]:
    """Read a `vocab.txt` (path: str or Path) into an ordered token -> id dict.

    Exactly as transformers reads it: one token per line with only the newline removed, the
    id is the line number, and a token listed twice keeps its last line.
    """
    vocab: Dict[str, int] = collections.OrderedDict()
    try:
        with open(path, "r", encoding="utf-8") as reader:
            lines = reader.readlines()
    except UnicodeDecodeError as error:
        raise ValueError(Errors.E240.format(path=path, error=error)) from error
    for index, line in enumerate(lines):
        vocab[line.rstrip("\n")] = index
    return vocab


def save_vocab(vocab: Mapping[str, int], path: PathLike) -> Path:
    """Write `vocab` (Mapping[str, int]) to `path` (str or Path) as `vocab.txt`, one token per line by id.

    The ids must be 0..n-1 without gaps, since the line number is the id.
    """
    tokens = sorted(vocab.items(), key=lambda item: item[1])
    for expected, (token, index) in enumerate(tokens):
        if index != expected:
            problem = f"id {expected} is missing, next is {index} ({token!r})"
            raise ValueError(Errors.E217.format(max_id=len(tokens) - 1, problem=problem))
    return write_text(path, "".join(token + "\n" for token, _ in tokens))


def read_json(path: PathLike) -> Dict[str, Any]:
    """Read a JSON object from `path` (str or Path); a clear error when it is not one."""
    return read_json_object(path, Errors.E215)


def local_tokenizer_dir(directory: PathLike) -> PathLike:
    """`directory` itself when it is a directory; else what `resolve_checkpoint_dir` makes of it
    (a packaged or downloaded hub id), so the tokenizer and the model accept the same names.
    When the resolver finds nothing, `directory` is returned unchanged and `read_tokenizer_dir`
    raises the tokenizer's own error (E201) naming it."""
    if Path(directory).is_dir():
        return directory
    try:
        return resolve_checkpoint_dir(directory)
    except FileNotFoundError:
        return directory


def read_tokenizer_dir(directory: PathLike) -> TokenizerFiles:
    """Read the tokenizer files of `directory` (str or Path) into a `TokenizerFiles`.

    Raises:
        FileNotFoundError: the directory does not exist, or holds neither `tokenizer.json`
            nor `vocab.txt`.
        ValueError: a file is not valid JSON, or `tokenizer.json` holds no WordPiece model.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(Errors.E201.format(path=directory, expected=" or ".join(VOCAB_FILES)))
    config = _read_optional_json(directory / CONFIG_FILE)
    tokenizer_class = _tokenizer_class(config, directory / CONFIG_FILE)
    options = _options_from_config(config)
    if tokenizer_class == JAPANESE_CLASS:
        for key in BERT_ONLY_KEYS:
            options.pop(key, None)
        options.update({key: config[key] for key in JAPANESE_KEYS if key in config})
    if "added_tokens_decoder" not in config:
        # Older checkpoints keep the special tokens in special_tokens_map.json; transformers
        # lets that file override the config then, and so do we.
        special_map = _read_optional_json(directory / SPECIAL_TOKENS_MAP_FILE)
        for key in SPECIAL_TOKEN_KEYS:
            if special_map.get(key):
                options[key] = _token_content(special_map[key])
    added_tokens = _added_tokens_from_config(config, directory / CONFIG_FILE)

    tokenizer_json = directory / TOKENIZER_FILE
    vocab_txt = directory / VOCAB_FILE
    if tokenizer_class == JAPANESE_CLASS:
        if not vocab_txt.is_file():
            found = sorted(p.name for p in directory.iterdir()) or "nothing"
            raise FileNotFoundError(Errors.E839.format(path=directory, found=found))
        return TokenizerFiles(load_vocab(vocab_txt), options, added_tokens, vocab_txt, JAPANESE_CLASS)
    if tokenizer_json.is_file():
        data = read_json(tokenizer_json)
        vocab, file_options = _read_wordpiece_json(data, tokenizer_json)
        for key, value in file_options.items():
            options.setdefault(key, value)
        if not added_tokens:
            added_tokens = _added_tokens_from_json(data, tokenizer_json, len(vocab))
        return TokenizerFiles(vocab, options, added_tokens, tokenizer_json)
    if vocab_txt.is_file():
        return TokenizerFiles(load_vocab(vocab_txt), options, added_tokens, vocab_txt)
    found = sorted(p.name for p in directory.iterdir()) or "nothing (the directory is empty)"
    raise FileNotFoundError(Errors.E202.format(path=directory, expected=" or ".join(VOCAB_FILES), found=found))


def write_tokenizer_dir(
    directory: PathLike,
    *,
    vocab: Mapping[str, int],
    tokenizer_json: Optional[str],
    config: Mapping[str, Any],
    special_tokens_map: Mapping[str, str],
) -> Tuple[Path, ...]:
    """Write the four tokenizer files into `directory` (str or Path), creating it if needed.

    Args:
        vocab (Mapping[str, int]): The WordPiece vocabulary, written as `vocab.txt`.
        tokenizer_json (Optional[str]): The `tokenizers` serialisation, written as
            `tokenizer.json`; None writes none (and removes an old one, which would disagree).
        config (Mapping[str, Any]): Written as `tokenizer_config.json`.
        special_tokens_map (Mapping[str, str]): Written as `special_tokens_map.json`.

    Returns:
        Tuple[Path, ...]: The paths written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab_path = save_vocab(vocab, directory / VOCAB_FILE)
    json_path = directory / TOKENIZER_FILE
    if tokenizer_json is None:
        json_path.unlink(missing_ok=True)
    else:
        write_text(json_path, tokenizer_json)
    config_path = write_json(config, directory / CONFIG_FILE)
    map_path = write_json(special_tokens_map, directory / SPECIAL_TOKENS_MAP_FILE)
    written = (vocab_path, json_path, config_path, map_path)
    return tuple(path for path in written if tokenizer_json is not None or path != json_path)


def added_tokens_decoder(added_tokens: Sequence[AddedTokenSpec]) -> Dict[str, Dict[str, Any]]:
    """`added_tokens` (Sequence[AddedTokenSpec]) in the `added_tokens_decoder` form of `tokenizer_config.json`."""
    return {
        str(spec["id"]): {
            "content": spec["content"],
            "lstrip": bool(spec.get("lstrip", False)),
            "normalized": bool(spec.get("normalized", False)),
            "rstrip": bool(spec.get("rstrip", False)),
            "single_word": bool(spec.get("single_word", False)),
            "special": bool(spec.get("special", False)),
        }
        for spec in sorted(added_tokens, key=lambda spec: spec["id"])
    }


def _read_optional_json(path: Path) -> Dict[str, Any]:
    return read_json(path) if path.is_file() else {}


def _tokenizer_class(config: Mapping[str, Any], path: Path) -> str:
    """The class `config` names, checked: BERT's (also for none named) or the Japanese one (E830)."""
    value = config.get("tokenizer_class")
    if value is None or value in BERT_CLASSES:
        return "BertTokenizer"
    if value == JAPANESE_CLASS:
        return JAPANESE_CLASS
    raise ValueError(Errors.E830.format(path=path.parent, value=value, supported=", ".join(SUPPORTED_CLASSES)))


def _token_content(value: Any) -> Any:
    # Newer configs store special tokens as serialised AddedTokens: {"content": "[CLS]", ...}.
    if isinstance(value, dict) and "content" in value:
        return value["content"]
    return value


def _options_from_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    options: Dict[str, Any] = {}
    for key in ("do_lower_case", "strip_accents", "tokenize_chinese_chars", "clean_text", "never_split",
                "wordpieces_prefix", "clean_up_tokenization_spaces", "padding_side", "truncation_side",
                "do_basic_tokenize"):
        if key in config:
            options[key] = config[key]
    for key in SPECIAL_TOKEN_KEYS:
        if config.get(key) is not None:
            options[key] = _token_content(config[key])
    # transformers: no model_max_length means no limit; None is the same.
    max_length = config.get("model_max_length")
    options["model_max_length"] = int(max_length) if max_length is not None else VERY_LARGE_INTEGER
    # transformers' default when the config does not say (v5: False).
    options.setdefault("clean_up_tokenization_spaces", False)
    return options


def _added_tokens_from_config(config: Mapping[str, Any], path: Path) -> List[AddedTokenSpec]:
    decoder = config.get("added_tokens_decoder") or {}
    specs = []
    for index, token in decoder.items():
        token = token if isinstance(token, dict) else {"content": str(token)}
        # (No vocabulary size is known here; the tokenizer checks the id against it, E216.)
        specs.append(_spec(_added_token_id(index, token, path, 2**31), token))
    return sorted(specs, key=lambda spec: spec["id"])


def _added_tokens_from_json(data: Mapping[str, Any], path: Path, size: int) -> List[AddedTokenSpec]:
    tokens = data.get("added_tokens") or []
    specs = [
        _spec(_added_token_id(token.get("id") if isinstance(token, Mapping) else None, token, path, size + len(tokens)), token)
        for token in tokens
    ]
    return sorted(specs, key=lambda spec: spec["id"])


def _added_token_id(value: Any, token: Any, path: Path, limit: int) -> int:
    """An added token's id: an int (or a str of one, as tokenizer_config.json keys are) below `limit`."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        content = token.get("content") if isinstance(token, Mapping) else token
        raise ValueError(Errors.E242.format(token=content, path=path, value=value, max_id=limit - 1, size=limit))
    return value


def _check_vocab_ids(vocab: Mapping[Any, Any], path: Path) -> None:
    """Every id of a tokenizer.json vocabulary an int in [0, len(vocab)) (the rows of the embeddings)."""
    size = len(vocab)
    for token, index in vocab.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            problem = f"the token {token!r} with the id {index!r}, outside 0..{size - 1}"
            raise ValueError(Errors.E241.format(path=path, problem=problem))


def _spec(index: int, token: Mapping[str, Any]) -> AddedTokenSpec:
    spec: AddedTokenSpec = {"id": index, "content": token["content"]}
    for flag in ADDED_TOKEN_FLAGS:
        spec[flag] = bool(token.get(flag, False))
    return spec


def _read_wordpiece_json(data: Mapping[str, Any], path: Path) -> Tuple[Dict[str, int], Dict[str, Any]]:
    """The vocabulary of a tokenizer.json and the options its model and normaliser imply."""
    model = data.get("model")
    if not isinstance(model, dict):
        raise ValueError(Errors.E215.format(path=path, error="no 'model' object"))
    kind = model.get("type")
    # Old serialisations have no "type"; a WordPiece model is recognised by its prefix field.
    if kind not in (None, "WordPiece") or (kind is None and "continuing_subword_prefix" not in model):
        raise ValueError(Errors.E214.format(path=path, kind=kind or "non-WordPiece"))
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise ValueError(Errors.E215.format(path=path, error="the WordPiece model has no 'vocab' object"))
    options: Dict[str, Any] = {}
    if model.get("unk_token"):
        options["unk_token"] = model["unk_token"]
    if model.get("continuing_subword_prefix"):
        options["wordpieces_prefix"] = model["continuing_subword_prefix"]
    normalizer = data.get("normalizer")
    _check_part(path, "normalizer", normalizer, "BertNormalizer")
    _check_part(path, "pre-tokenizer", data.get("pre_tokenizer"), "BertPreTokenizer")
    if isinstance(normalizer, dict) and normalizer.get("type") == "BertNormalizer":
        for json_key, option in (("lowercase", "do_lower_case"), ("strip_accents", "strip_accents"),
                                 ("handle_chinese_chars", "tokenize_chinese_chars"), ("clean_text", "clean_text")):
            if json_key in normalizer:
                options[option] = normalizer[json_key]
    _check_vocab_ids(vocab, path)
    return {str(token): index for token, index in vocab.items()}, options


def _check_part(path: Path, part: str, value: Any, supported: str) -> None:
    """A tokenizer.json normaliser / pre-tokenizer is BERT's or absent; anything else is E838."""
    kind = value.get("type") if isinstance(value, dict) else value
    if kind is not None and kind != supported:
        raise ValueError(Errors.E838.format(path=path, part=part, value=kind, supported=f"{supported} or none"))
