"""`convert-conll` never guesses (issue 22, item 7): IO, BIO and BILUO tags are read explicitly
per file, mixed or malformed tags are refused with `file:line`, the file is read as utf-8-sig and
split only on \\n / \\r\\n, and no token holds whitespace."""
import re
import warnings

import pytest
import spacy
from typer.testing import CliRunner

from spacy_bert.cli import bert_cli
from spacy_bert.corpora import conll_to_docs, convert_conll
from spacy_bert.corpora.conll import detect_scheme, read_conll


def write(tmp_path, text, name="x.conll", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def ents(path):
    """[[(text, label), ...] per Doc] of a CoNLL file."""
    return [[(e.text, e.label_) for e in doc.ents] for doc in conll_to_docs(path, spacy.blank("en").vocab)]


def words(path):
    return [[t.text for t in doc] for doc in conll_to_docs(path, spacy.blank("en").vocab)]


def raises_at(code, path, line):
    """pytest.raises for ValueError `code` whose message names `path:line`."""
    return pytest.raises(ValueError, match=rf"^\[{code}\] {re.escape(str(path))}:{line}\b")


# -- schemes -------------------------------------------------------------------------------------
def test_bio_entities_and_repairs(tmp_path):
    path = write(tmp_path, "Taylor\tB-PER\nSwift\tI-PER\nin\tO\nNew\tB-LOC\nYork\tI-LOC\nLA\tI-LOC\n\nok\tI-ORG\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ents(path) == [[("Taylor Swift", "PER"), ("New York LA", "LOC")], [("ok", "ORG")]]
    assert any("[W770]" in str(w.message) and "1 'I-' tag(s)" in str(w.message) and "line 8" in str(w.message) for w in caught)  # only the sentence-initial I-ORG
    assert detect_scheme(path, read_conll(path)) == ("BIO", None)


def test_adjacent_bio_entities_stay_apart(tmp_path):
    path = write(tmp_path, "Alice\tB-PER\nBob\tB-PER\nCarol\tI-PER\nParis\tB-LOC\n")
    assert ents(path) == [[("Alice", "PER"), ("Bob Carol", "PER"), ("Paris", "LOC")]]


def test_io_file_without_prefixes(tmp_path):
    """A whole file of bare labels is IO: each run of one label is one entity (the issue's `PER`
    became the label `R` before)."""
    path = write(tmp_path, "Alice\tPER\nSmith\tPER\nmet\tO\nBob\tPER\nin\tO\nNew\tLOC\nYork\tLOC\nParis\tGPE\n")
    assert ents(path) == [[("Alice Smith", "PER"), ("Bob", "PER"), ("New York", "LOC"), ("Paris", "GPE")]]
    assert detect_scheme(path, read_conll(path))[0] == "IO"


def test_all_o_file_has_no_entities(tmp_path):
    path = write(tmp_path, "a\tO\nb\tO\n\nc\tO\n")
    assert ents(path) == [[], []]


def test_biluo_u_and_l_never_merge_across_entities(tmp_path):
    path = write(tmp_path, "Alice\tU-PER\nBob\tU-PER\nNew\tB-LOC\nYork\tL-LOC\nParis\tU-LOC\nRio\tB-LOC\nde\tI-LOC\nJaneiro\tL-LOC\n")
    assert ents(path) == [[("Alice", "PER"), ("Bob", "PER"), ("New York", "LOC"), ("Paris", "LOC"), ("Rio de Janeiro", "LOC")]]
    assert detect_scheme(path, read_conll(path)) == ("BILUO", 1)


def test_bioes_is_read_as_biluo(tmp_path):
    path = write(tmp_path, "Alice\tS-PER\nBob\tS-PER\nNew\tB-LOC\nYork\tE-LOC\n")
    assert ents(path) == [[("Alice", "PER"), ("Bob", "PER"), ("New York", "LOC")]]


@pytest.mark.parametrize("text,line,reason", [
    ("New\tB-LOC\nYork\tO\n\nx\tU-PER\n", 2, "has no L-LOC"),  # B- closed by O
    ("York\tL-LOC\nx\tU-PER\n", 1, "no B-LOC opens"),  # L- without B-
    ("Bob\tU-PER\nSmith\tI-PER\n", 2, "no B-PER opens"),  # I- after U- (would merge)
    ("New\tB-LOC\nYork\tL-PER\n", 2, "has no L-LOC"),  # L- of another type
    ("New\tB-LOC\nYork\tI-LOC\n\nx\tU-PER\n", 1, "sentence ends"),  # unclosed at the sentence end
    ("New\tB-LOC\nParis\tU-LOC\n", 2, "has no L-LOC"),  # U- inside an open entity
])
def test_broken_biluo_is_refused_with_its_line(tmp_path, text, line, reason):
    path = write(tmp_path, text)
    with raises_at("E783", path, line) as caught:
        list(conll_to_docs(path, spacy.blank("en").vocab))
    assert reason in str(caught.value)


@pytest.mark.parametrize("text,line,tag,scheme", [
    ("Alice\tB-PER\nin\tO\nParis\tLOC\n", 3, "LOC", "BIO"),  # the case: a bare tag in BIO
    ("Paris\tLOC\nAlice\tB-PER\n", 1, "LOC", "BIO"),  # bare before the first prefixed tag
    ("Alice\tU-PER\n\nParis\tGPE\n", 3, "GPE", "BILUO"),  # bare in BILUO
])
def test_mixed_schemes_are_refused(tmp_path, text, line, tag, scheme):
    path = write(tmp_path, text)
    with raises_at("E780", path, line) as caught:
        list(conll_to_docs(path, spacy.blank("en").vocab))
    assert f"'{tag}'" in str(caught.value) and f"uses {scheme} tags" in str(caught.value)


@pytest.mark.parametrize("tag", ["B-", "I-", "U-", "B-PER X"])
def test_prefix_without_a_label_is_refused(tmp_path, tag):
    path = write(tmp_path, f"a\tO\nb\t{tag}\n")
    with raises_at("E781", path, 2):
        list(conll_to_docs(path, spacy.blank("en").vocab))


# -- lines and fields ----------------------------------------------------------------------------
def test_byte_order_mark_is_dropped(tmp_path):
    path = write(tmp_path, "\ufeffAlice\tB-PER\nsays\tO\n")
    assert words(path) == [["Alice", "says"]]
    assert ents(path) == [[("Alice", "PER")]]


def test_crlf_lines_and_bom(tmp_path):
    path = write(tmp_path, "\ufeffAlice\tB-PER\r\nsays\tO\r\n\r\nBob\tB-PER\r\n")
    assert words(path) == [["Alice", "says"], ["Bob"]]
    assert ents(path) == [[("Alice", "PER")], [("Bob", "PER")]]


def test_whitespace_only_lines_end_sentences(tmp_path):
    path = write(tmp_path, "a\tO\n\t\nb\tO\n   \nc\tO\n")
    assert words(path) == [["a"], ["b"], ["c"]]


def test_docstart_lines_are_markers(tmp_path):
    path = write(tmp_path, "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n-DOCSTART-\tO\nGerman\tB-MISC\n")
    assert words(path) == [["EU", "rejects"], ["German"]]
    assert ents(path) == [[("EU", "ORG")], [("German", "MISC")]]


def test_space_separated_lines_take_the_last_field_as_tag(tmp_path):
    path = write(tmp_path, "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    assert ents(path) == [[("Peter Blackburn", "PER")]]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\v", "\f", "\x1c", "\x1e", "\x85", "\r"])
@pytest.mark.parametrize("separator", ["\t", " "])
def test_line_break_characters_inside_a_line_never_drop_tokens(tmp_path, char, separator):
    """str.splitlines (and str.split()) cut at these; the token and its tag were lost. Now the
    line stays one line, and the token that holds the character is refused with its place."""
    path = write(tmp_path, f"Alice{separator}B-PER\nNew{char}York{separator}B-LOC\nok{separator}O\n")
    with raises_at("E782", path, 2) as caught:
        list(conll_to_docs(path, spacy.blank("en").vocab))
    assert f"U+{ord(char):04X}" in str(caught.value)


@pytest.mark.parametrize("token", ["New York", "New\u00a0York", " York", "York "])
def test_tab_separated_token_with_a_space_is_refused(tmp_path, token):
    path = write(tmp_path, f"in\tO\n{token}\tB-LOC\n")
    with raises_at("E782", path, 2):
        list(conll_to_docs(path, spacy.blank("en").vocab))


@pytest.mark.parametrize("line", ["lonely", "word\t", "word\t  ", "\tB-PER"])
def test_missing_token_or_tag_is_refused(tmp_path, line):
    """An empty tag used to become 'O' silently."""
    path = write(tmp_path, f"a\tO\n{line}\n")
    with raises_at("E779", path, 2):
        list(conll_to_docs(path, spacy.blank("en").vocab))


def test_non_utf8_names_the_line(tmp_path):
    path = write(tmp_path, b"a\tO\n\nb\tO\ncaf\xe9\tO\n")
    with raises_at("E772", path, 4):
        list(conll_to_docs(path, spacy.blank("en").vocab))


def test_nothing_is_yielded_before_the_file_is_checked(tmp_path):
    path = write(tmp_path, "Alice\tB-PER\n\nBob\tPER\n")  # sentence 1 is fine, line 3 is not
    docs = conll_to_docs(path, spacy.blank("en").vocab)
    with raises_at("E780", path, 3):
        next(docs)


# -- the command ---------------------------------------------------------------------------------
def test_command_prints_one_coded_line_and_writes_nothing(tmp_path):
    path = write(tmp_path, "Alice\tB-PER\nin\tO\nParis\tLOC\n")
    out = tmp_path / "out.spacy"
    result = CliRunner().invoke(bert_cli, ["convert-conll", str(path), str(out)])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    coded = [line for line in result.output.splitlines() if "[E" in line]
    assert len(coded) == 1 and f"[E780] {path}:3:" in coded[0], result.output
    assert not out.exists()


def test_command_converts_an_io_file(tmp_path):
    path = write(tmp_path, "\ufeffAlice\tPER\nSmith\tPER\r\nin\tO\nParis\tLOC\n")
    out = tmp_path / "corpus" / "out.spacy"
    result = CliRunner().invoke(bert_cli, ["convert-conll", str(path), str(out)])
    assert result.exit_code == 0, result.output
    assert f"{out}: 1 docs, 2 entities" in result.output
    docs = list(spacy.tokens.DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Alice Smith", "PER"), ("Paris", "LOC")]


def test_convert_conll_limit(tmp_path):
    path = write(tmp_path, "a\tB-X\n\nb\tB-Y\n\nc\tO\n")
    assert convert_conll(path, tmp_path / "o.spacy", limit=2) == (2, 2)
