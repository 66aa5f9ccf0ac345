"""spacy-bert: the Hugging Face BERT family as first-class spaCy components.

The PyTorch core is importable with the Hugging Face names:
`from spacy_bert import BertModel, BertTokenizer, BertConfig`.
"""
from .about import __version__
from . import checkpoint  # noqa: F401  (registers the Hugging Face file format with modeling)
from .modeling import *  # noqa: F401,F403
from .modeling import __all__ as _modeling_all
from .tokenization import BertTokenizer

__all__ = ["__version__", "BertTokenizer", "ask", "ask_documents", *_modeling_all]


def ask(nlp, context, questions):
    """Answer `questions` about `context` (str) with a pipeline that has a `bert_qa` component;
    returns the Doc (`doc._.answers`, `doc.spans["bert_qa"]`). `questions` is one question (a
    str: `ask(nlp, context, "When?")` asks one, id "0") or a list of str / {"id", "question"};
    anything else is a coded error. See `spacy_bert.pipeline.qa_search.ask`."""
    from .pipeline.qa_search import ask as _ask  # spaCy is imported only when QA is used

    return _ask(nlp, context, questions)


def ask_documents(nlp, question, contexts, *, top_k=5, batch_size=16, component=None):
    """The `top_k` best answers to one `question` over many `contexts` (a list of str or Doc),
    ranked across documents by `calibrated_score` (by `score`, with a warning, when the bert_qa
    component is not calibrated: `spacy bert calibrate-qa`). Each answer names its `document`
    (index into contexts) and its char `start`/`end` there. See
    `spacy_bert.pipeline.qa_search.ask_documents`."""
    from .pipeline.qa_search import ask_documents as _ask_documents

    return _ask_documents(nlp, question, contexts, top_k=top_k, batch_size=batch_size, component=component)
