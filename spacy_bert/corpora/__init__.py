"""Converters from the data formats at hand to spaCy's `.spacy` (DocBin) files."""
from .conll import conll_to_docs, convert_conll

__all__ = ["conll_to_docs", "convert_conll"]
