"""`spacy-bert.batch_by_length.v1` (the Hugging Face Trainer's group_by_length) and
`spacy-bert.piece_count.v1`, the length it sorts by in the shipped configs."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.util import load_config, registry

import spacy_bert.pipeline  # noqa: F401  (registers them)
from spacy_bert.pipeline.batchers import batch_by_length
from tests.paths import REPO


class Item:
    def __init__(self, n, length):
        self.n, self.length = n, length

    def __len__(self):
        return self.length


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 80), max_size=300), st.integers(1, 40), st.integers(1, 8), st.booleans())
def test_every_example_once_in_batches_of_size_sorted_within_megabatches(lengths, size, megabatch, as_stream):
    items = [Item(n, length) for n, length in enumerate(lengths)]
    batches = list(batch_by_length(iter(items) if as_stream else items, size, megabatch))
    assert sorted(item.n for batch in batches for item in batch) == list(range(len(items)))  # each once
    group = megabatch if as_stream else max(1, min(len(items) // (4 * size), megabatch))  # the Trainer's mega_batch_mult
    start = 0
    for first in range(0, len(items), group * size):
        chunk = items[first : first + group * size]
        expected = sorted(chunk, key=len, reverse=True)  # stable: ties keep the input order
        got = [item for batch in batches[start : start + -(-len(chunk) // size)] for item in batch]
        assert [i.n for i in got] == [i.n for i in expected]
        sizes = [len(b) for b in batches[start : start + -(-len(chunk) // size)]]
        assert all(s == size for s in sizes[:-1]) and 1 <= sizes[-1] <= size
        start += len(sizes)
    assert start == len(batches)


@pytest.mark.parametrize("setting", [{"size": 0}, {"megabatch": 0}, {"size": -3}])
def test_bad_settings_are_coded_errors(setting):
    with pytest.raises(ValueError, match="E514"):
        registry.resolve({"b": {"@batchers": "spacy-bert.batch_by_length.v1", **setting}})
    with pytest.raises(ValueError, match="E514"):  # from Python, where no config validates the type
        list(batch_by_length([Item(0, 1)], **{"size": 2, **setting, **({"size": 2.5} if "megabatch" in setting else {})}))


def test_the_shipped_batcher_groups_by_pieces(tiny_bert_dir):
    """configs/ner.cfg's batcher block resolves, and sorts by WordPiece count ([CLS], [SEP]
    included): a short word that is many pieces sorts before a longer plain sentence."""
    import spacy

    config = load_config(REPO / "configs" / "ner.cfg", overrides={"paths.checkpoint": str(tiny_bert_dir)}, interpolate=True)
    batcher = registry.resolve({"b": config["training"]["batcher"]})["b"]
    nlp = spacy.blank("en")
    docs = [nlp("the cat sat"), nlp("xylophonist"), nlp("a b")]
    length = registry.resolve({"g": config["training"]["batcher"]["get_length"]})["g"]
    assert [length(d) for d in docs] == [5, len(tokenizer_ids(tiny_bert_dir, "xylophonist")), 4]
    (batch,) = list(batcher(docs))
    assert [d.text for d in batch] == sorted((d.text for d in docs), key=lambda t: -length(nlp(t)))


def tokenizer_ids(directory, text):
    from spacy_bert import BertTokenizer

    return BertTokenizer.from_pretrained(str(directory)).encode(text)
