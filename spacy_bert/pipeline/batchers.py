"""`spacy-bert.batch_by_length.v1`: the Hugging Face Trainer's `group_by_length` as a spaCy batcher.

`[training.batcher]` of the shipped configs. spaCy's training loop shuffles the examples every
epoch and hands them to the batcher; this batcher cuts them, in that order, into megabatches
of `megabatch * size` examples, sorts each megabatch by length (longest first) and yields it
in batches of `size` examples, as `transformers.trainer_pt_utils.get_length_grouped_indices`
does. So a batch holds examples of about the same length (little padding, fewer forwards),
every batch has `size` examples (the step budget of a Hugging Face recipe: 32-sentence
batches stay 32-sentence batches), and each example is in exactly one batch per epoch.

Length is what the Trainer sorts by, the WordPiece count, where the config gives
`get_length = {"@misc": "spacy-bert.piece_count.v1", "checkpoint": ...}` (the shipped configs
do): on tweets a token count correlates with it at only r = 0.71, and sorting by tokens leaves
1.70 padded positions per real one against 1.05 by pieces (`bench/train_batches.py`).

Where the examples come as a list (spaCy's loop unless max_epochs = -1), the megabatch holds
min(len // (4 * size), megabatch) batches, at least one, as the Trainer computes it; from a
stream, `megabatch` batches. (The Trainer also swaps the longest example of the epoch into
the first batch, to run out of memory early if at all; a stream cannot know it, so this
batcher does not.)
"""
import functools
import itertools
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, TypeVar

from spacy.util import registry

from ..checkpoint import resolve_checkpoint_dir
from ..errors import Errors
from ..tokenization import BertTokenizer

T = TypeVar("T")
#: Batches per megabatch, at most (the Trainer's `mega_batch_mult` cap).
MEGABATCH = 50


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(Errors.E514.format(name=name, value=value))
    return value


def batch_by_length(
    items: Iterable[T], size: int, megabatch: int = MEGABATCH, get_length: Optional[Callable[[T], int]] = None
) -> Iterator[List[T]]:
    """Batches of `size` items (the last of each megabatch may be smaller), length-sorted
    (longest first) within megabatches of consecutive items; see the module docstring.

    items: Iterable[T] — a list or a stream, already shuffled (spaCy's loop shuffles).
    size: int >= 1 — items per batch. megabatch: int >= 1 — batches per megabatch, at most.
    get_length: Callable[[T], int] — an item's length (default `len`: an Example's tokens).
    """
    size = _positive("size", size)
    megabatch = _positive("megabatch", megabatch)
    length: Callable[[T], int] = get_length or len  # type: ignore[assignment]  # len: items are Sized by default
    if isinstance(items, Sequence):
        megabatch = max(1, min(len(items) // (4 * size), megabatch))
    stream = iter(items)
    while True:
        group = list(itertools.islice(stream, megabatch * size))
        if not group:
            return
        group.sort(key=length, reverse=True)  # stable: equal lengths keep the shuffled order
        for start in range(0, len(group), size):
            yield group[start : start + size]


@registry.batchers("spacy-bert.batch_by_length.v1")
def batch_by_length_v1(
    size: int = 32, megabatch: int = MEGABATCH, get_length: Optional[Callable[[Any], int]] = None
) -> Callable[[Iterable[Any]], Iterator[List[Any]]]:
    """The registered batcher: `batch_by_length` with these settings (checked here, E514)."""
    _positive("size", size)
    _positive("megabatch", megabatch)

    def batcher(items: Iterable[Any]) -> Iterator[List[Any]]:
        return batch_by_length(items, size, megabatch, get_length)

    return batcher


@registry.misc("spacy-bert.piece_count.v1")
def piece_count_v1(checkpoint: str) -> Callable[[Any], int]:
    """`get_length` for the batcher: an Example's (or Doc's) WordPiece count by the checkpoint's
    tokenizer, [CLS] and [SEP] included (what the Trainer's `group_by_length` sorts by).
    Counts are cached by text, so later epochs do not tokenize again."""
    tokenizer = BertTokenizer.from_pretrained(str(resolve_checkpoint_dir(checkpoint)))

    @functools.lru_cache(maxsize=1 << 20)
    def count(text: str) -> int:
        return len(tokenizer.encode(text))

    def length(item: Any) -> int:
        return count(item.text)

    return length
