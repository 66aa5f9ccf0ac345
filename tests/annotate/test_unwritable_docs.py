"""A record whose Doc cannot be written (after the pipeline's per-record guard: `DocBin.add`, the
DocBin's bytes, the JSONL line) is that record's failure: with `--on-error skip` every other
record of the shard is written and the bad one is reported with its id; with `fail` it is E708
and nothing of the shard is written (issue 22, item 1). And the issue's pipeline, `bert_fill_mask`
after `bert_ner` on glued masks, annotates every record."""
import io
import json

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import DocBin

from spacy_bert.annotate import annotate_corpus
from tests.annotate.conftest import TEXTS, shard_jsonl
from tests.error_codes import raises_code


class NotSerialisable:
    """Neither msgpack nor JSON can encode it."""


@Language.component("annotate_test_unwritable")
def annotate_test_unwritable(doc):
    """Leaves Docs that look fine but cannot be written, one kind per marker word."""
    if "USERDATA" in doc.text:  # DocBin.add: msgpack cannot encode the user data
        doc.user_data["bad"] = NotSerialisable()
    if "STALE" in doc.text:  # a span group left pointing past the Doc (what retokenizing did)
        doc.spans["stale"] = [doc[len(doc) - 1 :]]
        with doc.retokenize() as retokenizer:
            retokenizer.merge(doc[0:2])
    if "CATS" in doc.text:  # DocBin.to_bytes and the JSONL line: a category that is no number
        doc.cats["odd"] = NotSerialisable()
    return doc


@pytest.fixture(scope="module")
def unwritable_pipeline(tiny_pipeline_dir, tmp_path_factory):
    nlp = spacy.load(tiny_pipeline_dir)
    nlp.add_pipe("annotate_test_unwritable")
    directory = tmp_path_factory.mktemp("unwritable") / "pipeline"
    nlp.to_disk(directory)
    return directory


def run(pipeline, corpus_path, out, **kwargs):
    return annotate_corpus(str(pipeline), str(corpus_path), str(out), shard_size=5, fmt="jsonl", progress_stream=io.StringIO(), **kwargs)


def write_rows(path, texts):
    path.write_text("".join(json.dumps({"text": t, "id": f"r{i}"}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def docs_of(out, vocab):
    return [d for p in sorted(out.glob("*.spacy")) for d in DocBin().from_disk(p).get_docs(vocab)]


@pytest.mark.parametrize("marker", ["USERDATA", "STALE", "CATS"])
def test_an_unwritable_doc_is_reported_and_the_rest_of_its_shard_written(tmp_path, unwritable_pipeline, marker):
    texts = list(TEXTS[:8])
    texts[6] = f"Alice met Bob in Paris {marker} on day 6."
    corpus = write_rows(tmp_path / "corpus.jsonl", texts)
    out = tmp_path / "skip"
    with pytest.warns(UserWarning, match="W700"):
        summary = run(unwritable_pipeline, corpus, out, on_error="skip")
    assert (summary.records, summary.annotated, summary.errors) == (8, 7, 1)
    errors = [json.loads(line) for p in sorted(out.glob("*.errors.jsonl")) for line in p.read_text().splitlines()]
    assert [e["id"] for e in errors] == ["r6"]
    assert errors[0]["source"].endswith("corpus.jsonl:7") and errors[0]["error"]
    good = [f"r{i}" for i in range(8) if i != 6]
    assert [json.loads(line)["id"] for line in shard_jsonl(out).decode().splitlines()] == good
    nlp = spacy.load(unwritable_pipeline)
    assert [d.user_data["id"] for d in docs_of(out, nlp.vocab)] == good
    # the good records of the bad shard hold what a plain run gives them
    plain = {f"r{i}": doc for i, doc in enumerate(nlp.pipe(texts[5:]), start=5) if i != 6}
    for doc in docs_of(out, nlp.vocab)[5:]:
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == [(e.start_char, e.end_char, e.label_) for e in plain[doc.user_data["id"]].ents]
    # a re-run finds both shards done
    assert run(unwritable_pipeline, corpus, out, on_error="skip").skipped_shards == 2

    with raises_code("E708", match=r"'r6'.*corpus\.jsonl-00001"):
        run(unwritable_pipeline, corpus, tmp_path / "fail")
    assert not list((tmp_path / "fail").glob("*-00001.*"))


def test_two_bad_records_and_a_failing_one_in_one_shard(tmp_path, unwritable_pipeline):
    """Failures of both kinds (the pipeline raising, the Doc unwritable) in one shard, reported in
    input order."""
    nlp = spacy.load(unwritable_pipeline)
    nlp.add_pipe("annotate_test_raiser")
    pipeline = tmp_path / "both"
    nlp.to_disk(pipeline)
    texts = ["Alice CATS here.", "Bob went home.", "It will EXPLODE now.", "Anna in Rome USERDATA.", "Zoe in Lima."]
    corpus = write_rows(tmp_path / "corpus.jsonl", texts)
    with pytest.warns(UserWarning, match="W700"):
        summary = run(pipeline, corpus, tmp_path / "out", on_error="skip")
    assert (summary.records, summary.annotated, summary.errors) == (5, 2, 3)
    errors = [json.loads(line) for line in (tmp_path / "out" / "corpus.jsonl-00000.errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["r0", "r2", "r3"]
    assert "EXPLODE" in errors[1]["error"]
    assert [json.loads(line)["id"] for line in shard_jsonl(tmp_path / "out").decode().splitlines()] == ["r1", "r4"]


def test_fill_mask_after_ner_on_glued_masks_annotates_every_record(tmp_path, tiny_pipeline_dir, legacy_mlm_dir):
    """The issue's failure: `bert_fill_mask` used to retokenize after `bert_ner`, and annotate died
    in shard.py writing nothing for the shard."""
    nlp = spacy.load(tiny_pipeline_dir)
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir), "top_k": 2})
    pipeline = tmp_path / "pipeline"
    nlp.to_disk(pipeline)
    texts = ["Bob [MASK][MASK] went to Berlin", "Alice a[MASK]b lives in Paris", "x[MASK][MASK]y met Anna.", "No mask.", "([MASK]) in Rome"]
    corpus = write_rows(tmp_path / "corpus.jsonl", texts)
    summary = run(pipeline, corpus, tmp_path / "out", on_error="skip")
    assert (summary.annotated, summary.errors) == (5, 0)
    lines = [json.loads(line) for line in shard_jsonl(tmp_path / "out").decode().splitlines()]
    assert [len(line.get("fill_mask", [])) for line in lines] == [t.count("[MASK]") for t in texts]
    for line, text in zip(lines, texts):
        assert all(text[e["start"] : e["end"]] == "[MASK]" for e in line.get("fill_mask", []))
        assert all(text[e["start"] : e["end"]] == e["text"] for e in line["entities"])
