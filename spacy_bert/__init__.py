"""spacy-bert: the Hugging Face BERT family as first-class spaCy components.

The PyTorch core is importable with the Hugging Face names:
`from spacy_bert import BertModel, BertTokenizer, BertConfig`.
"""
from .about import __version__
from . import checkpoint  # noqa: F401  (registers the Hugging Face file format with modeling)
from .modeling import *  # noqa: F401,F403
from .modeling import __all__ as _modeling_all
from .tokenization import BertTokenizer

__all__ = ["__version__", "BertTokenizer", "ask", *_modeling_all]


def ask(nlp, context, questions):
    """Answer `questions` about `context` (str) with a pipeline that has a `bert_qa` component;
    returns the Doc (`doc._.answers`, `doc.spans["bert_qa"]`). `questions` is one question (a
    str: `ask(nlp, context, "When?")` asks one, id "0") or a list of str / {"id", "question"};
    anything else is a coded error. See `spacy_bert.pipeline.qa.ask`."""
    from .pipeline.qa import ask as _ask  # spaCy is imported only when QA is used

    return _ask(nlp, context, questions)
