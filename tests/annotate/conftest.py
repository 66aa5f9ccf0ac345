"""Fixtures for `spacy bert annotate`: a tiny saved pipeline (bert_ner + bert_textcat on the tiny
random checkpoint of tests/conftest.py) and a small corpus."""
import json
import shutil
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.training import Example
from thinc.api import fix_random_seed


TRAIN = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")], {"POS": 1.0, "NEG": 0.0}),
    ("I hate London and Berlin.", [(7, 13, "LOC"), (18, 24, "LOC")], {"POS": 0.0, "NEG": 1.0}),
    ("Who is Shaka Khan?", [(7, 17, "PER")], {"POS": 1.0, "NEG": 0.0}),
    ("What a terrible day", [], {"POS": 0.0, "NEG": 1.0}),
]

#: 23 records of varied length (some past the 64-piece window), so shards of 5 differ in shape.
TEXTS = [
    f"{name} met {other} in {city} on day {i}." + (" It rained all day long and nobody came." * (i % 4))
    for i, (name, other, city) in enumerate(
        [("Alice Smith", "Bob", "Paris"), ("Shaka Khan", "Alice", "London"), ("Berlin", "Anna", "Rome")] * 7
        + [("Eve", "Mallory", "Oslo"), ("Zoe", "Ann", "Lima")]
    )
]


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory, tiny_bert_dir):  # noqa: F811
    """A saved bert_ner + bert_textcat pipeline, overfitted a little on TRAIN so it finds entities."""
    checkpoint = tmp_path_factory.mktemp("annotate-ckpt") / "tiny"
    shutil.copytree(tiny_bert_dir, checkpoint)
    fix_random_seed(0)
    nlp = spacy.blank("en")
    for name in ("bert_ner", "bert_textcat"):
        nlp.add_pipe(name, config={"checkpoint": str(checkpoint), "window": 64, "stride": 16})
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e, "cats": c}) for t, e, c in TRAIN]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(50):
        nlp.update(examples, sgd=optimizer, losses={})
    nlp.meta["name"] = "tiny_annotate"
    nlp.meta["version"] = "0.0.1"
    directory = tmp_path_factory.mktemp("annotate-pipeline") / "pipeline"
    nlp.to_disk(directory)
    shutil.rmtree(checkpoint)  # the saved pipeline must not need it
    return directory


SHARD_SIZE = 5


def write_corpus(path, texts=TEXTS):
    """A .jsonl corpus: ids "r<i>" with meta, except every 7th record (default id)."""
    rows = []
    for i, text in enumerate(texts):
        rows.append({"text": text} if i % 7 == 3 else {"text": text, "id": f"r{i}", "meta": {"i": i}})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return [row.get("id", f"{path.name}:{i + 1}") for i, row in enumerate(rows)]


def reference_jsonl(nlp, texts, ids, metas, batch_size=SHARD_SIZE) -> bytes:
    """What the shards must hold, written here independently of spacy_bert.annotate: one plain
    `nlp.pipe` over every record, batched like the shards (a shard is one batch), entity scores
    from doc.spans["bert_ner"].attrs["scores"]."""
    lines = []
    for doc, record_id, meta in zip(nlp.pipe(texts, batch_size=batch_size), ids, metas):
        group = doc.spans["bert_ner"]
        score = {(s.start, s.end, s.label_): float(v) for s, v in zip(group, group.attrs["scores"])}
        entities = [
            {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text, "score": score[(e.start, e.end, e.label_)]}
            for e in doc.ents
        ]
        cats = {k: float(v) for k, v in doc.cats.items()}
        lines.append(json.dumps({"id": record_id, "meta": meta, "entities": entities, "cats": cats}, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, tiny_pipeline_dir):
    """(corpus path, ids, reference JSONL bytes)."""
    path = tmp_path_factory.mktemp("annotate-corpus") / "corpus.jsonl"
    ids = write_corpus(path)
    metas = [None if i % 7 == 3 else {"i": i} for i in range(len(TEXTS))]
    nlp = spacy.load(tiny_pipeline_dir)
    reference = reference_jsonl(nlp, TEXTS, ids, metas)
    assert b'"entities": [{' in reference  # byte-identical shards of empty predictions would prove little
    return path, ids, reference


def shard_jsonl(output_dir) -> bytes:
    """The JSONL shards of a run, concatenated in shard order."""
    return b"".join(p.read_bytes() for p in sorted(Path(output_dir).glob("*.jsonl")) if not p.name.endswith(".errors.jsonl"))


@Language.component("annotate_test_raiser")
def annotate_test_raiser(doc):
    """Fails on one marker text, like a component that meets input it cannot handle."""
    if "EXPLODE" in doc.text:
        raise RuntimeError("this component cannot take EXPLODE")
    return doc


@pytest.fixture(scope="session")
def raising_pipeline(tiny_pipeline_dir, tmp_path_factory):
    """The tiny pipeline plus `annotate_test_raiser`. That component is registered by this test
    module only, so a spawned worker or a Ray actor cannot load the pipeline: the load error
    must reach the caller once, not be retried as if the worker had died."""
    nlp = spacy.load(tiny_pipeline_dir)
    nlp.add_pipe("annotate_test_raiser")
    directory = tmp_path_factory.mktemp("raising") / "pipeline"
    nlp.to_disk(directory)
    return directory
