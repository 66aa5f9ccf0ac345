"""Text classification conversion (SST-2, TREC, GoEmotions): small files in each format, the
CLI, and slices of the real files (tests/data), whose every line must arrive with a score for every label."""
from collections import Counter
from itertools import islice

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_bert.__main__ import main
from spacy_bert.corpora import (
    SST2_LABELS,
    TREC_LABELS,
    label_counts,
    read_goemotions,
    read_labels,
    read_sst2,
    read_trec,
    split_held_out,
    write_textcat_docbin,
)

GOEMOTIONS_LABELS = ["admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
                     "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
                     "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
                     "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral"]


def load(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


@pytest.fixture
def trec_file(tmp_path):
    path = tmp_path / "trec.txt"
    lines = [f"{i % 6} Question number {i} about caf\xe9s ?" for i in range(50)]
    path.write_bytes("\n".join(lines).encode("iso-8859-1") + b"\n")
    return path


@pytest.fixture
def goemotions_files(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("joy\nanger\nneutral")  # the real file has no final newline either
    data = tmp_path / "train.tsv"
    data.write_text("I love it!\t0\tabc1\nSo mad and glad\t1,0\tabc2\nok.\t2\tabc3\n", encoding="utf-8")
    return data, labels


# SST-2


def test_sst2_records(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"label\tsentence\r\n0\thide new secretions \r\n1\tit 's a charming journey\r\n")
    assert list(read_sst2(path)) == [
        ("hide new secretions", {"negative": 1.0, "positive": 0.0}),
        ("it 's a charming journey", {"negative": 0.0, "positive": 1.0}),
    ]


def test_sst2_header_is_optional_and_any_name(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("label\tcontent\n1\tgood\n")  # the real dev.tsv's header
    assert [text for text, _ in read_sst2(path)] == ["good"]
    path.write_text("0\tbad\n")
    assert [text for text, _ in read_sst2(path)] == ["bad"]


@pytest.mark.parametrize("line,message", [
    ("0 no tab here", "bad.tsv:3: expected 'label<TAB>sentence'"),
    ("0\ttoo\tmany", "bad.tsv:3: expected 'label<TAB>sentence'"),
    ("pos\tnot an id", "bad.tsv:3: expected an integer label id"),
    ("2\tunknown id", "bad.tsv:3: unknown label id 2"),
    ("1\t  ", "bad.tsv:3: empty text"),
    ("", "bad.tsv:3: expected 'label<TAB>sentence'"),
])
def test_sst2_malformed_line_names_the_place(tmp_path, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text(f"label\tsentence\n1\tfine\n{line}\n0\tnever reached\n")
    with pytest.raises(ValueError, match=message) as caught:
        list(read_sst2(path))
    assert repr(line) in str(caught.value)


# TREC


def test_trec_latin1_and_labels(tmp_path):
    path = tmp_path / "trec.txt"
    path.write_bytes(b"4 Where is the Caf\xe9 de Flore ?\n2 What does  NASA stand for ?\n")
    records = list(read_trec(path))
    assert [text for text, _ in records] == ["Where is the Café de Flore ?", "What does  NASA stand for ?"]
    assert records[0][1] == {"DESC": 0.0, "ENTY": 0.0, "ABBR": 0.0, "HUM": 0.0, "LOC": 1.0, "NUM": 0.0}
    assert [max(cats, key=cats.get) for _, cats in records] == ["LOC", "ABBR"]
    assert all(list(cats) == list(TREC_LABELS) for _, cats in records)


@pytest.mark.parametrize("line,message", [
    ("3", "expected 'LABEL text'"),
    ("HUM Who is it ?", "expected an integer label id"),
    ("6 What is it ?", "unknown label id 6"),
    ("-1 What is it ?", "unknown label id -1"),
])
def test_trec_malformed_line_names_the_place(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(f"0 How ?\n{line}\n".encode("iso-8859-1"))
    with pytest.raises(ValueError, match=f"bad.txt:2: {message}"):
        list(read_trec(path))


def test_held_out_split_is_deterministic_disjoint_and_complete(trec_file):
    records = list(read_trec(trec_file))
    kept, held_out = split_held_out(records, 0.2, seed=0)
    assert len(held_out) == 10 and len(kept) == 40
    assert sorted(kept + held_out) == sorted(records)  # complete, and disjoint (texts are unique)
    assert not {text for text, _ in kept} & {text for text, _ in held_out}
    assert kept == [r for r in records if r in kept]  # input order kept
    assert split_held_out(records, 0.2, seed=0) == (kept, held_out)
    assert split_held_out(records, 0.2, seed=1)[1] != held_out
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_held_out(records, 1.0)


def test_trec_command_writes_both_parts(trec_file, tmp_path, capsys):
    train, dev = tmp_path / "out" / "train.spacy", tmp_path / "out" / "dev.spacy"
    main(["convert-trec", str(trec_file), str(train), "--held-out", "0.1", "--held-out-output", str(dev), "--seed", "3"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{train}: 45 docs; labels: DESC ")
    assert out[1].startswith(f"{dev}: 5 docs; labels: ")
    texts = [doc.text for doc in load(train)] + [doc.text for doc in load(dev)]
    assert sorted(texts) == sorted(text for text, _ in read_trec(trec_file))
    first = load(dev)
    main(["convert-trec", str(trec_file), str(train), "--held-out", "0.1", "--held-out-output", str(dev), "--seed", "3"])
    assert [(d.text, d.cats) for d in load(dev)] == [(d.text, d.cats) for d in first]


def test_trec_command_wants_both_held_out_options(trec_file, tmp_path):
    with pytest.raises(SystemExit):
        main(["convert-trec", str(trec_file), str(tmp_path / "t.spacy"), "--held-out", "0.1"])
    assert not (tmp_path / "t.spacy").exists()


# GoEmotions


def test_goemotions_multi_label(goemotions_files):
    data, labels = goemotions_files
    assert list(read_goemotions(data, labels)) == [
        ("I love it!", {"joy": 1.0, "anger": 0.0, "neutral": 0.0}),
        ("So mad and glad", {"joy": 1.0, "anger": 1.0, "neutral": 0.0}),
        ("ok.", {"joy": 0.0, "anger": 0.0, "neutral": 1.0}),
    ]


@pytest.mark.parametrize("line,message", [
    ("no ids\t\tabc", "expected 'text<TAB>label ids<TAB>id'"),
    ("no id column\t1", "expected 'text<TAB>label ids<TAB>id'"),
    ("bad id\t1,x\tabc", "expected an integer label id"),
    ("unknown id\t0,3\tabc", "unknown label id 3"),
    ("\t0\tabc", "empty text"),
])
def test_goemotions_malformed_line_names_the_place(goemotions_files, line, message):
    data, labels = goemotions_files
    data.write_text(f"fine\t0\tabc\n{line}\n")
    with pytest.raises(ValueError, match=f"train.tsv:2: {message}"):
        list(read_goemotions(data, labels))


def test_labels_file_is_checked(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("joy\nanger\njoy\n")
    with pytest.raises(ValueError, match="labels.txt:3: label 'joy' repeats line 1"):
        read_labels(path)


def test_goemotions_command_finds_labels_beside_input(goemotions_files, tmp_path, capsys):
    data, _ = goemotions_files
    out = tmp_path / "go.spacy"
    main(["convert-goemotions", str(data), str(out)])
    assert capsys.readouterr().out == f"{out}: 3 docs; labels: joy 2, anger 1, neutral 1\n"
    docs = load(out)
    assert [d.text for d in docs] == ["I love it!", "So mad and glad", "ok."]
    assert [t.text for t in docs[0]] == ["I", "love", "it", "!"]  # spaCy's English tokenizer
    assert docs[1].cats == {"joy": 1.0, "anger": 1.0, "neutral": 0.0}


def test_malformed_input_stops_the_command_before_writing(tmp_path, capsys):
    source, out = tmp_path / "bad.tsv", tmp_path / "out.spacy"
    source.write_text("label\tsentence\n1\tgood\n7\tbad id\n")
    with pytest.raises(SystemExit) as caught:  # one coded line, exit status 1
        main(["convert-sst2", str(source), str(out)])
    assert caught.value.code == 1
    printed = capsys.readouterr()
    assert "bad.tsv:3: unknown label id 7" in printed.out + printed.err
    assert not out.exists()


def test_write_textcat_docbin_returns_count(tmp_path):
    out = tmp_path / "sub" / "x.spacy"
    assert write_textcat_docbin(iter([("a b", {"x": 1.0}), ("c", {"x": 0.0})]), out) == 2
    assert [(d.text, len(d), d.cats) for d in load(out)] == [("a b", 2, {"x": 1.0}), ("c", 1, {"x": 0.0})]


# Slices of the real files (tests/data: the first rows of each, byte for byte; the counts below
# were counted with awk on the files, not with this code)


def data_file(data_dir, *parts):
    return data_dir.joinpath(*parts)


def convert_real(records, tmp_path):
    """Write the records, read the DocBin back: its count, and the first docs' (text, cats)."""
    records = list(records)
    out = tmp_path / "real.spacy"
    assert write_textcat_docbin(records, out) == len(records)
    docbin = DocBin().from_disk(out)
    head = [(d.text, d.cats) for d in islice(docbin.get_docs(spacy.blank("en").vocab), 3)]
    assert head == [(text, cats) for text, cats in records[:3]]
    return len(docbin), records


# The train files run through the same reader and writer as the dev files; to keep the suite
# fast (about 10 s each to tokenize and serialise) only their records are counted, not written.


@pytest.mark.parametrize("name,count,negative", [("train.tsv", 100, 51), ("dev.tsv", 60, 39)])
def test_real_sst2(data_dir, tmp_path, name, count, negative):
    records = list(read_sst2(data_file(data_dir, "sst2", name)))
    if name == "dev.tsv":
        assert convert_real(records, tmp_path)[0] == count
    assert len(records) == count
    assert all(list(cats) == list(SST2_LABELS) and sum(cats.values()) == 1.0 for _, cats in records)
    assert label_counts(records) == Counter(negative=negative, positive=count - negative)


def test_real_trec(data_dir, tmp_path):
    source = data_file(data_dir, "trec", "train.txt")
    kept, held_out = split_held_out(list(read_trec(source)), 0.1, seed=0)
    assert (len(kept), len(held_out)) == (90, 10)
    written, records = convert_real(kept + held_out, tmp_path)
    assert written == 100
    assert label_counts(records) == Counter(DESC=31, ENTY=20, ABBR=2, HUM=19, LOC=15, NUM=13)
    assert "Which city has the oldest relationship as a sister\xf0city with Los Angeles ?" in {t for t, _ in records}


@pytest.mark.parametrize("name,count", [("train.tsv", 100), ("dev.tsv", 60)])
def test_real_goemotions(data_dir, tmp_path, name, count):
    labels = data_file(data_dir, "goemotions", "labels.txt")
    assert read_labels(labels) == GOEMOTIONS_LABELS
    records = list(read_goemotions(labels.with_name(name), labels))
    if name == "dev.tsv":
        assert convert_real(records, tmp_path)[0] == count
    assert len(records) == count
    assert all(list(cats) == GOEMOTIONS_LABELS and sum(cats.values()) >= 1.0 for _, cats in records)
    assert sum(sum(cats.values()) > 1 for _, cats in records) > 0.1 * count  # multi-label lines arrive
