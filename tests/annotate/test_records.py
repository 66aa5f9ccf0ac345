"""Inputs of `spacy bert annotate`: formats, ids, shard planning, and coded errors for bad input
(no pipeline is loaded here)."""
import json
import warnings

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_bert.annotate.records import plan_shards, read_shard, shard_bytes, shard_checksum
from tests.error_codes import raises_code


def write_jsonl(path, rows, raw_lines=()):
    lines = [json.dumps(row) for row in rows] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def all_records(shards, vocab=None):
    return [r for spec in shards for r in read_shard(spec, shard_bytes(spec), vocab)]


def test_jsonl_shards_ids_meta_and_blank_lines(tmp_path):
    rows = [{"text": f"text {i}", "id": f"d{i}", "meta": {"n": i}} for i in range(7)]
    rows[3] = {"text": "no id"}
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows[:5]) + "\n\n  \n" + "\n".join(json.dumps(r) for r in rows[5:]) + "\n")
    shards = plan_shards(str(path), 3)
    assert [(s.name, s.n_records, s.first_line) for s in shards] == [("c.jsonl-00000", 3, 1), ("c.jsonl-00001", 3, 4), ("c.jsonl-00002", 1, 9)]
    records = all_records(shards)
    assert [r.text for r in records] == [r["text"] for r in rows]
    # the default id is "<file name>:<line>", blank lines (6, 7) are not records but keep numbering
    assert [r.id for r in records] == ["d0", "d1", "d2", "c.jsonl:4", "d4", "d5", "d6"]
    assert [r.meta for r in records][:3] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert records[-1].source.endswith("c.jsonl:9")
    # the plan is stable, and a shard's checksum changes with its bytes only
    assert plan_shards(str(path), 3) == shards
    before = [shard_checksum(shard_bytes(s), s) for s in shards]
    lines = path.read_text().splitlines()
    lines[-1] = json.dumps({"text": "changed", "id": "d6"})
    path.write_text("\n".join(lines) + "\n")
    after = [shard_checksum(shard_bytes(s), s) for s in plan_shards(str(path), 3)]
    assert after[:2] == before[:2] and after[2] != before[2]


def test_txt_one_text_per_line_blank_lines_warned(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"first line\r\nsecond\n\nthird  \n")
    with pytest.warns(UserWarning, match=r"W701.*3"):
        shards = plan_shards(str(path), 10)
    records = all_records(shards)
    assert [(r.id, r.text) for r in records] == [("t.txt:1", "first line"), ("t.txt:2", "second"), ("t.txt:4", "third  ")]


def test_docbin_records(tmp_path):
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(f"doc {i}") for i in range(5)]
    docs[1].user_data["id"] = "custom"
    docs[1].user_data["meta"] = {"k": 1}
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "d.spacy")
    shards = plan_shards(str(tmp_path / "d.spacy"), 2)
    assert [(s.start, s.stop, s.n_records) for s in shards] == [(0, 2, 2), (2, 4, 2), (4, 5, 1)]
    records = all_records(shards, nlp.vocab)
    assert [r.id for r in records] == ["d.spacy:1", "custom", "d.spacy:3", "d.spacy:4", "d.spacy:5"]
    assert records[1].meta == {"k": 1} and [r.doc.text for r in records] == [d.text for d in docs]
    # two shards of one DocBin have different checksums
    assert len({shard_checksum(shard_bytes(s), s) for s in shards}) == 3


def test_directory_and_glob(tmp_path):
    write_jsonl(tmp_path / "b.jsonl", [{"text": "b"}])
    (tmp_path / "a.txt").write_text("a1\na2\n")
    (tmp_path / "README.md").write_text("not an input")  # other suffixes in a directory: ignored (documented)
    by_dir = plan_shards(str(tmp_path), 5)
    assert [s.name for s in by_dir] == ["a.txt-00000", "b.jsonl-00000"]
    assert [s.name for s in plan_shards(str(tmp_path / "*.jsonl"), 5)] == ["b.jsonl-00000"]


def test_bad_inputs_are_coded_errors(tmp_path):
    with raises_code("E700", match="nope"):
        plan_shards(str(tmp_path / "nope.jsonl"), 5)
    (tmp_path / "x.csv").write_text("a,b\n")
    with raises_code("E701", match=r"x\.csv"):
        plan_shards(str(tmp_path / "x.csv"), 5)
    (tmp_path / "empty.jsonl").write_text("")
    with raises_code("E702", match="empty.jsonl"):
        plan_shards(str(tmp_path / "empty.jsonl"), 5)
    empty_dir = tmp_path / "none"
    empty_dir.mkdir()
    with raises_code("E702"):
        plan_shards(str(empty_dir), 5)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, {"text": "ok"}], raw_lines=['{"text": "unclosed'])
    with raises_code("E703", match=r"bad\.jsonl:3"):
        plan_shards(str(bad), 5)
    array = write_jsonl(tmp_path / "array.jsonl", [{"text": "ok"}], raw_lines=['["a list"]'])
    with raises_code("E703", match=r"array\.jsonl:2 .*list"):
        plan_shards(str(array), 5)
    no_text = write_jsonl(tmp_path / "notext.jsonl", [{"id": 1}])
    with raises_code("E704", match=r"notext\.jsonl:1"):
        plan_shards(str(no_text), 5)
    bad_id = write_jsonl(tmp_path / "badid.jsonl", [{"text": "a", "id": [1]}])
    with raises_code("E704", match=r"\"id\""):
        plan_shards(str(bad_id), 5)
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with raises_code("E703", match="UTF-8"):
        plan_shards(str(tmp_path / "latin.txt"), 5)
    with raises_code("E706", match="--shard-size"):
        plan_shards(str(tmp_path / "latin.txt"), 0)


def test_same_file_name_twice_is_refused(tmp_path):
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        write_jsonl(tmp_path / sub / "part.jsonl", [{"text": "x"}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with raises_code("E705", match="part.jsonl"):
            plan_shards(str(tmp_path / "*" / "part.jsonl"), 5)


def test_cached_msgpack_hooks_same_bytes_and_restored():
    from srsly import msgpack as srsly_msgpack
    from spacy.tokens import Span

    from spacy_bert.annotate.msgpack_cache import cached_msgpack_hooks

    nlp = spacy.blank("en")
    docs = []
    for i in range(3):
        doc = nlp.make_doc(f"Alice met Bob {i}")
        doc.user_data["id"], doc.user_data["meta"] = f"d{i}", {"i": i}
        doc.spans["x"] = [Span(doc, 0, 1, label="PER")]
        doc.spans["x"].attrs["scores"] = [0.5]
        docs.append(doc)
    plain = DocBin(docs=docs, store_user_data=True).to_bytes()
    with cached_msgpack_hooks():
        with cached_msgpack_hooks():  # nested: the outer one restores
            cached = DocBin(docs=docs, store_user_data=True).to_bytes()
        back = list(DocBin().from_bytes(cached).get_docs(nlp.vocab))
    assert cached == plain
    assert [d.user_data["meta"] for d in back] == [{"i": i} for i in range(3)]
    assert back[2].spans["x"].attrs["scores"] == [0.5]
    for registry in (srsly_msgpack.msgpack_encoders, srsly_msgpack.msgpack_decoders):
        assert "get_all" not in vars(registry)  # the registries answer live again
