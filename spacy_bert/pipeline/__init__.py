"""spaCy components. Importing this module registers the factories (entry points do it for users)."""
from .bert import Bert, make_bert
from .doc_data import BertDocData
from .export import export_component
from .ner import BertNER, make_bert_ner
from .precision import set_precision
from .textcat import BertTextCategorizer, make_bert_textcat

__all__ = ["Bert", "BertDocData", "BertNER", "BertTextCategorizer", "export_component", "make_bert", "make_bert_ner", "make_bert_textcat", "set_precision"]
