"""Converters from the data formats at hand to spaCy's `.spacy` (DocBin) files."""
from .conll import conll_to_docs, convert_conll
from .textcat import (
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

__all__ = [
    "conll_to_docs",
    "convert_conll",
    "SST2_LABELS",
    "TREC_LABELS",
    "label_counts",
    "read_goemotions",
    "read_labels",
    "read_sst2",
    "read_trec",
    "split_held_out",
    "write_textcat_docbin",
]
