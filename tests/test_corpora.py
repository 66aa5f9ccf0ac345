"""CoNLL NER conversion on slices of the real WNUT-17 files (tests/data/wnut17, the first sentences
of each file, unmodified): every sentence and every entity arrives."""
import warnings

import pytest
import spacy

from spacy_bert.corpora import conll_to_docs, convert_conll


def count_b_tags(path):
    return sum(1 for line in path.open(encoding="utf-8") if "\tB-" in line)


@pytest.mark.parametrize("name,sentences", [("wnut17train.conll", 150), ("emerging.dev.conll", 100)])
def test_wnut17_sentences_and_entities(data_dir, tmp_path, name, sentences):
    source = data_dir / "wnut17" / name
    docs, entities = convert_conll(source, tmp_path / "out.spacy")
    assert docs == sentences  # tab-only separator lines split sentences too
    assert entities == count_b_tags(source)


def test_entities_and_repaired_tags(tmp_path):
    path = tmp_path / "x.conll"
    path.write_text("Taylor\tB-person\nSwift\tI-person\nin\tO\nLA\tI-location\n\t\nok\tO\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = list(conll_to_docs(path, spacy.blank("en").vocab))
    assert [[(e.text, e.label_) for e in d.ents] for d in docs] == [[("Taylor Swift", "person"), ("LA", "location")], []]
    assert any("1 'I-' tag" in str(w.message) for w in caught)


def test_malformed_line_names_the_place(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("word\tO\nlonely\n")
    with pytest.raises(ValueError, match="bad.conll:2"):
        list(conll_to_docs(path, spacy.blank("en").vocab))
