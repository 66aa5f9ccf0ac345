"""`bert_fill_mask` after `bert` and `bert_ner` never invalidates their annotations (issue 22,
item 1; DESIGN.md decision 14): masks glued to words, punctuation and each other, Docs tokenized
elsewhere, an adversarial property test, `to_bytes` / `DocBin` round trips, `n_process=2`."""
import numpy as np
import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin
from spacy.training import Example

import spacy_bert.pipeline  # noqa: F401  (registers the factories)

MASK = "[MASK]"
LISTENER_NER_MODEL = {
    "@architectures": "spacy-bert.BertTokenClassifier.v1",
    "nO": None,
    "tok2vec": {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"},
}
TRAIN = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")]),
    ("I hate London and Berlin.", [(7, 13, "LOC"), (18, 24, "LOC")]),
    ("Who is Shaka Khan?", [(7, 17, "PER")]),
]


def build(tiny_bert_dir, legacy_mlm_dir, fill_mask=True):
    """`bert` (small windows, so texts are windowed) + a listening `bert_ner` (random head:
    entities everywhere, so a stale span would show) [+ `bert_fill_mask` on the generated legacy masked LM]."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 24, "stride": 6})
    nlp.add_pipe("bert_ner", config={"model": LISTENER_NER_MODEL})
    if fill_mask:
        nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir), "top_k": 2})
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN])
    return nlp


@pytest.fixture(scope="module")
def nlp(tiny_bert_dir, legacy_mlm_dir):
    return build(tiny_bert_dir, legacy_mlm_dir)


@pytest.fixture(scope="module")
def hf_fill(legacy_mlm_dir):
    from transformers import pipeline

    return pipeline("fill-mask", model=str(legacy_mlm_dir), device=-1, top_k=2)


def spans_of(doc):
    return {key: [(s.start, s.end, s.start_char, s.end_char, s.label_) for s in group] for key, group in doc.spans.items()}


def ents_of(doc):
    return [(e.start, e.end, e.start_char, e.end_char, e.label_) for e in doc.ents]


def without_fill_mask(nlp, doc_or_text):
    with nlp.select_pipes(disable="bert_fill_mask"):
        return nlp(doc_or_text if isinstance(doc_or_text, str) else doc_or_text.copy())


def as_lists(value):
    """`value` with tuples as lists (a DocBin's msgpack reads user-data lists back as tuples)."""
    if isinstance(value, (list, tuple)):
        return [as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: as_lists(v) for k, v in value.items()}
    return value


def masks_overlapping(entries, start, end):
    """Indices of the entries whose [start, end) overlaps [start, end) (written out here, not
    taken from the component's alignment)."""
    return [j for j, e in enumerate(entries) if e["start"] < end and start < e["end"]]


def check_consistent(nlp, doc, reference):
    """Everything the earlier components set is intact, in bounds and serialisable, equal to the
    same pipeline without `bert_fill_mask`; the fill-mask values sit where the rule says."""
    assert [t.text for t in doc] == [t.text for t in reference]
    assert doc.text == reference.text
    for group in list(doc.spans.values()) + [doc.ents]:
        for span in group:
            assert 0 <= span.start <= span.end <= len(doc)
            assert span.text == doc.text[span.start_char : span.end_char]
    assert ents_of(doc) == ents_of(reference)
    assert spans_of(doc) == spans_of(reference)
    assert doc.tensor.shape[0] == len(doc)
    np.testing.assert_allclose(doc.tensor, reference.tensor, rtol=0, atol=1e-6)
    data = doc._.bert
    assert len(data.lengths) == len(doc) and int(data.lengths.sum()) == len(data.piece_indices)
    assert np.array_equal(data.lengths, reference._.bert.lengths)
    # round trips: Doc bytes and a DocBin with user data (the extension values)
    again = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert [t.text for t in again] == [t.text for t in doc] and ents_of(again) == ents_of(doc)
    assert spans_of(again) == spans_of(doc)
    docbin = DocBin(store_user_data=True)
    docbin.add(doc)
    (loaded,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(nlp.vocab)
    assert ents_of(loaded) == ents_of(doc) and as_lists(loaded._.fill_mask) == doc._.fill_mask
    assert [as_lists(t._.fill_mask) for t in loaded] == [t._.fill_mask for t in doc]
    # one entry per mask of the text, at its char offsets
    entries = doc._.fill_mask
    starts = [i for i in range(len(doc.text)) if doc.text.startswith(MASK, i)]
    assert [(e["start"], e["end"]) for e in entries] == [(s, s + len(MASK)) for s in starts]
    for token in doc:
        overlapping = masks_overlapping(entries, token.idx, token.idx + len(token.text))
        if not overlapping:
            assert token._.fill_mask is None
        elif len(overlapping) == 1:
            assert token._.fill_mask == entries[overlapping[0]]["predictions"]
        else:
            assert token._.fill_mask == [entries[j]["predictions"] for j in overlapping]


GLUED = [
    # the issue's examples
    ("Bob [MASK][MASK] went to Berlin", ["Bob", MASK, MASK, "went", "to", "Berlin"]),
    ("a[MASK]b", ["a", MASK, "b"]),
    ("Alice a[MASK]b lives in Paris", ["Alice", "a", MASK, "b", "lives", "in", "Paris"]),
    # other shapes
    ("Paris is [MASK].", ["Paris", "is", MASK, "."]),
    ("Alice ([MASK]) met Bob", ["Alice", "(", MASK, ")", "met", "Bob"]),
    ("x[MASK][MASK]y in London", ["x", MASK, MASK, "y", "in", "London"]),
    ("[MASK] met Alice", [MASK, "met", "Alice"]),
    ("Alice met [MASK]", ["Alice", "met", MASK]),
    ("[MASK][MASK][MASK] Berlin", [MASK, MASK, MASK, "Berlin"]),
    ("Zoë[MASK]東京 and 👍🏽[MASK]é", ["Zoë", MASK, "東京", "and", "👍", "🏽", MASK, "é"]),
    ("[MASK],[MASK]-[MASK]'s", [MASK, ",", MASK, "-", MASK, "'s"]),
    ("see https://x.org/[MASK] now", ["see", "https://x.org/", MASK, "now"]),
]


@pytest.mark.parametrize("text,tokens", GLUED)
def test_glued_masks_are_tokens_and_nothing_is_retokenized(nlp, hf_fill, text, tokens):
    doc = nlp(text)
    reference = without_fill_mask(nlp, text)
    assert [t.text for t in doc] == tokens  # the tokenizer cut the masks out, before any component
    check_consistent(nlp, doc, reference)
    masks = [t for t in doc if t.text == MASK]
    assert len(masks) == len(doc._.fill_mask) == text.count(MASK)
    theirs = hf_fill(text)
    theirs = [theirs] if isinstance(theirs[0], dict) else theirs
    for token, entry, expected in zip(masks, doc._.fill_mask, theirs):
        assert (token.idx, token.idx + len(MASK)) == (entry["start"], entry["end"])
        assert [(p["token"], p["token_str"], p["sequence"]) for p in token._.fill_mask] == [(p["token"], p["token_str"], p["sequence"]) for p in expected]
        assert [p["score"] for p in token._.fill_mask] == pytest.approx([p["score"] for p in expected], abs=1e-5)


def test_docs_tokenized_elsewhere_keep_their_tokens(nlp):
    """Tokens made without the mask rules (another tokenizer, a DocBin): a mask may be cut into
    several tokens, a token may hold several masks. The Doc keeps its tokens and annotations;
    each token gets the predictions of the masks it overlaps."""
    text = "Bob [MASK][MASK] went to Berlin a[MASK]b"
    words = ["Bob", "[", "MASK][MASK", "]", "went", "to", "Berlin", "a[MASK]b"]
    spaces = [True, False, False, True, True, True, True, False]
    doc = nlp(Doc(nlp.vocab, words=words, spaces=spaces))
    assert doc.text == text and [t.text for t in doc] == words
    reference = without_fill_mask(nlp, Doc(nlp.vocab, words=words, spaces=spaces))
    check_consistent(nlp, doc, reference)
    first, second, third = (e["predictions"] for e in doc._.fill_mask)
    assert doc[1]._.fill_mask == first  # "[" is part of the first mask only
    assert doc[2]._.fill_mask == [first, second]  # "MASK][MASK": two masks, Hugging Face's multi-mask shape
    assert doc[3]._.fill_mask == second
    assert doc[7]._.fill_mask == third  # "a[MASK]b": one mask glued inside the token
    assert all(doc[i]._.fill_mask is None for i in (0, 4, 5, 6))
    assert isinstance(first[0], dict) and set(first[0]) == {"score", "token", "token_str", "sequence"}


def test_the_issue_corruption_is_gone(nlp):
    """Alice a[MASK]b lives in Paris: before the fix the spans silently became Alice, a, [MASK]b."""
    text = "Alice a[MASK]b lives in Paris"
    words = ["Alice", "a[MASK]b", "lives", "in", "Paris"]
    preset = Doc(nlp.vocab, words=words, spaces=[True, True, True, True, False], ents=["B-PER", "O", "O", "O", "B-LOC"])
    with nlp.select_pipes(enable="bert_fill_mask"):
        doc = nlp(preset)
    assert [t.text for t in doc] == words and doc.text == text
    assert [(e.text, e.label_) for e in doc.ents] == [("Alice", "PER"), ("Paris", "LOC")]
    assert doc[1]._.fill_mask == doc._.fill_mask[0]["predictions"]


def test_saved_pipeline_keeps_the_mask_rules(nlp, tmp_path):
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    text = "Alice a[MASK]b x[MASK][MASK]y lives in Paris"
    assert [t.text for t in loaded.make_doc(text)] == [t.text for t in nlp.make_doc(text)]
    assert loaded.tokenizer.prefix_search.__self__.pattern.count("MASK") == 1  # added once, not again at load
    doc = loaded(text)
    assert doc._.fill_mask == nlp(text)._.fill_mask


def test_no_mask_changes_nothing(nlp):
    text = "Alice lives in Paris [mask] [ MASK ] MASK"
    doc = nlp(text)
    assert doc._.fill_mask == [] and all(t._.fill_mask is None for t in doc)
    check_consistent(nlp, doc, without_fill_mask(nlp, text))


# -- adversarial property test ------------------------------------------------------------------
FRAGMENTS = ["Alice", "Paris", "Berlin", "lives", "in", "a", "b", "x", " ", " ", "  ", "\n", ".", ",", "(", ")", "[", "]",
             "'s", "-", "\"", "é", "東京", "👍🏽", "\u0301", "\u200b", "don't", "U.S.", MASK, MASK, MASK]
GLUED_TEXTS = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)
SPACED_TEXTS = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map(" ".join)


@st.composite
def masked_anywhere(draw):
    """A random text with masks inserted at random char positions (inside words, at either end,
    beside punctuation and each other)."""
    base = draw(st.text(st.sampled_from(list("Alice Bob Paris.,()'-é東京 \n")), max_size=60))
    positions = draw(st.lists(st.integers(0, len(base)), max_size=5))
    for position in sorted(positions, reverse=True):
        base = base[:position] + MASK + base[position:]
    return base


TEXTS = st.one_of(GLUED_TEXTS, SPACED_TEXTS, masked_anywhere())
PLAIN = spacy.blank("en")  # spaCy's English tokenizer without the mask rules


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=TEXTS, elsewhere=st.booleans())
def test_fill_mask_never_invalidates_earlier_annotations(nlp, text, elsewhere):
    """`elsewhere`: the Doc is tokenized by a plain English tokenizer (no mask rules), as a Doc
    from a DocBin or another tool would be."""
    if elsewhere:
        plain = PLAIN.make_doc(text)
        make = lambda: Doc(nlp.vocab, words=[t.text for t in plain], spaces=[bool(t.whitespace_) for t in plain])  # noqa: E731
        doc, reference = nlp(make()), without_fill_mask(nlp, make())
    else:
        doc, reference = nlp(text), without_fill_mask(nlp, text)
    check_consistent(nlp, doc, reference)


def test_multiprocess_pipe(nlp):
    texts = ["Bob [MASK][MASK] went to Berlin", "Alice a[MASK]b lives in Paris", "no mask here", "[MASK]."]
    single = [(ents_of(d), d._.fill_mask) for d in nlp.pipe(texts)]
    multi = [(ents_of(d), d._.fill_mask) for d in nlp.pipe(texts, n_process=2, batch_size=2)]
    assert [e for e, _ in multi] == [e for e, _ in single]
    for (_, ours), (_, theirs) in zip(multi, single):
        assert [(e["start"], e["end"], [p["token"] for p in e["predictions"]]) for e in ours] == [
            (e["start"], e["end"], [p["token"] for p in e["predictions"]]) for e in theirs
        ]


class WhitespaceTokenizer:
    """A user's own tokenizer (spaCy's docs example): no special cases, no affix rules."""

    def __init__(self, vocab):
        self.vocab = vocab

    def __call__(self, text):
        words = text.split(" ")
        return Doc(self.vocab, words=words, spaces=[True] * (len(words) - 1) + [False])


def test_a_custom_tokenizer_is_left_alone(legacy_mlm_dir):
    """Not spaCy's rule-based tokenizer: no rules to add (this used to be an AttributeError at
    add_pipe); the masks are still found on its tokens."""
    nlp = spacy.blank("en")
    nlp.tokenizer = WhitespaceTokenizer(nlp.vocab)
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir), "top_k": 2})
    doc = nlp("Alice a[MASK]b [MASK][MASK] Paris")
    assert [t.text for t in doc] == ["Alice", "a[MASK]b", "[MASK][MASK]", "Paris"]
    first, second, third = (e["predictions"] for e in doc._.fill_mask)
    assert doc[1]._.fill_mask == first and doc[2]._.fill_mask == [second, third]
    assert doc[0]._.fill_mask is None and doc[3]._.fill_mask is None
