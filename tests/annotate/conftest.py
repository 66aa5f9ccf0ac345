"""Fixtures for `spacy bert annotate`: a tiny saved pipeline (bert_ner + bert_textcat on the tiny
random checkpoint of tests/pipeline/conftest.py) and a small corpus."""
import shutil

import pytest
import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

from tests.pipeline.conftest import tiny_bert_dir  # noqa: F401  (the session fixture, reused)

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
