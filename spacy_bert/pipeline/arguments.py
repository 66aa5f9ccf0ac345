"""Checks of the arguments users hand to components: lists of strings and `top_k`.

One rule each, used wherever such a value enters (a method argument, the factory config, a
saved cfg restored by `from_disk`/`from_bytes`):

- **A list of strings** (`string_list`): a plain `str` is ONE item (one question, one target,
  one candidate word, one text), as Hugging Face's pipelines treat a `str` target; never
  `list("When?")`, which would ask five one-letter questions. Bytes, a mapping (is
  `{"q1": "Who?"}` one question or an id table?), a number, None and any other non-iterable
  are E751; an item that is not a string is E752 with its index. Whether an empty or blank
  item may pass is the caller's rule (an empty text is a text; an empty question is E605).
  Unordered containers (sets) are refused where order carries meaning (texts, questions:
  results and ids follow the input order) and accepted where it does not (targets, words).
- **One string** (`one_string`): an argument that is one text (`ask`'s context,
  `score_words`' text) must be a `str`; a list, bytes or None there is E753.
- **`top_k`** (`check_top_k`): an int >= 1; a bool is refused even though `True == 1` in
  Python (E750). An upper bound is not an error: each component caps it where the count is
  known (bert_fill_mask at the vocabulary size, or the number of targets as Hugging Face does;
  bert_qa returns the candidates there are, fewer than top_k, as Hugging Face does).

Data attributes are stricter than call arguments: `doc._.questions` and the `questions` of an
annotate record must be lists (E604, E704), since other code reads them back as lists.
"""
from collections.abc import Iterable, Mapping, Set
from numbers import Integral
from typing import Any, List

from ..errors import Errors

__all__ = ["check_top_k", "is_count", "one_string", "question_list", "string_list"]

#: What a wrong container type is told to do instead.
_HINT = "Pass a str for one {item} or a list, e.g. [{example!r}]."


def string_list(value: Any, *, what: str, item: str, example: str, ordered: bool = True) -> List[Any]:
    """`value` as a list: a `str` is one item, a list/tuple/iterable of strings is itself.

    Args:
        value (Any): what the user passed.
        what (str): the argument, as messages name it ("ask(questions=...)").
        item (str): one element in words ("question").
        example (str): an example item for the message.
        ordered (bool): refuse sets (where results or ids follow the input order).

    Returns:
        List[str]: the items.
    Raises:
        ValueError: E751 (not a str or a list of them), E752 (an item is not a str).
    """
    items = _as_list(value, what=what, item=item, example=example, ordered=ordered)
    for index, element in enumerate(items):
        if not isinstance(element, str):
            raise ValueError(Errors.E752.format(what=what, index=index, value=element, type_name=type(element).__name__, item=item))
    return items


def _as_list(value: Any, *, what: str, item: str, example: str, ordered: bool = True) -> List[Any]:
    """The container rule of `string_list` without the item check (callers whose items may be
    other things too, e.g. bert_qa's {"id", "question"} dicts)."""
    if isinstance(value, str):
        return [value]
    refused = (
        isinstance(value, (bytes, bytearray, memoryview, Mapping))
        or not isinstance(value, Iterable)
        or (ordered and isinstance(value, Set))
    )
    if refused:
        hint = _HINT.format(item=item, example=example)
        if ordered and isinstance(value, Set):
            hint += " A set has no order, and the results follow the order of the input."
        raise ValueError(Errors.E751.format(what=what, item=item, value=_short(value), type_name=type(value).__name__, hint=hint))
    return list(value)


def one_string(value: Any, *, what: str, item: str) -> str:
    """`value` if it is a `str` (an argument that is one text, never a batch), else E753."""
    if not isinstance(value, str):
        raise ValueError(Errors.E753.format(what=what, item=item, value=_short(value), type_name=type(value).__name__))
    return value


def question_list(value: Any) -> List[Any]:
    """`ask`'s questions as a list (a str is one question; items are checked later by
    `read_questions`: str or {"id", "question"})."""
    return _as_list(value, what="ask(questions=...)", item="question", example="When was it founded?")


def is_count(value: Any, minimum: int = 1) -> bool:
    """Whether `value` is an int >= `minimum` (a bool is not a count)."""
    return isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= minimum


def check_top_k(value: Any, *, name: str, factory: str, where: str, meaning: str, fix: str) -> int:
    """`value` as an int if it is a valid `top_k` (see the module docstring), else E750.

    Args:
        name (str), factory (str): the component and its factory, for the message.
        where (str): where the value came from ("passed to fill(top_k=...)").
        meaning (str): what top_k counts ("predictions per mask").
        fix (str): how to fix it there.
    """
    if not is_count(value):
        raise ValueError(
            Errors.E750.format(name=name, factory=factory, value=_short(value), type_name=type(value).__name__, where=where, meaning=meaning, fix=fix)
        )
    return int(value)


class _Cut:
    """A value whose repr is cut to 200 characters (messages stay one screen)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _short(value: Any) -> Any:
    """`value`, or a stand-in whose repr is the first 200 characters of its repr."""
    text = repr(value)
    return value if len(text) <= 200 else _Cut(text[:200] + "...")
