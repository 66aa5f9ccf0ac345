"""The encoder stages every head runs through, in order.

    encode.py    one WordPiece encoding per input (text + optional second segment), aligned to tokens
    windows.py   windows per input (the last aligned to the end; Hugging Face's only_second for pairs)
    batching.py  length-sorted batches under a piece budget; padding (ids, mask, type ids)
    hooks.py     replace piece ids after padding (masked LM, fill-mask), labels beside
    run.py       padded batches through any BertPreTrainedModel in the shim; per-batch outputs
    merge.py     each piece from the window where it has most context, pooled into token vectors
    pooling.py   piece -> token pooling (first, last, mean, max)
    outputs.py   BertDocOutput, what the encoder hands to its listeners and heads
    timing.py    the per-stage timing hook the benchmarks use
"""
