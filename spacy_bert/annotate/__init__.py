"""Corpus annotation at scale (`spacy bert annotate PIPELINE INPUT OUTPUT_DIR`, issue 15).

    from spacy_bert.annotate import annotate_corpus
    summary = annotate_corpus("training/model-best", "corpus/*.jsonl", "annotated/", workers=4, fmt="jsonl")

Modules, one job each: `records` (inputs, shards), `shard` (the engine-independent shard
function: exactly-once outputs and manifests), `engines` (this process, a local process pool,
Ray actors), `progress`, `pipelines` (locating, fingerprinting and loading the pipeline),
`corpus` (the driver).
"""
from .corpus import AnnotateSummary, annotate_corpus

__all__ = ["AnnotateSummary", "annotate_corpus"]
