"""spacy-bert: the Hugging Face BERT family as first-class spaCy components.

The PyTorch core is importable with the Hugging Face names:
`from spacy_bert import BertModel, BertTokenizer, BertConfig`.
"""
from .about import __version__
from .modeling import *  # noqa: F401,F403
from .modeling import __all__ as _modeling_all
from .tokenization import BertTokenizer

__all__ = ["__version__", "BertTokenizer", *_modeling_all]
