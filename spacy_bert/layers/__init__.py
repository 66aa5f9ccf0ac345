"""thinc glue: the torch wrapper, listener, piece->token pooling, windows and batching.

The encoder path is a chain of small stages, each its own module, so a component can stop
after one or hook into it:
    settings.py  EncoderSettings: window, stride, max_batch_items, n_threads (defaults, validation)
    encode.py    encode: one WordPiece encoding per input (text + optional second segment)
    windows.py   plan: windows per input (single layout; Hugging Face's only_second for pairs)
    batching.py  plan: length-sorted batches under a piece budget; padding (ids, mask, type ids)
    hooks.py     hooks: replace piece ids after padding (masked LM, fill-mask), labels beside
    run.py       run: padded batches through any BertPreTrainedModel; per-window outputs
    merge.py     merge: per-piece best window, token pooling -> BertDocOutput; one host copy per batch
    encoder.py   `spacy-bert.BertEncoder.v1`, composing them; shim.py / loading.py hold the model

Imports point down: this package may use `tokenization/` and `modeling/`, never `pipeline/`.
"""
