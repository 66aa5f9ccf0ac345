"""spaCy components. Importing this module registers the factories (entry points do it for users)."""
from . import batchers, schedules  # noqa: F401  register spacy-bert.batch_by_length.v1, spacy-bert.warmup_linear.v1
from .bert import Bert, make_bert
from .doc_data import BertDocData
from .export import export_component
from .fill_mask import BertFillMask, make_bert_fill_mask
from .ner import BertNER, make_bert_ner
from .precision import set_batch_invariant, set_precision
from .textcat import BertTextCategorizer, make_bert_textcat
from .qa import BertQuestionAnswerer, make_bert_qa
from .qa_search import ask
from . import qa_squad  # noqa: F401  (registers spacy-bert.SquadCorpus.v1)

__all__ = [
    "Bert", "BertDocData", "BertFillMask", "BertNER", "BertQuestionAnswerer", "BertTextCategorizer", "ask",
    "export_component", "make_bert", "make_bert_fill_mask", "make_bert_ner", "make_bert_qa", "make_bert_textcat",
    "set_batch_invariant",
    "set_precision",
]
