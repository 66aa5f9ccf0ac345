"""spaCy components. Importing this module registers the factories (entry points do it for users)."""
from .bert import Bert, make_bert
from .doc_data import BertDocData

__all__ = ["Bert", "BertDocData", "make_bert"]
