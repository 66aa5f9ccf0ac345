"""thinc glue: the torch wrapper, listener, piece->token pooling, windows and batching.

Imports point down: this package may use `tokenization/` and `modeling/`, never `pipeline/`.
"""
