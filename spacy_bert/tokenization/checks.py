"""Argument checks of `BertTokenizer`: wrong types and values fail early, with the
offending value, the expected one and how to fix it (messages in `spacy_bert.errors`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import Errors
from .files import PathLike, load_vocab

EncodeInput = Union[str, Tuple[str, str]]


def resolve_vocab(vocab_file: Optional[PathLike], vocab: Optional[Mapping[str, int]]) -> Dict[str, int]:
    """The vocabulary from `vocab_file` (str | Path) or `vocab` (Mapping[str, int]): exactly one;
    tokens str, ids distinct ints >= 0."""
    if (vocab_file is None) == (vocab is None):
        got = "both" if vocab is not None else "neither"
        raise ValueError(Errors.E204.format(got=got))
    if vocab_file is not None:
        if not isinstance(vocab_file, (str, Path)):
            raise TypeError(Errors.E203.format(path=repr(vocab_file)[:80]))
        if not Path(vocab_file).is_file():
            raise FileNotFoundError(Errors.E203.format(path=vocab_file))
        vocab = load_vocab(vocab_file)
    if not isinstance(vocab, Mapping):
        raise TypeError(Errors.E205.format(problem=f"got a {type(vocab).__name__}, not a mapping"))
    seen: Dict[int, str] = {}
    for token, index in vocab.items():
        if not isinstance(token, str) or not is_int(index) or index < 0:
            raise ValueError(Errors.E205.format(problem=f"the entry {token!r}: {index!r} is not str: int >= 0"))
        if index in seen:
            raise ValueError(Errors.E205.format(problem=f"{seen[index]!r} and {token!r} both have id {index}"))
        seen[index] = token
    if not vocab:
        raise ValueError(Errors.E205.format(problem="it is empty"))
    return {token: int(index) for token, index in vocab.items()}


def collect_inputs(text: Any, text_pair: Any) -> Tuple[List[EncodeInput], bool]:
    """The inputs for `encode_batch` and whether the call was batched; type checks."""
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise TypeError(type_error("text_pair", "a str, since text is a single str", text_pair))
        # As transformers: an empty text_pair means no pair.
        return ([(text, text_pair)] if text_pair else [text]), False
    if not isinstance(text, (list, tuple)):
        raise TypeError(type_error("text", "a str or a list of str", text))
    texts = [check_str(f"text[{i}]", item) for i, item in enumerate(text)]
    if text_pair is None:
        return list(texts), True
    if not isinstance(text_pair, (list, tuple)):
        raise TypeError(type_error("text_pair", "a list of str as long as text, since text is a batch", text_pair))
    if len(text_pair) != len(texts):
        raise ValueError(Errors.E208.format(n_text=len(texts), n_pair=len(text_pair)))
    pairs = [check_str(f"text_pair[{i}]", item) for i, item in enumerate(text_pair)]
    return list(zip(texts, pairs)), True


def type_error(name: str, expected: str, value: Any) -> str:
    """The E207 message for argument `name` (str) that is not `expected` (str)."""
    return Errors.E207.format(name=name, expected=expected, type_name=type(value).__name__, value=repr(value)[:80])


def check_str(name: str, value: Any) -> str:
    """`value` if it is a str, else a TypeError naming argument `name` (str)."""
    if not isinstance(value, str):
        raise TypeError(type_error(name, "a str", value))
    return value


def check_list(name: str, value: Any) -> Sequence[Any]:
    """`value` if it is a list or tuple, else a TypeError naming argument `name` (str)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(type_error(name, "a list of str", value))
    return value


def check_option(name: str, value: Any, ok: Any, expected: str) -> None:
    """A ValueError for option `name` (str) = `value` unless `ok` is truthy; `expected` (str) says what is valid."""
    if not ok:
        raise ValueError(Errors.E209.format(name=name, value=value, expected=expected))


def check_int(name: str, value: Any, minimum: int) -> None:
    """A ValueError unless `value` is an int >= `minimum` (int); `name` (str) names the argument."""
    if not is_int(value) or value < minimum:
        raise ValueError(Errors.E209.format(name=name, value=value, expected=f"an int >= {minimum}"))


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (Python, numpy or 0-d torch), not a bool."""
    # numpy and torch integer scalars count; bool does not (True is not an id).
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return hasattr(value, "dtype") and getattr(value, "ndim", None) == 0 and "int" in str(value.dtype)


def id_list(ids: Any) -> List[int]:
    """A flat list of ints from a list, tuple, numpy array or torch tensor of ids."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple)):
        raise TypeError(type_error("token_ids", "an int or a sequence of ints", ids))
    for index in ids:
        if not is_int(index):
            if isinstance(index, (list, tuple)):
                raise TypeError(Errors.E221)
            raise TypeError(type_error("token_ids[i]", "an int", index))
    return [int(index) for index in ids]
